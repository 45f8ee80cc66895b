#!/bin/sh
# install.layout: installs the build tree into a prefix inside it (and into
# a DESTDIR with prefix /usr), checks that every file is where
# cmake/Install.cmake says, that the installed configuration points at the
# installed files and passes `psabridge check` on the installed sample
# events with the tokens as systemd credentials, and that installing again
# keeps a modified etc/psabridge/psabridge.cfg and customers.csv.
# Usage: test_install.sh CMAKE SOURCE_DIR BUILD_DIR
set -eu
cmake=$1 src=$2 build=$3
work="$build/install-test"
prefix="$work/prefix"
fails=0

fail() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}

must_exist() {
	[ -f "$1" ] || fail "missing $1"
}

# The same bytes as the source (man pages, templates, events).
must_equal() {
	if [ ! -f "$2" ]; then
		fail "missing $2"
	elif ! cmp -s "$1" "$2"; then
		fail "$2 differs from $1"
	fi
}

must_contain() {
	grep -qF -- "$2" "$1" || fail "$1 lacks: $2"
}

must_lack() {
	if grep -qF -- "$2" "$1"; then
		fail "$1 still has: $2"
	fi
}

install_into() { # PREFIX [DESTDIR]
	if [ $# -gt 1 ]; then
		DESTDIR=$2 timeout 60 "$cmake" --install "$build" --prefix "$1" \
			>"$work/install.log" 2>&1
	else
		timeout 60 "$cmake" --install "$build" --prefix "$1" \
			>"$work/install.log" 2>&1
	fi || {
		cat "$work/install.log" >&2
		echo "FAIL: cmake --install --prefix $1 ${2:-}" >&2
		exit 1
	}
}

rm -rf "$work"
mkdir -p "$work"
install_into "$prefix"

# --- the layout ----------------------------------------------------------
[ -x "$prefix/bin/psabridge" ] || fail "missing $prefix/bin/psabridge"
must_equal "$src/man/psabridge.8" "$prefix/share/man/man8/psabridge.8"
must_equal "$src/man/psabridge.cfg.5" "$prefix/share/man/man5/psabridge.cfg.5"
n=0
for f in "$src"/templates/*; do
	must_equal "$f" "$prefix/share/psabridge/templates/${f##*/}"
	n=$((n + 1))
done
[ "$n" -gt 0 ] || fail "no templates in $src/templates"
nevents=0
for f in "$src"/tests/data/defensx/*.json; do
	must_equal "$f" "$prefix/share/psabridge/events/${f##*/}"
	nevents=$((nevents + 1))
done
[ "$nevents" -gt 0 ] || fail "no sample events in $src/tests/data/defensx"
if [ -f "$src/config/systemd/psabridge.service" ]; then
	unit="$prefix/lib/systemd/system/psabridge.service"
	must_exist "$unit"
	if [ -f "$unit" ]; then
		must_contain "$unit" "ExecStart=$prefix/bin/psabridge serve -c $prefix/etc/psabridge/psabridge.cfg"
		must_lack "$unit" "/usr/bin/psabridge"
	fi
fi

# --- the installed configuration -----------------------------------------
cfg="$prefix/etc/psabridge/psabridge.cfg"
must_equal "$src/config/customers.csv" "$prefix/etc/psabridge/customers.csv"
must_exist "$cfg"
must_contain "$cfg" "state_dir = \"/var/lib/psabridge\";"
must_contain "$cfg" "templates_dir = \"$prefix/share/psabridge/templates\";"
must_contain "$cfg" "token = \"cred:defensx-token\";"
must_contain "$cfg" "token = \"cred:admin-token\";"
must_contain "$cfg" "path = \"/var/lib/psabridge/tickets.jsonl\";"
must_lack "$cfg" "file:"
must_lack "$cfg" "\"../"
mode=$(stat -c %a "$cfg")
[ "$mode" = 644 ] || fail "$cfg has mode $mode, not 644"

# `check` as systemd would run it: the tokens are credentials.
creds="$work/credentials"
mkdir -m 700 "$creds"
(umask 077 && printf 'hook-token\n' >"$creds/defensx-token" &&
	printf 'admin-token\n' >"$creds/admin-token")
if CREDENTIALS_DIRECTORY=$creds timeout 30 "$prefix/bin/psabridge" check \
	-c "$cfg" --events "$prefix/share/psabridge/events" \
	>"$work/check.out" 2>"$work/check.err"; then
	must_contain "$work/check.out" \
		"configuration OK ($nevents sample events rendered)"
	[ ! -s "$work/check.err" ] ||
		fail "check printed: $(cat "$work/check.err")"
else
	fail "psabridge check failed: $(cat "$work/check.out" "$work/check.err")"
fi
# ...and without them it fails: the config really takes them from systemd.
if env -u CREDENTIALS_DIRECTORY timeout 30 "$prefix/bin/psabridge" check \
	-c "$cfg" --events "$prefix/share/psabridge/events" \
	>"$work/nocred.out" 2>&1; then
	fail "check passed without CREDENTIALS_DIRECTORY"
else
	must_contain "$work/nocred.out" "needs CREDENTIALS_DIRECTORY"
fi

# --- installing again keeps what the administrator changed ---------------
printf '# changed by the administrator\n' >>"$cfg"
printf 'a1,Changed Customer,,\n' >>"$prefix/etc/psabridge/customers.csv"
cp "$cfg" "$work/cfg.kept"
cp "$prefix/etc/psabridge/customers.csv" "$work/customers.kept"
rm "$prefix/share/man/man8/psabridge.8"
install_into "$prefix"
must_equal "$work/cfg.kept" "$cfg"
must_equal "$work/customers.kept" "$prefix/etc/psabridge/customers.csv"
must_contain "$work/install.log" "Keeping: $cfg"
# the rest is installed again
must_equal "$src/man/psabridge.8" "$prefix/share/man/man8/psabridge.8"

# --- DESTDIR with prefix /usr: the configuration goes to /etc -------------
root="$work/root"
install_into /usr "$root"
must_exist "$root/usr/bin/psabridge"
must_exist "$root/etc/psabridge/psabridge.cfg"
must_exist "$root/etc/psabridge/customers.csv"
must_contain "$root/etc/psabridge/psabridge.cfg" \
	"templates_dir = \"/usr/share/psabridge/templates\";"
if [ -f "$src/config/systemd/psabridge.service" ]; then
	must_equal "$src/config/systemd/psabridge.service" \
		"$root/usr/lib/systemd/system/psabridge.service"
fi
[ ! -e "$root/usr/etc" ] || fail "$root/usr/etc exists: /etc went under the prefix"

if [ "$fails" -gt 0 ]; then
	echo "install.layout: $fails failure(s)" >&2
	exit 1
fi
rm -rf "$work"
echo "install.layout: OK"
