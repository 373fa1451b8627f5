#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Installs everything meshcap needs to build, test and benchmark, from
# Debian 12 packages only. Run as root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  g++ meson ninja-build pkg-config python3 clang-format dpkg-dev \
  clang libclang-rt-14-dev valgrind util-linux \
  golang-go python3-pytest python3-mypy pycodestyle abigail-tools cmake \
  python3-matplotlib python3-yaml \
  golang-github-appc-cni-dev golang-golang-x-sys-dev containernetworking-plugins \
  libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev \
  nlohmann-json3-dev libyaml-cpp-dev libcurl4-openssl-dev \
  containerd runc python3-grpcio python3-grpc-tools openssl curl \
  libnftnl-dev libmnl-dev libiptc-dev \
  iptables nftables iproute2 >/dev/null
