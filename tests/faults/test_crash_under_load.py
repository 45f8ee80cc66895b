#!/usr/bin/env python3
"""Fault: kill -9 at random moments while events stream in and jobs go out.

One daemon with a webhook target (a FakePSA on loopback, Standard Webhooks
signing so that every request names its job in `webhook-id`) and a
catch-all rule.  A client posts unique events at a steady rate from a few
threads across every restart and records each id answered 202.  The daemon
is killed with SIGKILL CYCLES times, each after a random run, and started
again on the same state directory.

Pass:
  - every acknowledged event is in the store after a final clean stop,
    with its exact body, and the store passes PRAGMA integrity_check;
  - every job of every acknowledged event reaches the fake PSA and is
    `done` (waited for, bounded, after the last restart);
  - duplicates at the PSA come only from jobs the store held `inflight` at
    a kill (read from the store right after each kill -9, before the
    restart): a job sent k + 1 times was in flight at >= k kills, and the
    total of the extra copies is at most the sum over kills of the in-flight
    counts, itself at most CYCLES * max_in_flight.

Duplicates are counted per job id: the number of requests with that
webhook-id minus one, summed over jobs.
"""

import base64
import http.client
import json
import os
import random
import sqlite3
import sys
import threading
import time
import unittest
import urllib.parse

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import harness  # noqa: E402
from harness import DaemonTestCase, unique_envelope  # noqa: E402
from fakepsa import FakePSA  # noqa: E402

harness.check_env()

CYCLES = 20
RATE = 200.0           # events per second, all threads together
THREADS = 4
RUN_MIN_S, RUN_MAX_S = 0.3, 1.2   # how long each run lasts before the kill
MAX_IN_FLIGHT = 4
PSA_DELAY_S = 0.01     # the PSA answers after 10 ms: kills find requests
                       # on their way, and 4 in flight still take 400/s
DRAIN_TIMEOUT_S = 60.0

BODY = '{"agent": "{{payload.id}}", "host": "{{payload.hostname}}"}\n'


class Poster:
    """THREADS threads posting unique events at RATE per second in total,
    each on its own keep-alive connection, through every restart: while the
    daemon is down (or starting) they count refusals and go on."""

    def __init__(self, d, rate, nthreads):
        self.d = d
        self.interval = nthreads / rate
        self.lock = threading.Lock()
        self.acked = {}        # event id -> body, every 202
        self.reused = []       # ids answered 202 for two different bodies
        self.other = []        # (status, body) of any answer but 202
        self.sent = 0
        self.broken = 0        # requests without an answer (kill, refused)
        self.stop_ev = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(k,),
                                         daemon=True, name="poster-%d" % k)
                        for k in range(nthreads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self, timeout=20):
        self.stop_ev.set()
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self.threads)

    def acked_count(self):
        with self.lock:
            return len(self.acked)

    def _run(self, k):
        d = self.d
        hdrs = {"Content-Type": "application/json",
                "Authorization": "Bearer " + d.hook_token}
        conn, conn_port = None, None
        next_t = time.monotonic() + self.interval * k / len(self.threads)
        while not self.stop_ev.is_set():
            now = time.monotonic()
            if next_t > now:
                self.stop_ev.wait(next_t - now)
                if self.stop_ev.is_set():
                    break
            # a steady rate: a late request does not cause a burst after it
            next_t = max(next_t + self.interval, time.monotonic())
            port = d.ingest_port
            if port is None:
                continue
            if conn is None or conn_port != port:
                if conn is not None:
                    conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port,
                                                  timeout=10)
                conn_port = port
            body = unique_envelope()
            with self.lock:
                self.sent += 1
            try:
                r = harness.http_request(port, "POST", d.source_path, body,
                                         hdrs, conn=conn)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = None
                with self.lock:
                    self.broken += 1
                continue
            with self.lock:
                if r.status == 202:
                    eid = r.json()["id"]
                    if eid in self.acked and self.acked[eid] != body:
                        self.reused.append(eid)
                    self.acked[eid] = body
                else:
                    self.other.append((r.status, r.body[:200]))
        if conn is not None:
            conn.close()


class CrashUnderLoadTest(DaemonTestCase):

    def bridge(self, psa):
        d = self.daemon(start=False)
        tdir = os.path.join(d.etc, "templates")
        os.makedirs(tdir)
        with open(os.path.join(tdir, "body.json.mustache"), "w") as f:
            f.write(BODY)
        key = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        harness.write_secret(os.path.join(d.etc, "sign.key"), key)
        d.write_config(
            d.config_text() +
            'templates_dir = "templates";\n'
            'targets = ( { name = "hook"; type = "webhook"; url = "%s/hook";'
            ' body = "body"; max_in_flight = %d;'
            ' signing_secret = "file:sign.key";'
            ' retry = { first = "1s"; max = "2s"; }; } );\n'
            'rules = ( { name = "all"; match = [];'
            ' actions = ( { target = "hook"; action = "notify"; } ); } );\n'
            % (psa.url, MAX_IN_FLIGHT))
        return d

    def inflight_jobs(self, d):
        """Job ids the store holds in flight, read while the daemon is down
        (after kill -9: the WAL as the crash left it)."""
        uri = "file:%s?mode=ro" % urllib.parse.quote(d.db_path)
        c = sqlite3.connect(uri, uri=True, timeout=10)
        try:
            return {r[0] for r in c.execute(
                "SELECT id FROM jobs WHERE state = 'inflight'")}
        finally:
            c.close()

    def test_kill_9_under_load_loses_nothing_and_duplicates_only_in_flight(
            self):
        seed = int(os.environ.get("PSABRIDGE_FAULT_SEED",
                                  str(int(time.time()))))
        rnd = random.Random(seed)
        sys.stderr.write("crash_under_load: seed %d "
                         "(PSABRIDGE_FAULT_SEED to repeat)\n" % seed)
        psa = FakePSA()
        psa.default({"status": 200, "delay": PSA_DELAY_S})
        psa.start()
        self.addCleanup(psa.stop)
        d = self.bridge(psa)
        d.start()
        poster = Poster(d, RATE, THREADS).start()
        self.addCleanup(poster.stop)

        kills = []  # per kill: dict(run_s, acked, inflight ids, psa_seen)
        for cycle in range(CYCLES):
            before = poster.acked_count()
            run_s = rnd.uniform(RUN_MIN_S, RUN_MAX_S)
            time.sleep(run_s)
            self.assertTrue(d.alive(), "daemon died by itself in cycle %d\n%s"
                            % (cycle, d.run_log()))
            acked = poster.acked_count() - before
            d.kill()  # SIGKILL by pid, then waits for it
            self.assertEqual(d.returncode, -9)
            inflight = self.inflight_jobs(d)
            kills.append({"run_s": run_s, "acked": acked,
                          "inflight": inflight,
                          "psa_seen": len(psa.requests("/hook"))})
            # under load: every cycle acknowledged events before its kill
            self.assertGreater(acked, 0, "cycle %d: no 202 in %.2f s: the "
                               "kill was not under load" % (cycle, run_s))
            self.assertLessEqual(
                len(inflight), MAX_IN_FLIGHT,
                "cycle %d: %d jobs in flight in the store at the kill, "
                "max_in_flight = %d" % (cycle, len(inflight),
                                        MAX_IN_FLIGHT))
            mark = d.log_mark()
            d.start()
            if inflight:
                d.wait_for_log(r'msg="jobs in flight at the last stop are '
                               r'sent again" jobs=%d\b' % len(inflight),
                               since=mark)

        self.assertTrue(poster.stop(), "poster threads hang")
        self.assertEqual(poster.other, [], "answers other than 202")
        self.assertEqual(poster.reused, [], "one id acknowledged twice")
        acked = dict(poster.acked)
        self.assertGreater(len(acked), CYCLES * 20)

        # every job of every acknowledged event reaches the PSA
        jobs = {}  # job id -> event id, for the acknowledged events
        c = d.db()
        try:
            q = ",".join("?" * len(acked))
            for jid, eid in c.execute(
                    "SELECT id, event_id FROM jobs WHERE event_id IN (%s)"
                    % q, list(acked)):
                jobs[jid] = eid
        finally:
            c.close()
        per_event = {}
        for jid, eid in jobs.items():
            per_event.setdefault(eid, []).append(jid)
        no_job = [e for e in acked if len(per_event.get(e, [])) != 1]
        self.assertEqual(no_job, [], "acknowledged events without exactly "
                         "one job (the catch-all rule makes one)")
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while True:
            seen = {r.header("webhook-id") for r in psa.requests("/hook")
                    if r.status == 200}
            missing = set(jobs) - seen
            if not missing:
                break
            if time.monotonic() > deadline:
                self.fail("%d of %d jobs of acknowledged events never "
                          "reached the PSA within %.0f s, e.g. %r"
                          % (len(missing), len(jobs), DRAIN_TIMEOUT_S,
                             sorted(missing)[:5]))
            time.sleep(0.2)
        time.sleep(0.5)  # let the last answers be recorded
        self.assertEqual(d.stop(), 0, "clean stop")

        # the store after a clean stop
        self.assertEqual(d.query("PRAGMA integrity_check")[0][0], "ok")
        events = {e["id"]: e for e in d.events()}
        lost = [e for e in acked if e not in events]
        self.assertEqual(lost, [], "%d of %d acknowledged events lost"
                         % (len(lost), len(acked)))
        for eid, body in acked.items():
            self.assertEqual(events[eid]["body"].encode(), body, eid)
        states = dict(d.query("SELECT id, state FROM jobs"))
        not_done = {j: states.get(j) for j in jobs if states.get(j) != "done"}
        self.assertEqual(not_done, {}, "jobs of acknowledged events not done")

        # each request carries its own job's event
        reqs = psa.requests("/hook")
        all_jobs = dict(d.query("SELECT id, event_id FROM jobs"))
        for r in reqs:
            jid = r.header("webhook-id")
            self.assertIn(jid, all_jobs, "request for an unknown job %r" % r)
            agent = json.loads(events[all_jobs[jid]]["body"])["payload"]["id"]
            self.assertEqual(r.json()["agent"], agent, r)

        # duplicates: only jobs in flight at a kill, at most once per kill
        count = {}
        for r in reqs:
            count[r.header("webhook-id")] = count.get(
                r.header("webhook-id"), 0) + 1
        dups = {j: n - 1 for j, n in count.items() if n > 1}
        at_kills = {}
        for k in kills:
            for j in k["inflight"]:
                at_kills[j] = at_kills.get(j, 0) + 1
        bound = sum(len(k["inflight"]) for k in kills)
        unexplained = {j: n for j, n in dups.items()
                       if n > at_kills.get(j, 0)}
        self.assertEqual(unexplained, {}, "jobs sent more often than kills "
                         "found them in flight: {job: extra copies}")
        self.assertLessEqual(sum(dups.values()), bound)
        self.assertLessEqual(bound, CYCLES * MAX_IN_FLIGHT)
        sys.stderr.write(
            "crash_under_load: %d kills, %d requests sent, %d acknowledged, "
            "%d events stored, %d jobs delivered in %d requests, %d "
            "duplicates (bound: %d in flight at the kills, max %d per "
            "kill), runs %.2f-%.2f s\n"
            % (len(kills), poster.sent, len(acked), len(events), len(count),
               len(reqs), sum(dups.values()), bound,
               max(len(k["inflight"]) for k in kills),
               min(k["run_s"] for k in kills),
               max(k["run_s"] for k in kills)))


if __name__ == "__main__":
    unittest.main()
