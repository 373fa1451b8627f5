#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Checks that libmeshcap_c exports exactly what its version script lists.

    check_symbols.py LIBRARY VERSION_SCRIPT HEADER

Three sets must be equal:
  - the dynamic symbols the library defines, each with the version node the
    script puts it in (`nm -D --defined-only --with-symbol-versions`);
  - the `global:` names of the version script;
  - the functions the public header declares (static inline helpers, which
    are compiled into the caller, excepted).
Every exported symbol must carry a version (no unversioned exports).
"""

import re
import subprocess
import sys


def script_symbols(path):
    """{name: version node} from a GNU ld version script."""
    text = re.sub(r"/\*.*?\*/", "", open(path).read(), flags=re.S)
    symbols = {}
    nodes = re.findall(r"([\w.]+)\s*\{(.*?)\}\s*[\w.\s]*;", text, re.S)
    for node, body in nodes:
        sections = re.findall(
            r"(global|local)\s*:([^:]*?)(?=(?:global|local)\s*:|$)", body,
            re.S)
        for section, names in sections:
            if section != "global":
                continue
            for name in re.findall(r"[\w*]+", names):
                if name in symbols:
                    sys.exit(f"{path}: '{name}' is listed twice")
                symbols[name] = node
    return symbols


def exported_symbols(path):
    """{name: version} of the symbols the library defines dynamically."""
    out = subprocess.run(
        ["nm", "-D", "--defined-only", "--with-symbol-versions", path],
        check=True, capture_output=True, text=True).stdout
    symbols = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) != 3:
            continue
        kind, full = fields[1], fields[2]
        if kind == "A":  # the version node itself
            continue
        name, _, version = full.partition("@")
        symbols[name] = version.lstrip("@")
    return symbols


def header_functions(path):
    """Names of the functions the header declares (not static inline)."""
    text = open(path).read()
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    inline = set(re.findall(
        r"static\s+inline\s+[\w\s\*]*?\b(meshcap_\w+)\s*\(", text))
    declared = set(re.findall(r"\b(meshcap_\w+)\s*\(", text))
    return declared - inline


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    library, script, header = sys.argv[1:]
    listed = script_symbols(script)
    exported = exported_symbols(library)
    declared = header_functions(header)
    problems = []
    for name in sorted(set(exported) - set(listed)):
        problems.append(f"exported but not in the version script: {name}")
    for name in sorted(set(listed) - set(exported)):
        problems.append(f"in the version script but not exported: {name}")
    for name in sorted(set(listed) & set(exported)):
        if exported[name] != listed[name]:
            problems.append(
                f"{name} has version '{exported[name] or 'none'}', "
                f"the script says '{listed[name]}'")
    for name in sorted(declared - set(listed)):
        problems.append(
            f"declared in the header but not in the version script: {name}")
    for name in sorted(set(listed) - declared):
        problems.append(
            f"in the version script but not declared in the header: {name}")
    for p in problems:
        print(p)
    nodes = sorted(set(listed.values()))
    print(f"{len(exported)} exported symbols, {len(listed)} in "
          f"{', '.join(nodes)}, {len(declared)} declared: "
          f"{'MISMATCH' if problems else 'equal'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
