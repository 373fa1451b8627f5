#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs the go tool on a Go module of this repository against the meson build
# tree: cgo finds meshcap-c through meson's uninstalled pkg-config files,
# the test binaries find the library just built, and the Go caches live in
# the build tree. Offline: the modules need nothing but the standard
# library.
#   go_test.sh BUILD_DIR MODULE_DIR GO_ARGS...
set -eu
build=$(cd "$1" && pwd) module=$2
shift 2
command -v go >/dev/null || { echo "skipped: no go tool"; exit 77; }
export PKG_CONFIG_PATH="$build/meson-uninstalled${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export LD_LIBRARY_PATH="$build/bindings/c${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export GOCACHE="$build/bindings/go/cache" GOPATH="$build/bindings/go/gopath"
export GOPROXY=off GOFLAGS= GOTOOLCHAIN=local GO111MODULE=on CGO_ENABLED=1
cd "$module"
exec go "$@"
