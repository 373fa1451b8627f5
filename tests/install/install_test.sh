#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Installs into a staging directory, then builds and runs a consumer against
# that install with `pkg-config --cflags --libs meshcap`.
set -eu
build_dir=$1 source_dir=$2 prefix=$3 libdir=$4 bindir=$5
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

meson install -C "$build_dir" --destdir "$stage" --no-rebuild --quiet

case $libdir in /*) lib=$libdir ;; *) lib=$prefix/$libdir ;; esac
export PKG_CONFIG_SYSROOT_DIR="$stage"
export PKG_CONFIG_PATH="$stage$lib/pkgconfig"
flags=$(pkg-config --cflags --libs meshcap)
echo "pkg-config: $flags"
c++ -std=c++17 -Werror -o "$stage/consumer" "$source_dir/tests/install/consumer.cc" $flags
out=$(LD_LIBRARY_PATH="$stage$lib" "$stage/consumer")
echo "$out" | grep -q -- '-A ISTIO_OUTPUT -j ISTIO_REDIRECT' || {
  echo "consumer printed unexpected output:"; echo "$out"; exit 1; }
echo "$out" | grep -q '^version ' || exit 1

# The versioned soname, and the drop-in name beside the tool.
ls "$stage$lib"/libmeshcap.so.0 >/dev/null
case $bindir in /*) bin=$bindir ;; *) bin=$prefix/$bindir ;; esac
if [ -e "$stage$bin/meshcap" ]; then
  [ "$(readlink "$stage$bin/istio-iptables")" = meshcap ] || {
    echo "istio-iptables symlink missing"; exit 1; }
fi
echo "install test: ok"
