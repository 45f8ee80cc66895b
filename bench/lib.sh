# shellcheck shell=bash disable=SC2034,SC2154
# bench/lib.sh: what bench/ingest.sh and bench/delivery.sh share.  Sourced,
# not run; expects $work (the run directory) when children_ticks runs.

bench_name=${0##*/}

die() {
	echo "$bench_name: $*" >&2
	exit 2
}

# The Debian packages for building and benchmarking.  scripts/deps
# installs what is missing; without root it names them and fails, so
# retry through sudo.
install_deps() {
	scripts/deps build bench && return 0
	if ((EUID == 0)) || ! command -v sudo >/dev/null 2>&1; then
		die "missing packages (see above)"
	fi
	sudo scripts/deps build bench || die "could not install the packages"
}

# Builds into $1 (log in $2) unless BENCH_NO_BUILD=1.  Release, no
# sanitizers: the numbers are for the binary that ships.
build_release() {
	local build=$1 log=$2
	[[ ${BENCH_NO_BUILD:-0} == 1 ]] && return 0
	mkdir -p "$build"
	{
		cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release \
			-DBUILD_TESTING=OFF -DSANITIZE=OFF &&
			cmake --build "$build" -j"$(nproc)"
	} >"$log" 2>&1 || {
		tail -n 30 "$log" >&2
		die "build failed, see $log"
	}
}

# A run directory $1/$2.XXXXXX on a real disk (fsync must reach one),
# with var/ and a fresh hook token in hook.token: sets $work and $token.
make_workdir() {
	local base=$1 fstype
	mkdir -p "$base"
	fstype=$(stat -f -c %T "$base")
	case $fstype in
	tmpfs | ramfs) die "$base is $fstype: fsync would not reach a disk; set BENCH_TMPDIR" ;;
	esac
	work=$(mktemp -d "$base/$2.XXXXXX")
	mkdir -m 0700 "$work/var"
	token=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
	(umask 077 && printf '%s\n' "$token" >"$work/hook.token")
}

# Stops one process we started: SIGTERM, then SIGKILL after 10 s.  Leaves
# its exit status in stopped_rc (not printed: $(...) runs in a subshell,
# which cannot wait for our children).
stopped_rc=
stop_pid() {
	local pid=$1 i
	stopped_rc=0
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "$bench_name: pid $pid ignored SIGTERM for 10 s," \
				"killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	wait "$pid" 2>/dev/null || stopped_rc=$?
}

# Waits up to 10 s for a line matching $2 in file $1 while pid $3 lives;
# prints that line through the sed expression $4.
wait_for_line() {
	local file=$1 pattern=$2 pid=$3 sedexpr=$4 i
	for ((i = 0; i < 100; i++)); do
		if grep -qE "$pattern" "$file" 2>/dev/null; then
			grep -m1 -E "$pattern" "$file" | sed -E "$sedexpr"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# ---- CPU accounting ---------------------------------------------------------

# nice and system count as busy: with IRQ time accounting the loopback's
# softirq work is charged to no process.
cpu_sample() { # prints "busy total steal" for all CPUs
	awk '/^cpu / {print $2 + $3 + $4, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $9; exit}' /proc/stat
}
kthread_ticks() { # utime + stime of all kernel threads (children of pid 2)
	# Kernel threads do the writeback, block I/O and RCU work that the
	# server's writes and fsyncs cause: not interference, so not "other".
	# Processes come and go while cat runs: its complaints do not matter.
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } |
		sed -E 's/^([0-9]+) .*\) /\1 /' |
		awk '$1 == 2 || $3 == 2 {t += $13 + $14} END {printf "%d", t}'
}
pid_ticks() { # utime + stime of one process, all its threads
	sed -E 's/.*\) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}
# Sets kids to the ticks of every child this shell has reaped (wrk and
# its timeout).  `times` must run in this shell: in a $(...) subshell the
# children's times start again from zero.
kids=0
children_ticks() {
	times >"$work/times"
	kids=$(awk -v hz="$(getconf CLK_TCK)" 'NR == 2 {
		t = 0
		for (i = 1; i <= 2; i++) {
			split($i, p, "m"); sub(/s$/, "", p[2])
			t += p[1] * 60 + p[2]
		}
		printf "%d", t * hz
	}' "$work/times")
}
