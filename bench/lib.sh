# shellcheck shell=bash disable=SC2034,SC2154
# bench/lib.sh: what bench/ingest.sh and bench/delivery.sh share.  Sourced,
# not run; expects $work (the run directory) when children_ticks runs.

bench_name=${0##*/}

die() {
	echo "$bench_name: $*" >&2
	exit 2
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
