#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The bindings as their users get them: install into a staging directory
# (meson install --destdir), then build and run against that install only
#   - with CMake: find_package(meshcap), a C++ program on meshcap::meshcap
#     and a C program on meshcap::meshcap_c (bindings/cmake/test);
#   - with pkg-config meshcap-c: the same C program;
#   - the installed Python package, from its site directory;
#   - the Go package, its cgo flags from the installed meshcap-c.pc.
# (tests/install/install_test.sh covers pkg-config meshcap for C++.)
#   install_test.sh BUILD SOURCE PREFIX LIBDIR PY_SITE|- PYTHON|- GO|-
set -eu
build=$1 source=$2 prefix=$3 libdir=$4 py_site=$5 python=$6 go=$7
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

meson install -C "$build" --destdir "$stage" --no-rebuild --quiet
case $libdir in /*) lib=$libdir ;; *) lib=$prefix/$libdir ;; esac

echo "== the installed files"
ls "$stage$lib"/libmeshcap_c.so.1 "$stage$prefix"/include/meshcap/meshcap_c.h \
  "$stage$lib"/pkgconfig/meshcap-c.pc "$stage$lib"/cmake/meshcap/meshcapConfig.cmake \
  "$stage$lib"/cmake/meshcap/meshcapConfigVersion.cmake

echo "== CMake: find_package(meshcap)"
cmake -S "$source/bindings/cmake/test" -B "$stage/cmake-build" \
  -DCMAKE_PREFIX_PATH="$stage$prefix" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF >"$stage/cmake.log" 2>&1 || {
  cat "$stage/cmake.log"; exit 1; }
cmake --build "$stage/cmake-build" >"$stage/build.log" 2>&1 || {
  cat "$stage/build.log"; exit 1; }
# CMake gives the programs an rpath to the staging libdir, but
# libmeshcap_c.so.1's own libmeshcap.so.0 is found as any library's
# dependency is: the system's search path, here LD_LIBRARY_PATH.
export LD_LIBRARY_PATH="$stage$lib"
out=$("$stage/cmake-build/consumer_cxx")
echo "$out" | grep -q 'add table inet istio-proxy-nat' || {
  echo "consumer_cxx printed:"; echo "$out"; exit 1; }
echo "$out" | tail -n 1
out=$("$stage/cmake-build/consumer_c")
echo "$out" | grep -q -- '-A ISTIO_OUTPUT -j ISTIO_REDIRECT' || {
  echo "consumer_c printed:"; echo "$out"; exit 1; }
echo "$out" | tail -n 1
# A C project that wants the C ABI only (no Abseil, no C++).
cmake -S "$source/bindings/cmake/test" -B "$stage/cmake-c" -DMESHCAP_C_ONLY=ON \
  -DCMAKE_PREFIX_PATH="$stage$prefix" >"$stage/cmake-c.log" 2>&1 &&
  cmake --build "$stage/cmake-c" >>"$stage/cmake-c.log" 2>&1 || {
  cat "$stage/cmake-c.log"; exit 1; }
"$stage/cmake-c/consumer_c" | tail -n 1
# The package refuses what it does not have.
mkdir "$stage/wrong"
for request in "9.0" "0.1 COMPONENTS Fortran"; do
  printf '%s\n' "cmake_minimum_required(VERSION 3.16)" \
    "project(wrong LANGUAGES C)" "find_package(meshcap $request REQUIRED)" \
    >"$stage/wrong/CMakeLists.txt"
  if cmake -S "$stage/wrong" -B "$stage/wrong/build" \
      -DCMAKE_PREFIX_PATH="$stage$prefix" >"$stage/wrong.log" 2>&1; then
    echo "find_package(meshcap $request) succeeded"; exit 1
  fi
  # Refused by meshcap's files, not for want of finding them.
  grep -q 'meshcapConfig.cmake' "$stage/wrong.log" &&
    ! grep -q 'Could not find a package configuration file' "$stage/wrong.log" || {
    cat "$stage/wrong.log"; exit 1; }
  rm -rf "$stage/wrong/build"
done
echo "find_package refuses version 9.0 and COMPONENTS Fortran"

echo "== pkg-config meshcap-c"
export PKG_CONFIG_SYSROOT_DIR="$stage"
export PKG_CONFIG_PATH="$stage$lib/pkgconfig"
flags=$(pkg-config --cflags --libs meshcap-c)
echo "pkg-config: $flags"
# The linker finds libmeshcap_c's own libmeshcap.so.0 through -rpath-link.
cc -std=c99 -Wall -Wextra -pedantic -Werror -o "$stage/consumer_c" \
  "$source/bindings/cmake/test/consumer.c" $flags -Wl,-rpath-link,"$stage$lib"
"$stage/consumer_c" | tail -n 1

if [ "$python" != - ]; then
  echo "== the installed Python package"
  case $py_site in /*) site=$py_site ;; *) site=$prefix/$py_site ;; esac
  ls "$stage$site"/meshcap/__init__.py "$stage$site"/meshcap/__init__.pyi \
    "$stage$site"/meshcap/py.typed >/dev/null
  # It names the installed library; in the stage that path does not exist,
  # so it falls back to the soname on LD_LIBRARY_PATH.
  grep -q "LIBRARY = \"$lib/libmeshcap_c.so.1\"" "$stage$site"/meshcap/_config.py
  PYTHONPATH="$stage$site" PYTHONDONTWRITEBYTECODE=1 "$python" -c '
import meshcap
p = meshcap.Policy.from_json("{\"OutboundIPRangesInclude\": \"*\"}")
assert "istio-proxy-nat" in meshcap.render(p, "nftables")
assert meshcap.__file__.startswith("'"$stage"'"), meshcap.__file__
print("python: meshcap", meshcap.version(), "from", meshcap.__file__)
'
fi

if [ "$go" != - ]; then
  echo "== the Go package against the installed meshcap-c.pc"
  GOCACHE="$build/bindings/go/cache" GOPATH="$build/bindings/go/gopath" \
    GOPROXY=off GOFLAGS= GOTOOLCHAIN=local GO111MODULE=on CGO_ENABLED=1 \
    CGO_LDFLAGS="-Wl,-rpath-link,$stage$lib" \
    sh -c 'cd "$1/bindings/go" && "$2" test -short -count=1 .' go-test \
      "$source" "$go"
fi
echo "bindings install test: ok"
