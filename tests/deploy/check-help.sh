#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# tests/deploy/check-help.sh PROGRAM - PROGRAM --help must exit 0, write nothing to stderr, and
# write a complete text to stdout: a usage line, at least 10 lines, the options (a line starting
# with "-" after blanks), the exit status, and where the documentation is (a docs/ or deploy/
# path, or a README or .md file). Exit 0 passed, 1 failed.
set -u

prog=${1:?usage: check-help.sh PROGRAM}
name=$(basename "$prog")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kms-check-help.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

"$prog" --help >"$tmp/out" 2>"$tmp/err"
rc=$?
fail=0
say() {
	echo "FAILED: $name --help: $*"
	fail=1
}
[ "$rc" -eq 0 ] || say "exit status $rc, not 0"
[ -s "$tmp/err" ] && say "wrote to stderr: $(head -c 200 "$tmp/err")"
lines=$(wc -l <"$tmp/out")
[ "$lines" -ge 10 ] || say "only $lines lines"
grep -qi '^usage:' "$tmp/out" || say "no 'usage:' line"
grep -q '^[[:space:]]*-' "$tmp/out" || say "no option lines (lines starting with -)"
grep -qi 'exit status' "$tmp/out" || say "says nothing of its exit status"
grep -Eq '(docs|deploy)/[A-Za-z0-9_./-]+|README|\.md\b' "$tmp/out" || say "names no documentation"
if [ "$fail" -ne 0 ]; then
	echo "--- its output:"
	cat "$tmp/out"
	exit 1
fi
echo "ok: $name --help ($lines lines)"
