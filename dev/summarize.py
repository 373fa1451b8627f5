#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Counts test cases and prints "N passed, N failed" as the last line.

Arguments are meson JUnit logs (gtest suites contribute one case per TEST;
other tests count once) and NAME=RC checks (one case each, passed when RC
is 0), e.g. "clang-format=0".

A skipped case counts as failed unless its name contains one of the
--expect-skip=TEXT arguments: on a machine set up by dev/setup-debian.sh
nothing may be skipped for want of a tool or a privilege, so a test that
quietly stopped testing shows.
"""
import sys
import xml.etree.ElementTree as ET

expected_skips = [a.split("=", 1)[1] for a in sys.argv[1:]
                  if a.startswith("--expect-skip=")]
passed = failed = skipped = 0
for arg in sys.argv[1:]:
    if arg.startswith("--expect-skip="):
        continue
    if arg.endswith(".xml"):
        p = f = s = 0
        for case in ET.parse(arg).getroot().iter("testcase"):
            name = f"{case.get('classname')}.{case.get('name')}"
            if case.find("failure") is not None or case.find("error") is not None:
                f += 1
            elif case.find("skipped") is not None:
                if any(e in name for e in expected_skips):
                    s += 1
                else:
                    print(f"{arg}: skipped, which counts as failed here: {name}")
                    f += 1
            else:
                p += 1
        print(f"{arg}: {p} passed, {f} failed, {s} skipped")
        passed, failed, skipped = passed + p, failed + f, skipped + s
    else:
        name, _, rc = arg.partition("=")
        ok = rc == "0"
        print(f"{name}: {'passed' if ok else 'FAILED'}")
        passed, failed = passed + ok, failed + (not ok)
if passed + failed == 0:
    failed = 1  # a run that ran nothing has failed
if skipped:
    print(f"({skipped} skipped)")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
