#!/usr/bin/env bash
# bench/delivery.sh: delivery latency and throughput of psabridge against a
# local fake webhook receiver (bench/sink_server.c), and that receiver's own
# ceiling under wrk, in the same run.
#
# usage: bench/delivery.sh
#
# Installs what is missing through scripts/deps (needs root or sudo), builds
# a Release build into build-bench/, runs, prints a table.
#
# What it measures:
#   latency     callbacks posted at BENCH_RATE/s, one keep-alive connection,
#               each carrying its id and its send time (CLOCK_REALTIME, in
#               microseconds); the receiver stamps each arrival with the same
#               clock.  latency = arrival - send: the 202, the routing, the
#               job's take from the store, the rendering and the request.
#   throughput  BENCH_PRELOAD jobs queued for a disabled target, then the
#               target enabled through the admin API; requests/s = jobs /
#               (last arrival - enable).
#   ceiling     the receiver alone: wrk with BENCH_IN_FLIGHT connections
#               posting a body of the same shape, the most requests/s the
#               receiver can take on this machine with that concurrency.
#
# How jobs are queued without being delivered: the receiver answers 410
# Gone to a body containing a marker, and psabridge disables a target that
# answers 410 until an operator enables it (POST
# /api/v1/targets/NAME/enable).  Each round posts one event carrying the
# marker, waits until the target is disabled, posts BENCH_PRELOAD events,
# and enables it.  The other way, a receiver not yet started, would let
# every job fail (connection refused), go to retry and come back after the
# backoff: the run would measure the backoff's jitter and the failed
# attempts' records as much as the delivery.  Both targets still have
# retry = { first = "1s"; max = "1s"; } so that a failure during a run
# costs a second, not minutes; the report counts retried attempts.
#
# Environment (all optional):
#   BENCH_EVENTS       callbacks of the latency run          (default 1000)
#   BENCH_RATE         callbacks per second in the latency run (default 100)
#   BENCH_PRELOAD      jobs queued per throughput round       (default 20000)
#   BENCH_IN_FLIGHT    the target's max_in_flight, and wrk's connections
#                      against the receiver alone             (default 16)
#   BENCH_ROUNDS       rounds of (receiver alone, throughput); medians are
#                      reported                               (default 3)
#   BENCH_DURATION     seconds of each wrk run against the receiver (default 10)
#   BENCH_THREADS      wrk threads                            (default 2)
#   BENCH_TMPDIR       where the run's state dir goes; must not be tmpfs,
#                      fsync has to reach a disk              (default build-bench/)
#   BENCH_KEEP=1       keep the run directory (config, logs, records, db)
#   BENCH_NO_BUILD=1   use build-bench/ as it is
#
# It is a benchmark, not a test: goals are reported, never asserted.  Exit
# status: 0 for a valid run (goals met or not), 1 when the run is invalid
# (a callback not answered 202, an event that never reached the receiver,
# a job that died, a server that would not start or stop cleanly), 2 for
# usage and build errors.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
cd "$root"

events=${BENCH_EVENTS:-1000}
rate=${BENCH_RATE:-100}
preload=${BENCH_PRELOAD:-20000}
in_flight=${BENCH_IN_FLIGHT:-16}
rounds=${BENCH_ROUNDS:-3}
duration=${BENCH_DURATION:-10}
threads=${BENCH_THREADS:-2}
build=$root/build-bench
tmpbase=${BENCH_TMPDIR:-$build}
hook_path=/hooks/bench
# The receiver answers 410 to a body containing this (see above).
marker=bench-disable-target


for v in events rate preload in_flight rounds duration threads; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
done
((in_flight <= 256)) || die "BENCH_IN_FLIGHT is at most 256 (max_in_flight's range)"
((in_flight >= threads)) || die "BENCH_IN_FLIGHT ($in_flight) < BENCH_THREADS ($threads)"
((rate <= 1000)) || die "BENCH_RATE is at most 1000: one connection, one request at a time"

# ---- dependencies -----------------------------------------------------------

install_deps

# ---- build ------------------------------------------------------------------

build_release "$build" "$build/delivery-build.log"
psabridge=$build/psabridge
sink=$build/bench/bench_sink_server
[[ -x $psabridge ]] || die "$psabridge not built"
[[ -x $sink ]] || die "bench_sink_server not built"

# ---- run directory, on a real disk ------------------------------------------

make_workdir "$tmpbase" delivery
mkdir "$work/templates"

# The body every job sends: small JSON, the event's id and send time first
# (what the analysis reads back from the receiver's record).
cat >"$work/templates/bench.json.mustache" <<'EOF'
{"id":"{{payload.id}}","sent_us":"{{payload.sent_us}}","event":"{{event}}","time":{{time}},"received_at":"{{received_at}}"}
EOF
# wrk's body against the receiver alone: the same shape and size.
printf '%s\n' '{"id":"ceiling-0000001","sent_us":"1700000000000000","event":"Bench.Throughput","time":1700000000,"received_at":"2026-01-01T00:00:00.000Z"}' \
	>"$work/ceiling.json"

sink_pid=
ceil_pid=
psa_pid=
invalid=0
load_start=$(cut -d' ' -f1-3 /proc/loadavg)


cleanup() {
	local rc=$?
	if [[ -n $psa_pid ]]; then stop_pid "$psa_pid"; fi
	if [[ -n $sink_pid ]]; then stop_pid "$sink_pid"; fi
	if [[ -n $ceil_pid ]]; then stop_pid "$ceil_pid"; fi
	if ((rc == 0)) && [[ ${BENCH_KEEP:-0} != 1 ]]; then
		rm -rf "$work"
	else
		echo "delivery.sh: run directory kept: $work" >&2
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM


# ---- the driver: posts callbacks, drives the admin API, reads records -----

cat >"$work/driver.py" <<'EOF'
"""bench/delivery.sh's client.  Standard library only; loopback only."""
import http.client, json, statistics, sys, threading, time

def die(msg):
    print("driver: " + msg, file=sys.stderr)
    sys.exit(1)

class Conn:
    """One keep-alive connection to 127.0.0.1:port."""
    def __init__(self, port):
        self.port = port
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    def call(self, method, path, body=None, headers=None):
        for attempt in (1, 2):  # once more after the server closed it
            try:
                self.c.request(method, path, body=body, headers=headers or {})
                r = self.c.getresponse()
                return r.status, r.read()
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError):
                self.c.close()
                if attempt == 2:
                    raise

def event(kind, ident, sent_us):
    return json.dumps({"event": kind, "time": sent_us // 1000000,
                       "payload": {"id": ident, "sent_us": str(sent_us)}},
                      separators=(",", ":")).encode()

def post(conn, token, kind, ident):
    sent_us = time.time_ns() // 1000
    st, body = conn.call("POST", "/hooks/bench", event(kind, ident, sent_us),
                         {"Content-Type": "application/json",
                          "Authorization": "Bearer " + token})
    return st, body

def target(admin, name):
    st, body = admin.call("GET", "/api/v1/targets")
    if st != 200:
        die("GET /api/v1/targets answered %d" % st)
    doc = json.loads(body)
    for t in doc if isinstance(doc, list) else doc.get("targets", []):
        if t.get("name") == name:
            return t
    die("no target %s in /api/v1/targets: %s" % (name, body[:300]))

def wait_target(admin, name, pred, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        t = target(admin, name)
        if pred(t):
            return t
        if time.monotonic() > deadline:
            die("%s: target %s still %s after %d s" % (what, name, t, timeout))
        time.sleep(0.05)

def cmd_probe(port, admin_port, token, name, ident, timeout):
    """One callback; waits until its job is done: the whole path works."""
    c, a = Conn(int(port)), Conn(int(admin_port))
    before = target(a, name)["done"]
    st, body = post(c, token, "Bench.Latency", ident)
    if st != 202:
        die("the probe callback was answered %d: %s" % (st, body[:200]))
    wait_target(a, name, lambda t: t["done"] >= before + 1, float(timeout),
                "probe")

def cmd_latency(port, token, n, rate, prefix):
    """n callbacks at rate/s over one connection, paced on a schedule."""
    n, rate = int(n), float(rate)
    c = Conn(int(port))
    bad = late = 0
    t0 = time.monotonic() + 0.05
    for i in range(n):
        due = t0 + i / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        elif now - due > 0.005:
            late += 1
        st, _ = post(c, token, "Bench.Latency", "%s%07d" % (prefix, i))
        if st != 202:
            bad += 1
    took = time.monotonic() - t0
    print("latency_posted n=%d non202=%d late=%d seconds=%.3f"
          % (n, bad, late, took))
    if bad:
        die("%d of %d callbacks not answered 202" % (bad, n))

def cmd_preload(port, admin_port, token, name, m, prefix, conns):
    """Disables target name (410 to the marker event), then posts m
    callbacks over conns connections; prints how long that took."""
    m, conns = int(m), int(conns)
    a = Conn(int(admin_port))
    t = target(a, name)
    if t["state"] == "disabled":
        die("target %s is already disabled" % name)
    st, body = post(Conn(int(port)), token, "Bench.Throughput",
                    prefix + "bench-disable-target")
    if st != 202:
        die("the disabling callback was answered %d: %s" % (st, body[:200]))
    wait_target(a, name, lambda t: t["state"] == "disabled" and
                t["in_flight"] == 0, 10, "disabling")
    errors = []
    def worker(k):
        try:
            c = Conn(int(port))
            for i in range(k, m, conns):
                st, body = post(c, token, "Bench.Throughput",
                                "%s%07d" % (prefix, i))
                if st != 202:
                    errors.append("%s%07d: %d %s" % (prefix, i, st,
                                                      body[:100]))
        except Exception as e:
            errors.append("connection %d: %r" % (k, e))
    t0 = time.monotonic()
    ths = [threading.Thread(target=worker, args=(k,)) for k in range(conns)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    took = time.monotonic() - t0
    if errors:
        die("%d callbacks failed, the first: %s" % (len(errors), errors[0]))
    t = target(a, name)
    if t["state"] != "disabled" or t["in_flight"] != 0:
        die("target %s is no longer disabled: %s" % (name, t))
    print("preload_result n=%d seconds=%.3f rps=%.0f" % (m, took, m / took))

def cmd_deliver(admin_port, name, m, timeout):
    """Enables target name and waits until m more jobs are done."""
    m = int(m)
    a = Conn(int(admin_port))
    before = target(a, name)
    t_enable = time.time()
    st, body = a.call("POST", "/api/v1/targets/%s/enable" % name, b"")
    if st != 200:
        die("enabling %s answered %d: %s" % (name, st, body[:200]))
    t = wait_target(a, name, lambda t: t["done"] >= before["done"] + m,
                    float(timeout), "delivering")
    print("deliver_result enable=%.6f done=%d retried=%d dead=%d"
          % (t_enable, t["done"] - before["done"],
             t["retried"] - before["retried"], t["dead"] - before["dead"]))

def pct(xs, p):
    """Nearest-rank percentile of a sorted list."""
    k = max(0, min(len(xs) - 1, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[k]

def cmd_analyze(record, n, lat_prefix, m, rounds_file):
    """Reads the receiver's record: latency of the latency run, arrival
    span of each throughput round.  Prints result lines; exits 1 when an
    event is missing."""
    n, m = int(n), int(m)
    arrivals = {}
    dups = 0
    with open(record, encoding="utf-8", errors="replace") as f:
        for line in f:
            at, status, body = line.rstrip("\n").split(" ", 2)
            if status != "200":
                continue
            try:
                doc = json.loads(body)
            except ValueError:
                die("a body in the record is not JSON: %r" % body[:200])
            ident = doc["id"]
            if ident in arrivals:
                dups += 1
                continue
            arrivals[ident] = (float(at), int(doc["sent_us"]) / 1e6)
    bad = 0
    lat = sorted(arrivals[k][0] - arrivals[k][1] for k in arrivals
                 if k.startswith(lat_prefix))
    if len(lat) != n:
        print("INVALID: latency run: %d of %d events arrived"
              % (len(lat), n), file=sys.stderr)
        bad = 1
    if lat:
        print("latency_result n=%d p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f "
              "max_ms=%.3f min_ms=%.3f mean_ms=%.3f"
              % (len(lat), 1e3 * pct(lat, 50), 1e3 * pct(lat, 90),
                 1e3 * pct(lat, 99), 1e3 * lat[-1], 1e3 * lat[0],
                 1e3 * statistics.mean(lat)))
    with open(rounds_file) as f:
        for line in f:
            prefix, enable = line.split()
            enable = float(enable)
            ts = sorted(v[0] for k, v in arrivals.items()
                        if k.startswith(prefix) and
                        not k.endswith("bench-disable-target"))
            if len(ts) != m:
                print("INVALID: round %s: %d of %d events arrived"
                      % (prefix, len(ts), m), file=sys.stderr)
                bad = 1
                continue
            span = ts[-1] - enable
            print("round_result prefix=%s n=%d first_ms=%.1f seconds=%.3f "
                  "rps=%.0f steady_rps=%.0f"
                  % (prefix, len(ts), 1e3 * (ts[0] - enable), span,
                     len(ts) / span,
                     (len(ts) - 1) / (ts[-1] - ts[0]) if len(ts) > 1 else 0))
    print("record_result requests=%d duplicates=%d" % (len(arrivals), dups))
    sys.exit(bad)

cmds = {"probe": cmd_probe, "latency": cmd_latency, "preload": cmd_preload,
        "deliver": cmd_deliver, "analyze": cmd_analyze}
if len(sys.argv) < 2 or sys.argv[1] not in cmds:
    die("usage: driver.py %s ARGS" % "|".join(cmds))
cmds[sys.argv[1]](*sys.argv[2:])
EOF

# ---- start the receivers and psabridge --------------------------------------

# The receiver psabridge delivers to, recording every arrival.
"$sink" -r "$work/sink.rec" -g "$marker" 127.0.0.1 0 \
	>"$work/sink.out" 2>"$work/sink.log" &
sink_pid=$!
sink_port=$(wait_for_line "$work/sink.out" '^[0-9]+$' "$sink_pid" 's/.*/&/') || {
	cat "$work/sink.log" >&2
	echo "delivery.sh: bench_sink_server did not start" >&2
	exit 1
}
# The same receiver, alone under wrk: recording too, so that it does the
# same work per request.
"$sink" -r "$work/ceiling.rec" 127.0.0.1 0 \
	>"$work/ceiling.out" 2>"$work/ceiling.log" &
ceil_pid=$!
ceil_port=$(wait_for_line "$work/ceiling.out" '^[0-9]+$' "$ceil_pid" 's/.*/&/') || {
	cat "$work/ceiling.log" >&2
	echo "delivery.sh: the second bench_sink_server did not start" >&2
	exit 1
}

# Two webhook targets on the one receiver: "lat" for the latency run,
# "thr" for the throughput rounds (disabled and enabled by each round).
cat >"$work/psabridge.cfg" <<EOF
# Written by bench/delivery.sh.
listen    = "127.0.0.1:0";
state_dir = "var";
limits = { max_body_bytes = 65536; max_header_bytes = 8192; request_timeout_s = 10; max_connections = 1024; };
admin = { listen = "127.0.0.1:0"; };
sources = ( { name = "bench"; path = "$hook_path"; token = "file:hook.token"; dedup_window = "24h"; } );
templates_dir = "templates";
targets = (
  { name = "lat"; type = "webhook"; url = "http://127.0.0.1:$sink_port/lat"; body = "bench";
    max_in_flight = $in_flight; retry = { first = "1s"; max = "1s"; }; },
  { name = "thr"; type = "webhook"; url = "http://127.0.0.1:$sink_port/thr"; body = "bench";
    max_in_flight = $in_flight; retry = { first = "1s"; max = "1s"; }; }
);
rules = (
  { name = "latency"; match = [ "event = Bench.Latency" ];
    actions = ( { target = "lat"; action = "notify"; } ); },
  { name = "throughput"; match = [ "event = Bench.Throughput" ];
    actions = ( { target = "thr"; action = "notify"; } ); }
);
EOF

"$psabridge" serve -c "$work/psabridge.cfg" >"$work/psabridge.log" 2>&1 &
psa_pid=$!
psa_port=$(wait_for_line "$work/psabridge.log" \
	'msg=listening listener=ingest address=127\.0\.0\.1:[0-9]+' "$psa_pid" \
	's/.*address=127\.0\.0\.1:([0-9]+).*/\1/') || {
	tail -n 20 "$work/psabridge.log" >&2
	echo "delivery.sh: psabridge did not start (log above)" >&2
	exit 1
}
admin_port=$(wait_for_line "$work/psabridge.log" \
	'msg=listening listener=admin address=127\.0\.0\.1:[0-9]+' "$psa_pid" \
	's/.*address=127\.0\.0\.1:([0-9]+).*/\1/') || {
	tail -n 20 "$work/psabridge.log" >&2
	echo "delivery.sh: psabridge's admin listener did not start" >&2
	exit 1
}

driver() {
	python3 "$work/driver.py" "$@"
}

# One callback through the whole path first, so that a wrong token, route
# or template fails loudly here.
driver probe "$psa_port" "$admin_port" "$token" lat probe 10 || {
	tail -n 20 "$work/psabridge.log" >&2
	echo "delivery.sh: the probe callback did not reach the receiver" >&2
	exit 1
}


# phase_begin / phase_end NAME: between the two, the share of the machine
# that went to anything but our servers, our children and kernel threads
# (other_pct), or to the hypervisor (steal_pct); and the CPU seconds of
# psabridge and of the receivers.  Appended to $work/phases.
ph_c0='' ph_t0='' ph_k0='' ph_p0='' ph_s0='' ph_w0=''
phase_begin() {
	ph_c0=$(cpu_sample)
	ph_t0=$(kthread_ticks)
	ph_p0=$(pid_ticks "$psa_pid")
	ph_s0=$(pid_ticks "$sink_pid")
	ph_w0=$(pid_ticks "$ceil_pid")
	children_ticks
	ph_k0=$kids
}
phase_end() {
	local name=$1 c1 t1 p1 s1 w1
	children_ticks
	p1=$(pid_ticks "$psa_pid")
	s1=$(pid_ticks "$sink_pid")
	w1=$(pid_ticks "$ceil_pid")
	t1=$(kthread_ticks)
	c1=$(cpu_sample)
	echo "$ph_c0 $c1 $((p1 - ph_p0)) $((s1 - ph_s0 + w1 - ph_w0))" \
		"$((kids - ph_k0)) $((t1 - ph_t0))" |
		awk -v hz="$(getconf CLK_TCK)" -v ncpu="$(nproc)" -v name="$name" '{
		busy = $4 - $1; total = $5 - $2; steal = $6 - $3
		other = busy - $7 - $8 - $9 - $10; if (other < 0) other = 0
		if (total <= 0) total = 1
		printf "phase %s other_pct=%d steal_pct=%d kthread_pct=%d" \
		    " psabridge_cpu_s=%.2f receiver_cpu_s=%.2f" \
		    " client_cpu_s=%.2f wall_s=%.2f\n", name,
		    100 * other / total, 100 * steal / total,
		    100 * $10 / total, $7 / hz, $8 / hz, $9 / hz, total / hz / ncpu
	}' >>"$work/phases"
}

# ---- the receiver alone ---------------------------------------------------------

# run_wrk NAME SECONDS: wrk against the receiver alone; its wrk_result line
# in $work/NAME.result.
run_wrk() {
	local name=$1 secs=$2
	BENCH_FIXTURE=$work/ceiling.json BENCH_THREADS=$threads \
		timeout --signal=INT --kill-after=10 $((secs + 30)) \
		wrk -t"$threads" -c"$in_flight" -d"${secs}s" --timeout 5s \
		-s "$root/bench/post.lua" "http://127.0.0.1:$ceil_port/sink" \
		>"$work/$name.wrk" 2>&1 || {
		cat "$work/$name.wrk" >&2
		echo "delivery.sh: wrk failed against the receiver" >&2
		exit 1
	}
	grep -m1 '^wrk_result ' "$work/$name.wrk" >"$work/$name.result" || {
		cat "$work/$name.wrk" >&2
		echo "delivery.sh: no wrk_result line from wrk" >&2
		exit 1
	}
	local s
	for s in errors_connect errors_read errors_write errors_timeout non2xx; do
		if [[ $(sed -E "s/.* $s=([^ ]*).*/\1/" "$work/$name.result") != 0 ]]; then
			echo "INVALID: $name: $(cat "$work/$name.result")" >&2
			invalid=1
			return
		fi
	done
}

: >"$work/phases"
: >"$work/rounds"
echo "warm-up: 3s of wrk against the receiver alone" >&2
run_wrk ceiling-warmup 3
((invalid == 0)) || exit 1

# ---- latency ----------------------------------------------------------------------

echo "latency: $events callbacks at $rate/s" >&2
# A few seconds' worth first, not counted: connections, caches, the WAL.
timeout --kill-after=10 $((60 + events / rate)) \
	python3 "$work/driver.py" latency "$psa_port" "$token" $((rate * 2)) "$rate" warm- \
	>"$work/latency-warmup.out" || {
	echo "delivery.sh: the latency warm-up failed" >&2
	exit 1
}
phase_begin
timeout --kill-after=10 $((60 + events / rate)) \
	python3 "$work/driver.py" latency "$psa_port" "$token" "$events" "$rate" lat- \
	>"$work/latency.out" || {
	echo "delivery.sh: the latency run failed" >&2
	exit 1
}
# Give the last jobs a moment to arrive before the accounting ends.
sleep 1
phase_end latency

# ---- rounds of (receiver alone, throughput) ---------------------------------------

deliver_timeout=$((60 + preload / 200))
for ((r = 1; r <= rounds; r++)); do
	echo "round $r of $rounds: wrk -t$threads -c$in_flight -d${duration}s" \
		"against the receiver alone, then $preload jobs" >&2
	phase_begin
	run_wrk "ceiling.$r" "$duration"
	phase_end "ceiling.$r"
	((invalid == 0)) || exit 1

	timeout --kill-after=10 $((60 + preload / 100)) \
		python3 "$work/driver.py" preload "$psa_port" "$admin_port" "$token" \
		thr "$preload" "thr$r-" "$in_flight" >"$work/preload.$r.out" || {
		tail -n 20 "$work/psabridge.log" >&2
		echo "delivery.sh: queueing $preload jobs failed (round $r)" >&2
		exit 1
	}
	phase_begin
	timeout --kill-after=10 $((deliver_timeout + 30)) \
		python3 "$work/driver.py" deliver "$admin_port" thr "$preload" \
		"$deliver_timeout" >"$work/deliver.$r.out" || {
		tail -n 20 "$work/psabridge.log" >&2
		echo "delivery.sh: round $r: the jobs were not delivered" \
			"within ${deliver_timeout}s" >&2
		exit 1
	}
	phase_end "throughput.$r"
	enable=$(sed -nE 's/.* enable=([0-9.]+).*/\1/p' "$work/deliver.$r.out")
	echo "thr$r- $enable" >>"$work/rounds"
	for k in retried dead; do
		n=$(sed -nE "s/.* $k=([0-9]+).*/\1/p" "$work/deliver.$r.out")
		if ((n > 0)); then
			echo "warning: round $r: $n attempts $k (see" \
				"$work/psabridge.log)" >&2
			if [[ $k == dead ]]; then invalid=1; fi
		fi
	done
done

# ---- after the runs -------------------------------------------------------------

vmhwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$psa_pid/status")
stop_pid "$psa_pid"
psa_rc=$stopped_rc
psa_pid=
stop_pid "$sink_pid"
sink_rc=$stopped_rc
sink_pid=
stop_pid "$ceil_pid"
ceil_rc=$stopped_rc
ceil_pid=
if [[ $psa_rc != 0 ]]; then
	echo "INVALID: psabridge exited with status $psa_rc on SIGTERM" >&2
	invalid=1
fi
if [[ $sink_rc != 0 || $ceil_rc != 0 ]]; then
	echo "INVALID: a receiver exited with status $sink_rc/$ceil_rc" \
		"(its record may be incomplete)" >&2
	invalid=1
fi

python3 "$work/driver.py" analyze "$work/sink.rec" "$events" lat- \
	"$preload" "$work/rounds" >"$work/analysis" || invalid=1

log_errors=$(grep -cE 'level=(error|warn)' "$work/psabridge.log" || true)
# One warning per round is expected: the 410 that disables the target.
if ((log_errors > 2 * rounds)); then
	echo "warning: psabridge logged $log_errors error/warning lines," \
		"the first ones:" >&2
	grep -m5 -E 'level=(error|warn)' "$work/psabridge.log" >&2
fi

# ---- report -------------------------------------------------------------------

python3 - "$work" "$rounds" "$events" "$rate" "$preload" "$in_flight" <<'EOF'
import statistics, sys
work, rounds, events, rate, preload, in_flight = sys.argv[1], *map(int, sys.argv[2:])
GOAL_P50_MS, GOAL_P99_MS, GOAL_RPS = 5.0, 20.0, 5000   # from the issue

def kv(line):
    return dict(w.split("=", 1) for w in line.split()[1:] if "=" in w)

def lines(path, tag):
    with open(path) as f:
        return [kv(l) for l in f if l.startswith(tag + " ")]

phases = {l.split()[1]: kv(l.split(" ", 1)[1]) for l in
          open("%s/phases" % work) if l.startswith("phase ")}
an = "%s/analysis" % work
lat = lines(an, "latency_result")
rr = {d["prefix"]: d for d in lines(an, "round_result")}
ceil = [kv(open("%s/ceiling.%d.result" % (work, r)).read())
        for r in range(1, rounds + 1)]
pre = [lines("%s/preload.%d.out" % (work, r), "preload_result")[0]
       for r in range(1, rounds + 1)]

def other(name):
    p = phases.get(name, {})
    return "%s%%" % max(int(p.get("other_pct", 0)), int(p.get("steal_pct", 0)))

if lat:
    l = lat[0]
    print("latency, callback sent -> request at the receiver, %d callbacks "
          "at %d/s:" % (events, rate))
    print("  p50 %s ms, p90 %s ms, p99 %s ms, max %s ms (min %s, mean %s); "
          "other %s" % (l["p50_ms"], l["p90_ms"], l["p99_ms"], l["max_ms"],
                        l["min_ms"], l["mean_ms"], other("latency")))
print()
fmt = "%-10s %12s %10s %10s %10s %9s %8s %6s"
print(fmt % ("round", "receiver/s", "deliver/s", "steady/s", "first ms",
             "cpu us", "ingest/s", "other"))
rows = []
for r in range(1, rounds + 1):
    d = rr.get("thr%d-" % r)
    c = float(ceil[r - 1]["rps"])
    if d is None:
        print(fmt % ("#%d" % r, "%.0f" % c, "-", "-", "-", "-", "-", "-"))
        continue
    ph = phases["throughput.%d" % r]
    cpu = float(ph["psabridge_cpu_s"]) * 1e6 / int(d["n"])
    rows.append((c, float(d["rps"]), float(d["steady_rps"]), cpu))
    print(fmt % ("#%d" % r, "%.0f" % c, d["rps"], d["steady_rps"],
                 d["first_ms"], "%.1f" % cpu, pre[r - 1]["rps"],
                 "%s/%s" % (other("ceiling.%d" % r),
                            other("throughput.%d" % r))))
if rows:
    med = [statistics.median(x[i] for x in rows) for i in range(4)]
    print(fmt % ("median", "%.0f" % med[0], "%.0f" % med[1], "%.0f" % med[2],
                 "", "%.1f" % med[3], "", ""))
    goal = min(GOAL_RPS, med[0])
    print("delivery/receiver (medians): %.3f; goal >= %d/s or the receiver's "
          "ceiling: %s" % (med[1] / med[0], GOAL_RPS,
                           "met" if med[1] >= goal else "MISSED"))
if lat:
    p50, p99 = float(lat[0]["p50_ms"]), float(lat[0]["p99_ms"])
    print("latency goals: p50 < %.0f ms: %s, p99 < %.0f ms: %s" % (
        GOAL_P50_MS, "met" if p50 < GOAL_P50_MS else "MISSED",
        GOAL_P99_MS, "met" if p99 < GOAL_P99_MS else "MISSED"))
print("(receiver/s: the receiver alone under wrk -c%d; deliver/s: %d jobs / "
      "(last arrival - enable); steady/s: between the first and the last "
      "arrival; first ms: enable -> first arrival; cpu us: psabridge's CPU "
      "time per delivered job; ingest/s: callbacks/s while queueing; other: "
      "share of the machine used by other processes or the hypervisor, "
      "receiver alone/throughput)" % (in_flight, preload))
busy = [n for n, p in phases.items()
        if max(int(p["other_pct"]), int(p["steal_pct"])) > 5]
if busy:
    print("warning: in %d of %d phases (%s) more than 5%% of the machine "
          "went to other processes or the hypervisor: the figures are not "
          "reliable" % (len(busy), len(phases), ", ".join(sorted(busy))))
EOF
grep -h '^record_result' "$work/analysis" | sed 's/^record_result /receiver record: /'
echo "psabridge peak RSS: VmHWM ${vmhwm} kB"
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
disk=$(df -PT "$work" | awk 'NR == 2 {print $1 " (" $2 ")"}')
echo "setup: $rounds rounds, max_in_flight $in_flight, $preload jobs per round," \
	"wrk -t$threads -c$in_flight -d${duration}s against the receiver," \
	"$(nproc) x $cpu, kernel $(uname -r), state dir on $disk," \
	"load average at the start $load_start, at the end $(cut -d' ' -f1-3 /proc/loadavg)"

if ((invalid != 0)); then
	echo "INVALID RUN: see the messages above; the figures do not count" >&2
	exit 1
fi
