#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Fails when gofmt would change a Go file under the given directories.
#   gofmt_check.sh GOFMT DIR...
gofmt=$1
shift
unformatted=$("$gofmt" -l "$@") || exit 1
if [ -n "$unformatted" ]; then
  echo "not gofmt-formatted:"
  echo "$unformatted"
  exit 1
fi
echo "gofmt: clean"
