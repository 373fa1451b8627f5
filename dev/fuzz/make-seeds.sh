#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Regenerates the fuzz targets' seed corpora (tests/fuzz/corpus/) from the
# conformance policies, with the ordinary build's make_seeds.
set -euo pipefail
cd "$(dirname "$0")/../.."
ninja -C build tests/fuzz/make_seeds >/dev/null
# Regression inputs (regress-*) stay; generated seeds are made anew.
# Only the corpora make_seeds writes (the CNI ones have their own seeds).
for t in policy_json cli ipt_entry nft_rule xt_rule rtnl_dump; do
  find tests/fuzz/corpus/"$t" -name "seed-*" -delete 2>/dev/null || true
done
build/tests/fuzz/make_seeds tests/fuzz/corpus
