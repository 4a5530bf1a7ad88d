#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# tests/deploy/verify-units.sh SOURCE_DIR KMSD KMS_HSMD - check the systemd files of
# deploy/systemd/ (kmsd.service, kms-hsmd.socket, kms-hsmd@.service, kmsd.sysusers):
#   1. systemd-analyze verify on a copy of each unit whose ExecStart= is the build's KMSD or
#      KMS_HSMD (verify checks that the program exists), with --man=no (no man pages in a
#      container); any message fails the test, since verify exits 0 on unknown keys and bad
#      values (it "ignores" them). A copy with a misspelt key must give a message: the check
#      itself works. Then the directives the deployment relies on, and a comment before each.
#   2. systemd-sysusers --root on a scratch directory with the sysusers.d file: the users kmsd
#      and kms-hsmd, kms-hsmd in the group kmsd.
# It needs no running systemd. Exit 0 passed, 1 failed, 77 skipped (systemd-analyze missing).
set -eu

src=${1:?usage: verify-units.sh SOURCE_DIR KMSD KMS_HSMD}
kmsd=${2:?usage: verify-units.sh SOURCE_DIR KMSD KMS_HSMD}
hsmd=${3:?usage: verify-units.sh SOURCE_DIR KMSD KMS_HSMD}

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "SKIPPED: systemd-analyze is missing (Debian package systemd); the units are not checked"
	exit 77
fi
for prog in "$kmsd" "$hsmd"; do
	[ -x "$prog" ] || {
		echo "FAILED: $prog is not an executable"
		exit 1
	}
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kms-verify-units.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0

# verify FILE: 0 if systemd-analyze verify exits 0 and says nothing
verify() {
	out=$(systemd-analyze verify --man=no "$1" 2>&1) && [ -z "$out" ] && return 0
	echo "$out"
	return 1
}

# The units, with ExecStart= pointing at the build's programs, side by side in one directory
# (verify finds kms-hsmd.socket's kms-hsmd@.service there).
cp "$src"/deploy/systemd/*.service "$src"/deploy/systemd/*.socket "$tmp/"
sed -i "s|^ExecStart=/usr/local/sbin/kmsd |ExecStart=$kmsd |" "$tmp/kmsd.service"
sed -i "s|^ExecStart=/usr/local/libexec/kms/kms-hsmd |ExecStart=$hsmd |" "$tmp/kms-hsmd@.service"
grep -q "^ExecStart=$kmsd " "$tmp/kmsd.service" || {
	echo "FAILED: kmsd.service: no 'ExecStart=/usr/local/sbin/kmsd ' line to point at the build"
	fail=1
}
grep -q "^ExecStart=$hsmd -c /etc/kms/kms-hsmd.conf --socket-activated$" "$tmp/kms-hsmd@.service" || {
	echo "FAILED: kms-hsmd@.service: no 'ExecStart=/usr/local/libexec/kms/kms-hsmd ... --socket-activated'"
	fail=1
}
n=0
for name in kmsd.service kms-hsmd.socket kms-hsmd@.service; do
	[ -f "$tmp/$name" ] || {
		echo "FAILED: deploy/systemd/$name is missing"
		fail=1
		continue
	}
	if verify "$tmp/$name"; then
		echo "ok: systemd-analyze verify $name"
	else
		echo "FAILED: systemd-analyze verify $name (above)"
		fail=1
	fi
	# the check must see a mistake: a misspelt key in a copy
	case "$name" in
	*.socket) sed 's/^Accept=/Acept=/' "$tmp/$name" >"$tmp/broken-$name" ;;
	*) sed 's/^NoNewPrivileges=/NoNewPrivilege=/' "$tmp/$name" >"$tmp/broken-$name" ;;
	esac
	if verify "$tmp/broken-$name" >/dev/null; then
		echo "FAILED: systemd-analyze verify did not notice a misspelt key in $name"
		fail=1
	fi
	rm -f "$tmp/broken-$name"
	n=$((n + 1))
done
[ "$n" -eq 3 ] || fail=1

# want UNIT LINE...: each LINE is a line of UNIT (the directives docs/deployment.md relies on)
want() {
	u=$1
	shift
	for line in "$@"; do
		if ! grep -qxF "$line" "$tmp/$u"; then
			echo "FAILED: $u has no line '$line'"
			fail=1
		fi
	done
}
hardening='NoNewPrivileges=yes|ProtectSystem=strict|ReadWritePaths=/var/lib/kms|PrivateTmp=yes|PrivateDevices=yes|ProtectHome=yes|ProtectKernelTunables=yes|ProtectKernelModules=yes|ProtectKernelLogs=yes|ProtectControlGroups=yes|RestrictNamespaces=yes|RestrictRealtime=yes|LockPersonality=yes|MemoryDenyWriteExecute=yes|SystemCallArchitectures=native|CapabilityBoundingSet=|LimitCORE=0|UMask=0007'
old_ifs=$IFS
IFS='|'
# shellcheck disable=SC2086 # split on | on purpose
want kmsd.service $hardening
# shellcheck disable=SC2086
want kms-hsmd@.service $hardening
IFS=$old_ifs
want kmsd.service 'Type=notify' 'ExecReload=/bin/kill -HUP $MAINPID' 'User=kmsd' 'Group=kmsd' \
	'Requires=kms-hsmd.socket' 'After=kms-hsmd.socket' 'StateDirectoryMode=0770' \
	'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' 'SystemCallFilter=@system-service seccomp'
want kms-hsmd@.service 'User=kms-hsmd' 'Group=kms-hsmd' 'SupplementaryGroups=kmsd' \
	'PrivateNetwork=yes' 'RestrictAddressFamilies=AF_UNIX' 'SystemCallFilter=@system-service' \
	'LoadCredential=kms-user-pin:/etc/kms/credentials/kms-user-pin' 'Before=kmsd.service'
want kms-hsmd.socket 'ListenStream=/run/kms-hsmd/hsmd.sock' 'Accept=yes' 'SocketGroup=kmsd' \
	'SocketMode=0660'
# The PIN is kms-hsmd's alone: kmsd's unit neither loads it nor has the memory limit for it.
if grep -q '^LoadCredential' "$tmp/kmsd.service"; then
	echo "FAILED: kmsd.service loads a credential; the PIN is kms-hsmd@.service's only"
	fail=1
fi
grep -q '^LimitMEMLOCK=[0-9]' "$tmp/kms-hsmd@.service" || {
	echo "FAILED: kms-hsmd@.service sets no LimitMEMLOCK="
	fail=1
}
# every directive is explained: the line before each group of directives is a comment
for name in kmsd.service kms-hsmd.socket kms-hsmd@.service; do
	awk '/^[A-Za-z]+=/ { if (prev !~ /^#/ && prev !~ /^[A-Za-z]+=/) { print FILENAME ":" FNR ": no comment before: " $0; bad = 1 } }
		{ prev = $0 } END { exit bad }' "$tmp/$name" || fail=1
done

if command -v systemd-sysusers >/dev/null 2>&1; then
	mkdir -p "$tmp/root/etc"
	if systemd-sysusers --root="$tmp/root" "$src/deploy/systemd/kmsd.sysusers" >"$tmp/sysusers.out" 2>&1 &&
		grep -q '^kmsd:x:[0-9]*:[0-9]*:[^:]*:/var/lib/kms:/usr/sbin/nologin$' "$tmp/root/etc/passwd" &&
		grep -q '^kms-hsmd:x:[0-9]*:[0-9]*:[^:]*:/var/lib/kms:/usr/sbin/nologin$' "$tmp/root/etc/passwd" &&
		grep -q '^kmsd:x:[0-9]*:kms-hsmd$' "$tmp/root/etc/group" &&
		grep -q '^kms-hsmd:x:[0-9]*:' "$tmp/root/etc/group"; then
		echo "ok: systemd-sysusers kmsd.sysusers makes the users kmsd and kms-hsmd, kms-hsmd in the group kmsd"
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
