#!/bin/sh
# The web page in a real browser: Debian's chromium driven by playwright-core.
#
#   tests/e2e/run.sh [BUILD_DIR]      (PSABRIDGE_BIN: the binary to test;
#                                      BUILD_DIR defaults to PSABRIDGE_BUILD_DIR)
#
# Installs what it needs: chromium with apt-get when /usr/bin/chromium is
# missing, playwright-core with npm into BUILD_DIR/e2e-node (never into the
# source tree).  Where chromium cannot be installed it prints "SKIPPED:
# chromium cannot be installed here: <reason>" and exits 77, which ctest
# shows as skipped.  Screenshots go to BUILD_DIR/e2e-screenshots/.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=${1:-${PSABRIDGE_BUILD_DIR:?usage: run.sh BUILD_DIR (or PSABRIDGE_BUILD_DIR)}}
build=$(cd "$build" && pwd)
chromium=${E2E_CHROMIUM:-/usr/bin/chromium} # another path: for testing the skip
log=$build/e2e-install.log

skip() {
	echo "SKIPPED: chromium cannot be installed here: $1"
	exit 77
}

apt_install() {
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "$@" >>"$log" 2>&1 ||
		{ DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$log" 2>&1 &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
				--no-install-recommends "$@" >>"$log" 2>&1; }
}

: >"$log"
if [ ! -x "$chromium" ]; then
	command -v apt-get >/dev/null 2>&1 ||
		skip "$chromium is missing and there is no apt-get"
	[ "$(id -u)" = 0 ] ||
		skip "$chromium is missing and installing it needs root"
	echo "e2e: installing chromium with apt-get (log: $log)"
	apt_install chromium ||
		skip "apt-get install chromium failed: $(tail -n 1 "$log")"
	[ -x "$chromium" ] || skip "apt-get installed no $chromium"
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "e2e: installing nodejs and npm with apt-get (log: $log)"
	if ! apt_install nodejs npm; then
		echo "e2e: FAILED: node and npm are missing and could not be installed:" \
			"$(tail -n 1 "$log")" >&2
		exit 1
	fi
fi

node_dir=$build/e2e-node
if [ ! -f "$node_dir/node_modules/playwright-core/package.json" ]; then
	echo "e2e: npm install playwright-core@1 into $node_dir"
	mkdir -p "$node_dir"
	if ! npm install --prefix "$node_dir" --no-audit --no-fund \
		--loglevel=error playwright-core@1 >>"$log" 2>&1; then
		echo "e2e: FAILED: npm install playwright-core@1:" >&2
		tail -n 20 "$log" >&2
		exit 1
	fi
fi

export E2E_NODE_DIR="$node_dir"
export E2E_SCREENSHOTS="$build/e2e-screenshots"
export E2E_CHROMIUM="$chromium"
export E2E_STACK="$here/stack.py"
: "${PSABRIDGE_BIN:?PSABRIDGE_BIN must name the psabridge binary}"
export PSABRIDGE_TEST_DATA="${PSABRIDGE_TEST_DATA:-$(dirname "$here")/data}"
# The test bounds itself at 110 s; this is the backstop.
exec timeout -k 5 150 node "$here/test_webui.mjs"
