# SPDX-License-Identifier: GPL-2.0-or-later
"""A CNI plugin that records how the runtime calls it, and does nothing.

Put in a conflist as {"type": "...", "dumpDir": "/abs/dir", "capabilities":
{...}}: every call writes DUMPDIR/NNNN-COMMAND.json holding the CNI_*
environment and the exact stdin (as text and parsed), NNNN counting calls
(VERSION, whose stdin has no dumpDir, only when $CRI_DUMP_DIR is set).
ADD hands prevResult on unchanged (or an empty result when first in a
chain); DEL, CHECK, STATUS and GC succeed; VERSION names every version up
to 1.1.0. The harness runs it through a /usr/bin/python3 wrapper.
"""

import json
import os
import sys

VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']


def main():
    command = os.environ.get('CNI_COMMAND', '')
    raw = sys.stdin.read()
    try:
        conf = json.loads(raw) if raw.strip() else {}
    except ValueError:
        conf = {}
    # VERSION's stdin holds only cniVersion: no dumpDir to record it in;
    # the environment may name one.
    dump_dir = conf.get('dumpDir') or os.environ.get('CRI_DUMP_DIR')
    if dump_dir:
        os.makedirs(dump_dir, exist_ok=True)
        # O_EXCL on the next free number: calls may overlap.
        n = len(os.listdir(dump_dir))
        while True:
            path = os.path.join(dump_dir, '%04d-%s.json' % (n, command))
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                             0o644)
                break
            except FileExistsError:
                n += 1
        with os.fdopen(fd, 'w') as f:
            json.dump({'env': {k: v for k, v in os.environ.items()
                               if k.startswith('CNI_')},
                       'stdin': raw, 'config': conf}, f, indent=2,
                      sort_keys=True)
    if command == 'VERSION':
        json.dump({'cniVersion': '1.0.0', 'supportedVersions': VERSIONS},
                  sys.stdout)
    elif command == 'ADD':
        result = dict(conf.get('prevResult') or {})
        result['cniVersion'] = conf.get('cniVersion', '1.0.0')
        json.dump(result, sys.stdout)
    return 0


if __name__ == '__main__':
    sys.exit(main())
