#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Regenerates the fuzz targets' seed corpora (tests/fuzz/corpus/) from the
# conformance policies, with the ordinary build's make_seeds.
set -euo pipefail
cd "$(dirname "$0")/../.."
ninja -C build tests/fuzz/make_seeds >/dev/null
# Regression inputs (regress-*) stay; generated seeds are made anew.
find tests/fuzz/corpus -name "seed-*" -delete
build/tests/fuzz/make_seeds tests/fuzz/corpus
