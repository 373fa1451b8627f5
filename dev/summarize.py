#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Counts test cases in meson's JUnit log and prints "N passed, N failed".

gtest suites contribute one case per TEST; other tests count once. A
formatting failure (argv[2] != "0") counts as one failed case.
"""
import sys
import xml.etree.ElementTree as ET

passed = failed = skipped = 0
for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    if case.find("failure") is not None or case.find("error") is not None:
        failed += 1
    elif case.find("skipped") is not None:
        skipped += 1
    else:
        passed += 1
if len(sys.argv) > 2:
    if sys.argv[2] == "0":
        passed += 1
    else:
        failed += 1
if passed + failed == 0:
    failed = 1  # a run that ran nothing has failed
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
