#!/usr/bin/env bash
# bench/ingest.sh: durable ingest (psabridge) against a no-op libevent HTTP
# server, both driven by wrk with the same script in the same run.
#
# usage: bench/ingest.sh
#
# Installs what is missing through scripts/deps (needs root or sudo), builds
# a Release build into build-bench/, runs, prints a table.
#
# Environment (all optional):
#   BENCH_DURATION     seconds of each measured wrk run      (default 10)
#   BENCH_CONNECTIONS  keep-alive connections                (default 64)
#   BENCH_THREADS      wrk threads                           (default 2)
#   BENCH_ROUNDS       rounds of (no-op run, psabridge run); medians are
#                      reported                              (default 3)
#   BENCH_WARMUP       seconds of warm-up against each       (default 3)
#   BENCH_FIXTURE      body to post (default tests/data/defensx/userrequest-create.json)
#   BENCH_TMPDIR       where the run's state dir goes; must not be tmpfs,
#                      fsync has to reach a disk             (default build-bench/)
#   BENCH_RULES=N      route every event through N rules (default 0: none)
#   BENCH_KEEP=1       keep the run directory (config, logs, wrk output, db)
#   BENCH_NO_BUILD=1   use build-bench/ as it is
#
# It is a benchmark, not a test: goals are reported, never asserted.  Exit
# status: 0 for a valid run (goals met or not), 1 when the run is invalid
# (a request failed, an answer other than 200 from the no-op or 202 from
# psabridge, fewer events stored than 202 answers, a server that would not
# start or stop cleanly), 2 for usage and build errors.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
cd "$root"

duration=${BENCH_DURATION:-10}
connections=${BENCH_CONNECTIONS:-64}
threads=${BENCH_THREADS:-2}
rounds=${BENCH_ROUNDS:-3}
warmup=${BENCH_WARMUP:-3}
rules=${BENCH_RULES:-0}
fixture=${BENCH_FIXTURE:-$root/tests/data/defensx/userrequest-create.json}
build=$root/build-bench
tmpbase=${BENCH_TMPDIR:-$build}
hook_path=/hooks/defensx


[[ $rules =~ ^[0-9]+$ ]] || die "BENCH_RULES must be a number, not '$rules'"
for v in duration connections threads rounds warmup; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
done
((connections >= threads)) || die "connections ($connections) < threads ($threads)"
[[ -r $fixture ]] || die "cannot read fixture $fixture"

# ---- dependencies -----------------------------------------------------------

install_deps

# ---- build ------------------------------------------------------------------

build_release "$build" "$build/ingest-build.log"
psabridge=$build/psabridge
noop=$build/bench/bench_noop_server
[[ -x $psabridge ]] || die "$psabridge not built"
[[ -x $noop ]] || die "bench_noop_server not built"

# ---- run directory, on a real disk ------------------------------------------

make_workdir "$tmpbase" ingest
cat >"$work/psabridge.cfg" <<EOF
# Written by bench/ingest.sh.
listen    = "127.0.0.1:0";
state_dir = "$work/var";
limits = { max_body_bytes = 65536; max_header_bytes = 8192; request_timeout_s = 10; max_connections = 1024; };
sources = ( { name = "defensx"; path = "$hook_path"; token = "file:hook.token"; dedup_window = "24h"; } );
EOF

# BENCH_RULES=N: route every event through N rules, shaped like a large
# MSP configuration: per-customer rules (the event's customer is in none of
# them), with regexes, then the rule the event does match; the shipped
# templates and a file target.  bench/rules.sh compares N=10 with N=1000.
if ((rules > 0)); then
	{
		printf 'templates_dir = "%s";\n' "$root/templates"
		printf 'targets = ( { name = "psa"; type = "file"; path = "%s"; } );\n' "$work/tickets.jsonl"
		echo "rules = ("
		for ((i = 1; i < rules; i++)); do
			case $((i % 3)) in
			0) printf '  { name = "r%d"; match = [ "event = UserRequest.Create", "payload.customer_id = cust-%d" ];\n' "$i" "$i" ;;
			1) printf '  { name = "r%d"; match = [ "payload.customer_id = cust-%d", "payload.hostname =~ (www\\\\.)?blocked%d\\\\.example" ];\n' "$i" "$i" "$i" ;;
			2) printf '  { name = "r%d"; match = [ "event = Agent.Uninstall", "payload.platform =~ Windows|macOS", "payload.customer_id = cust-%d" ];\n' "$i" "$i" ;;
			esac
			printf '    actions = ( { target = "psa"; action = "create"; template = "user-request"; } ); },\n'
		done
		printf '  { name = "unblock-request"; match = [ "event = UserRequest.Create" ];\n'
		printf '    actions = ( { target = "psa"; action = "create"; template = "user-request";\n'
		# One key per request, as in real traffic (every user request
		# has its own id; the bench varies only "time").
		printf '                  correlate = "userrequest:{{time}}"; } ); }\n'
		echo ");"
	} >>"$work/psabridge.cfg"
fi

noop_pid=
psa_pid=
invalid=0


cleanup() {
	local rc=$?
	if [[ -n $noop_pid ]]; then stop_pid "$noop_pid"; fi
	if [[ -n $psa_pid ]]; then stop_pid "$psa_pid"; fi
	if ((rc == 0)) && [[ ${BENCH_KEEP:-0} != 1 ]]; then
		rm -rf "$work"
	else
		echo "ingest.sh: run directory kept: $work" >&2
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM


# ---- start both servers -----------------------------------------------------

"$noop" 127.0.0.1 0 >"$work/noop.out" 2>"$work/noop.log" &
noop_pid=$!
noop_port=$(wait_for_line "$work/noop.out" '^[0-9]+$' "$noop_pid" 's/.*/&/') || {
	cat "$work/noop.log" >&2
	echo "ingest.sh: bench_noop_server did not start" >&2
	exit 1
}

"$psabridge" serve -c "$work/psabridge.cfg" >"$work/psabridge.log" 2>&1 &
psa_pid=$!
psa_port=$(wait_for_line "$work/psabridge.log" \
	'msg=listening listener=ingest address=127\.0\.0\.1:[0-9]+' "$psa_pid" \
	's/.*address=127\.0\.0\.1:([0-9]+).*/\1/') || {
	tail -n 20 "$work/psabridge.log" >&2
	echo "ingest.sh: psabridge did not start (log above)" >&2
	exit 1
}

# One request each first, so that a wrong token or path fails loudly here
# rather than as a wall of non-2xx answers.  It posts the fixture unchanged;
# wrk's runs start their "time" 10^8 later.
probe() {
	python3 - "$1" "$fixture" "$token" <<'EOF'
import sys, urllib.request, urllib.error
url, fixture, token = sys.argv[1:4]
with open(fixture, "rb") as f:
    body = f.read()
req = urllib.request.Request(url, data=body, method="POST", headers={
    "Content-Type": "application/json", "Authorization": "Bearer " + token})
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        print(r.status)
except urllib.error.HTTPError as e:
    print(e.code, e.read()[:200].decode("utf-8", "replace"), file=sys.stderr)
    print(e.code)
except OSError as e:
    print("probe:", e, file=sys.stderr)
    print(0)
EOF
}
status=$(probe "http://127.0.0.1:$noop_port$hook_path")
[[ $status == 200 ]] || {
	echo "ingest.sh: the no-op server answered $status to the probe" >&2
	exit 1
}
status=$(probe "http://127.0.0.1:$psa_port$hook_path")
[[ $status == 202 ]] || {
	tail -n 20 "$work/psabridge.log" >&2
	echo "ingest.sh: psabridge answered $status to the probe, not 202" >&2
	exit 1
}

# ---- wrk runs -----------------------------------------------------------------

# CPU accounting, in clock ticks, to tell how much of the machine something
# other than wrk and the server under test used during a run.  Only user,

run_seq=0
# run_wrk NAME PORT SECONDS SERVER_PID: runs wrk; leaves its output in
# $work/NAME.wrk and its wrk_result line, with other_pct and steal_pct (the
# share of the machine used by other processes, or stolen by the
# hypervisor), kthread_pct (used by kernel threads) and server_us_per_req
# (CPU time of the server per answered request) appended, in
# $work/NAME.result.
run_wrk() {
	local name=$1 port=$2 secs=$3 pid=$4 c0 c1 p0 p1 k0 k1 t0 t1
	run_seq=$((run_seq + 1))
	c0=$(cpu_sample)
	t0=$(kthread_ticks)
	p0=$(pid_ticks "$pid")
	children_ticks
	k0=$kids
	BENCH_FIXTURE=$fixture BENCH_TOKEN=$token BENCH_THREADS=$threads \
		BENCH_SEQ_BASE=$((run_seq * 100000000)) \
		timeout --signal=INT --kill-after=10 $((secs + 30)) \
		wrk -t"$threads" -c"$connections" -d"${secs}s" --timeout 5s \
		-s "$root/bench/post.lua" "http://127.0.0.1:$port$hook_path" \
		>"$work/$name.wrk" 2>&1 || {
		cat "$work/$name.wrk" >&2
		echo "ingest.sh: wrk failed against $name" >&2
		exit 1
	}
	children_ticks
	k1=$kids
	p1=$(pid_ticks "$pid")
	t1=$(kthread_ticks)
	c1=$(cpu_sample)
	grep -m1 '^wrk_result ' "$work/$name.wrk" >"$work/$name.result" || {
		cat "$work/$name.wrk" >&2
		echo "ingest.sh: no wrk_result line from wrk against $name" >&2
		exit 1
	}
	echo "$c0 $c1 $((p1 - p0)) $((k1 - k0)) $((t1 - t0))" \
		"$(field "$work/$name.result" requests)" |
		awk -v hz="$(getconf CLK_TCK)" '{
		busy = $4 - $1; total = $5 - $2; steal = $6 - $3
		other = busy - $7 - $8 - $9; if (other < 0) other = 0
		if (total <= 0) total = 1
		printf " other_pct=%d steal_pct=%d kthread_pct=%d" \
		    " server_us_per_req=%.1f", 100 * other / total,
		    100 * steal / total, 100 * $9 / total,
		    ($10 > 0 ? $7 * 1e6 / hz / $10 : 0)
	}' >"$work/$name.cpu"
	printf '%s%s\n' "$(cat "$work/$name.result")" "$(cat "$work/$name.cpu")" \
		>"$work/$name.result.new"
	mv "$work/$name.result.new" "$work/$name.result"
}

# field FILE KEY: value of KEY=... in a wrk_result line.
field() {
	sed -E "s/.* $2=([^ ]*).*/\1/" "$1"
}

# count_status NAME CODE: how many answers of run NAME had status CODE.
count_status() {
	local n
	n=$(field "$work/$1.result" statuses | tr ',' '\n' | sed -n "s/^$2://p")
	echo "${n:-0}"
}

# check NAME EXPECTED_STATUS: marks the run invalid when a request failed
# or an answer was not EXPECTED_STATUS.
check() {
	local r=$work/$1.result expect=$2 k bad=0 requests seen
	requests=$(field "$r" requests)
	for k in errors_connect errors_read errors_write errors_timeout \
		errors_status non2xx; do
		if [[ $(field "$r" $k) != 0 ]]; then
			echo "INVALID: $1: $k=$(field "$r" $k)" >&2
			bad=1
		fi
	done
	seen=$(count_status "$1" "$expect")
	if [[ $seen != "$requests" ]]; then
		echo "INVALID: $1: $requests answers, $seen of them $expect" \
			"(statuses $(field "$r" statuses))" >&2
		bad=1
	fi
	((bad == 0)) || invalid=1
}

echo "warm-up: ${warmup}s against each" >&2
run_wrk noop-warmup "$noop_port" "$warmup" "$noop_pid"
check noop-warmup 200
run_wrk psabridge-warmup "$psa_port" "$warmup" "$psa_pid"
check psabridge-warmup 202
((invalid == 0)) || exit 1

echo "measuring: $rounds rounds of wrk -t$threads -c$connections" \
	"-d${duration}s against each" >&2
answered=$((1 + $(count_status psabridge-warmup 202)))
for ((r = 1; r <= rounds; r++)); do
	run_wrk "noop.$r" "$noop_port" "$duration" "$noop_pid"
	check "noop.$r" 200
	run_wrk "psabridge.$r" "$psa_port" "$duration" "$psa_pid"
	check "psabridge.$r" 202
	answered=$((answered + $(count_status "psabridge.$r" 202)))
done

# ---- after the runs -----------------------------------------------------------

vmhwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$psa_pid/status")
vmrss=$(awk '/^VmRSS:/ {print $2}' "/proc/$psa_pid/status")

stop_pid "$psa_pid"
psa_rc=$stopped_rc
psa_pid=
stop_pid "$noop_pid"
noop_rc=$stopped_rc
noop_pid=
if [[ $psa_rc != 0 ]]; then
	echo "INVALID: psabridge exited with status $psa_rc on SIGTERM" >&2
	invalid=1
fi
[[ $noop_rc == 0 ]] || echo "warning: bench_noop_server exited with status $noop_rc" >&2

# Every table of every SQLite file under the state dir: "FILE TABLE ROWS".
python3 - "$work/var" >"$work/tables" <<'EOF'
import os, sqlite3, sys
top = sys.argv[1]
for d, _, files in os.walk(top):
    for f in sorted(files):
        p = os.path.join(d, f)
        try:
            with open(p, "rb") as fh:
                if fh.read(16) != b"SQLite format 3\x00":
                    continue
        except OSError:
            continue
        con = sqlite3.connect("file:%s?mode=ro" % p, uri=True)
        for (t,) in con.execute("SELECT name FROM sqlite_master WHERE "
                                "type = 'table' AND name NOT LIKE 'sqlite_%' "
                                "ORDER BY name"):
            q = 'SELECT count(*) FROM "%s"' % t.replace('"', '""')
            print(os.path.relpath(p, top), t, con.execute(q).fetchone()[0])
        con.close()
EOF
events=$(awk '$2 == "events" {n += $3; found = 1} END {if (found) print n}' "$work/tables")

# wrk stops with up to one request in flight per connection, which psabridge
# may still commit: the database may hold up to that many more events per
# wrk run than the 202 answers wrk saw, never fewer.
if [[ -z $events ]]; then
	echo "INVALID: no table named events in $work/var:" >&2
	cat "$work/tables" >&2
	invalid=1
elif ((events < answered)); then
	echo "INVALID: $events events stored but $answered answered 202" >&2
	invalid=1
elif ((events > answered + (rounds + 1) * connections)); then
	echo "warning: $events events stored, only $answered answered 202" >&2
fi

log_errors=$(grep -cE 'level=(error|warn)' "$work/psabridge.log" || true)
if ((log_errors > 0)); then
	echo "warning: psabridge logged $log_errors error/warning lines," \
		"the first ones:" >&2
	grep -m5 -E 'level=(error|warn)' "$work/psabridge.log" >&2
fi

# ---- report -------------------------------------------------------------------

python3 - "$work" "$rounds" <<'EOF'
import statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
GOAL_RPS, GOAL_P99 = 0.80, 2.0   # from the issue

def load(name):
    with open("%s/%s.result" % (work, name)) as f:
        kv = dict(w.split("=", 1) for w in f.read().split()[1:])
    for k in kv:
        if k != "statuses":
            kv[k] = float(kv[k])
    return kv

runs = {s: [load("%s.%d" % (s, r)) for r in range(1, rounds + 1)]
        for s in ("noop", "psabridge")}
fmt = "%-18s %9s %8s %8s %8s %8s %7s %7s %6s %6s"
print(fmt % ("run", "req/s", "p50 ms", "p99 ms", "max ms", "non-2xx",
             "errors", "cpu us", "kthr", "other"))
def row(label, r):
    errs = sum(r[k] for k in ("errors_connect", "errors_read",
                              "errors_write", "errors_timeout"))
    print(fmt % (label, "%.0f" % r["rps"], "%.3f" % (r["p50_us"] / 1e3),
                 "%.3f" % (r["p99_us"] / 1e3), "%.3f" % (r["max_us"] / 1e3),
                 "%d" % r["non2xx"], "%d" % errs,
                 "%.1f" % r["server_us_per_req"],
                 "%d%%" % r["kthread_pct"],
                 "%d%%" % max(r["other_pct"], r["steal_pct"])))
for i in range(rounds):
    for s in ("noop", "psabridge"):
        row("%s #%d" % (s, i + 1), runs[s][i])
med = {}
for s in ("noop", "psabridge"):
    med[s] = {k: statistics.median(r[k] for r in runs[s])
              for k in ("rps", "p50_us", "p99_us", "server_us_per_req")}
    print(fmt % ("%s median" % s, "%.0f" % med[s]["rps"],
                 "%.3f" % (med[s]["p50_us"] / 1e3),
                 "%.3f" % (med[s]["p99_us"] / 1e3), "", "", "",
                 "%.1f" % med[s]["server_us_per_req"], "", ""))
rr = med["psabridge"]["rps"] / med["noop"]["rps"]
pr = med["psabridge"]["p99_us"] / med["noop"]["p99_us"]
print("ratio psabridge/noop (medians): req/s %.3f (goal >= %.2f: %s), "
      "p99 %.2f (goal <= %.1f: %s)" % (
          rr, GOAL_RPS, "met" if rr >= GOAL_RPS else "MISSED",
          pr, GOAL_P99, "met" if pr <= GOAL_P99 else "MISSED"))
print("(cpu us: the server's CPU time per answered request, all threads; "
      "kthr: share of the machine used by kernel threads (writeback, block "
      "I/O); other: by any other process, or stolen by the hypervisor)")
busy = [r for s in runs for r in runs[s]
        if max(r["other_pct"], r["steal_pct"]) > 5]
if busy:
    print("warning: in %d of %d runs more than 5%% of the machine went to "
          "other processes or the hypervisor (column 'other'): the figures "
          "are not reliable" % (len(busy), 2 * rounds))
EOF
echo "psabridge RSS after the runs: VmHWM ${vmhwm} kB, VmRSS ${vmrss} kB"
echo "events in the database: $events (202 answers seen: $answered," \
	"with warm-up and probe)"
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
disk=$(df -PT "$work" | awk 'NR == 2 {print $1 " (" $2 ")"}')
echo "setup: wrk -t$threads -c$connections -d${duration}s x $rounds rounds" \
	"(warm-up ${warmup}s), body $(wc -c <"$fixture") B, $(nproc) x $cpu," \
	"kernel $(uname -r), state dir on $disk"

if ((invalid != 0)); then
	echo "INVALID RUN: see the messages above; the figures do not count" >&2
	exit 1
fi
