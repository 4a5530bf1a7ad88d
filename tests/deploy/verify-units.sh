#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# tests/deploy/verify-units.sh SOURCE_DIR KMSD - check the systemd files of deploy/systemd/:
#   1. systemd-analyze verify on a copy of each unit whose ExecStart= is the kmsd KMSD of the
#      build (verify checks that the program exists), with --man=no (no man pages in a
#      container); any message fails the test, since verify exits 0 on unknown keys and bad
#      values (it "ignores" them). A copy with a misspelt key must give a message: the check
#      itself works.
#   2. systemd-sysusers --root on a scratch directory with the sysusers.d file: the user kmsd.
# It needs no running systemd. Exit 0 passed, 1 failed, 77 skipped (systemd-analyze missing).
set -eu

src=${1:?usage: verify-units.sh SOURCE_DIR KMSD}
kmsd=${2:?usage: verify-units.sh SOURCE_DIR KMSD}

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "SKIPPED: systemd-analyze is missing (Debian package systemd); the units are not checked"
	exit 77
fi
[ -x "$kmsd" ] || {
	echo "FAILED: $kmsd is not an executable"
	exit 1
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kms-verify-units.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0

# verify FILE: 0 if systemd-analyze verify exits 0 and says nothing
verify() {
	out=$(systemd-analyze verify --man=no "$1" 2>&1) && [ -z "$out" ] && return 0
	echo "$out"
	return 1
}

n=0
for unit in "$src"/deploy/systemd/*.service; do
	name=$(basename "$unit")
	sed "s|^ExecStart=/usr/local/sbin/kmsd |ExecStart=$kmsd |" "$unit" >"$tmp/$name"
	if ! grep -q "^ExecStart=$kmsd " "$tmp/$name"; then
		echo "FAILED: $name: no 'ExecStart=/usr/local/sbin/kmsd ' line to point at the build"
		fail=1
		continue
	fi
	if verify "$tmp/$name"; then
		echo "ok: systemd-analyze verify $name"
	else
		echo "FAILED: systemd-analyze verify $name (above)"
		fail=1
	fi
	# the check must see a mistake: a misspelt key in a copy
	sed 's/^NoNewPrivileges=/NoNewPrivilege=/' "$tmp/$name" >"$tmp/broken-$name"
	if verify "$tmp/broken-$name" >/dev/null; then
		echo "FAILED: systemd-analyze verify did not notice a misspelt key in $name"
		fail=1
	fi
	rm -f "$tmp/broken-$name"
	n=$((n + 1))
done
[ "$n" -gt 0 ] || {
	echo "FAILED: no unit in $src/deploy/systemd"
	fail=1
}

# The directives the deployment depends on (docs/deployment.md), each on a line of its own.
unit="$tmp/kmsd.service"
for want in 'Type=notify' 'ExecReload=/bin/kill -HUP $MAINPID' 'User=kmsd' 'Group=kmsd' \
	'NoNewPrivileges=yes' 'ProtectSystem=strict' 'ReadWritePaths=/var/lib/kms' \
	'PrivateTmp=yes' 'PrivateDevices=yes' 'ProtectHome=yes' 'ProtectKernelTunables=yes' \
	'ProtectKernelModules=yes' 'ProtectKernelLogs=yes' 'ProtectControlGroups=yes' \
	'RestrictNamespaces=yes' 'RestrictRealtime=yes' 'LockPersonality=yes' \
	'MemoryDenyWriteExecute=yes' 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' \
	'SystemCallFilter=@system-service seccomp' 'SystemCallArchitectures=native' \
	'CapabilityBoundingSet=' 'LimitCORE=0' 'UMask=0077' \
	'LoadCredential=kms-user-pin:/etc/kms/credentials/kms-user-pin'; do
	if ! grep -qxF "$want" "$unit"; then
		echo "FAILED: kmsd.service has no line '$want'"
		fail=1
	fi
done
grep -q '^LimitMEMLOCK=[0-9]' "$unit" || {
	echo "FAILED: kmsd.service sets no LimitMEMLOCK="
	fail=1
}
# every directive is explained: the line before each group of directives is a comment
awk '/^[A-Za-z]+=/ { if (prev !~ /^#/ && prev !~ /^[A-Za-z]+=/) { print FILENAME ":" NR ": no comment before: " $0; bad = 1 } }
	{ prev = $0 } END { exit bad }' "$unit" || fail=1

if command -v systemd-sysusers >/dev/null 2>&1; then
	mkdir -p "$tmp/root/etc"
	if systemd-sysusers --root="$tmp/root" "$src/deploy/systemd/kmsd.sysusers" >"$tmp/sysusers.out" 2>&1 &&
		grep -q '^kmsd:x:[0-9]*:[0-9]*:[^:]*:/var/lib/kms:/usr/sbin/nologin$' "$tmp/root/etc/passwd" &&
		grep -q '^kmsd:x:[0-9]*:' "$tmp/root/etc/group"; then
		echo "ok: systemd-sysusers kmsd.sysusers makes the user and group kmsd"
	else
		cat "$tmp/sysusers.out"
		echo "FAILED: systemd-sysusers kmsd.sysusers"
		fail=1
	fi
else
	echo "note: systemd-sysusers is missing; kmsd.sysusers is not checked"
fi

[ "$fail" -eq 0 ] && echo "PASSED" || echo "FAILED"
exit "$fail"
