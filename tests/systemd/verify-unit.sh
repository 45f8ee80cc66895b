#!/bin/sh
# systemd-analyze verify on config/systemd/psabridge.service, with the unit's
# paths pointed at this build: the binary and the man pages it documents.
# Usage: verify-unit.sh UNIT BINARY MANDIR
set -eu
unit=$1 bin=$2 mandir=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$tmp/man/man8" "$tmp/man/man5" "$tmp/unit"
cp "$mandir/psabridge.8" "$tmp/man/man8/"
cp "$mandir/psabridge.cfg.5" "$tmp/man/man5/"
sed "s|/usr/bin/psabridge|$bin|g" "$unit" >"$tmp/unit/psabridge.service"
out=$(MANPATH="$tmp/man" systemd-analyze verify "$tmp/unit/psabridge.service" 2>&1) || {
	echo "$out"
	exit 1
}
# verify exits 0 on some complaints: any output is a finding
if [ -n "$out" ]; then
	echo "$out"
	exit 1
fi
echo "psabridge.service: systemd-analyze verify passed"
