#!/usr/bin/env python3
"""Fault test: a PSA that misbehaves in every documented way at once, and a
healthy target beside it that must not notice (docs/delivery.md).

One daemon, one FakePSA on loopback, one webhook target per misbehaviour,
all with retry = { first = "1s"; max = "4s"; give_up_after = "1h"; }:

  down      connection refused for three attempts, then the PSA comes back
  ra_secs   429 Retry-After: 2             -> waits exactly 2 s
  ra_date   429 Retry-After: <now + 3 s>   -> waits until that date
  ra_past   429 Retry-After: <2015>        -> waits first (1 s)
  ra_huge   429 Retry-After: 10^12, then 10^23 (overflows a long) -> max
  perm      422                            -> dead at once, target stays ok
  gone      410                            -> dead, target disabled
  redirect  301 then 307                   -> retried, never followed
  reset     half a status line, then RST   -> retried
  hang      accepts, never answers; timeout = "2s", max_in_flight = 2
  good      200: every job must arrive within GOOD_LATENCY_S of its 202

Every scenario's event is posted in setUpClass, so the scenarios run
concurrently (~12 s in all) and each test method checks one of them.

Timing is checked two ways.  attempts[].started_at and duration_ms (GET
/api/v1/jobs/{id}) give the gap between attempts, which includes up to
one delivery tick (1 s) after the job fell due.  For the exact wait the
daemon chose, a sampler reads jobs.next_at from the store (read-only)
while the job is pending: W = next_at - (started_at + duration_ms).
Retry-After is exact (no jitter), so W pins it to within a few ms of the
clamped value; backoff W lies in [d/2, d] ("equal jitter").
"""

import email.utils
import json
import os
import sqlite3
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import harness  # noqa: E402
from harness import Daemon, DaemonTestCase  # noqa: E402
from fakepsa import FakePSA  # noqa: E402

harness.check_env()

TICK = 1.0          # the delivery timer: a due job waits up to one tick
SLACK = 0.5         # scheduling noise on a loaded 2-core ASan build
W_OVER_MS = 250     # W includes building the request and the callback
FIRST_MS, MAX_MS = 1000, 4000
GOOD_LATENCY_S = 1.5
PROBE_S = 12.0      # how long the healthy target is probed
PROBE_EVERY_S = 0.4

BODY = ('{"event": "{{event}}", "agent": "{{payload.id}}", '
        '"rule": "{{rule}}"}\n')
RETRY = 'retry = { first = "1s"; max = "4s"; give_up_after = "1h"; };'

SCENARIOS = ["down", "ra_secs", "ra_date", "ra_past", "ra_huge", "perm",
             "gone", "redirect", "reset", "hang"]
HANG_JOBS = 3
PAST_DATE = "Wed, 21 Oct 2015 07:28:00 GMT"


def event_for(name):
    """A unique envelope whose hostname routes it to target `name`."""
    body = json.loads(harness.unique_envelope("Agent.Create"))
    body["payload"]["hostname"] = name
    return json.dumps(body, separators=(",", ":")).encode()


def backoff_ms(n):
    """The un-jittered wait before attempt n + 1."""
    return min(FIRST_MS * 2 ** (n - 1), MAX_MS)


class Sampler(threading.Thread):
    """Reads the bad targets' jobs from the store every 50 ms: for each
    (job, attempts) seen pending, the next_at the daemon chose.  Also
    brings the 'down' PSA back once its job has failed three times."""

    def __init__(self, d, on_sample):
        super().__init__(daemon=True, name="sampler")
        self.d = d
        self.on_sample = on_sample
        self.next_at = {}       # (job id, attempts) -> next_at (ms)
        self.max_inflight = {}  # target -> most jobs seen inflight at once
        self.stop_ev = threading.Event()
        self.errors = []

    def run(self):
        while not self.stop_ev.wait(0.05):
            try:
                rows = self.d.query(
                    "SELECT id, target, state, attempts, next_at FROM jobs "
                    "WHERE target <> 'good'")
            except sqlite3.Error as e:  # busy during a checkpoint: retry
                self.errors.append(str(e))
                continue
            inflight = {}
            for jid, target, state, attempts, next_at in rows:
                if state == "pending" and attempts > 0:
                    self.next_at.setdefault((jid, attempts), next_at)
                if state == "inflight":
                    inflight[target] = inflight.get(target, 0) + 1
            for t, n in inflight.items():
                self.max_inflight[t] = max(self.max_inflight.get(t, 0), n)
            try:
                self.on_sample(rows)
            except Exception as e:  # reported by the 'down' test
                self.errors.append("on_sample: %r" % e)


class Prober(threading.Thread):
    """Posts an event for the healthy target every PROBE_EVERY_S for
    PROBE_S seconds; records (agent id, monotonic time of the 202)."""

    def __init__(self, d):
        super().__init__(daemon=True, name="prober")
        self.d = d
        self.sent = []
        self.failures = []
        self.stop_ev = threading.Event()

    def run(self):
        end = time.monotonic() + PROBE_S
        while time.monotonic() < end and not self.stop_ev.is_set():
            body = event_for("good")
            agent = json.loads(body)["payload"]["id"]
            try:
                r = self.d.post(body)
                if r.status != 202:
                    self.failures.append(r)
                else:
                    self.sent.append((agent, time.monotonic()))
            except OSError as e:
                self.failures.append(e)
            self.stop_ev.wait(PROBE_EVERY_S)


class OutageTest(DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        cls.psa = FakePSA().start()
        cls.down_port = harness.free_port()
        cls.down_psa = None
        cls.down_lock = threading.Lock()
        cls.d = Daemon()
        cls.shared_daemons = (cls.d,)
        try:
            cls._script()
            cls._configure()
            cls.d.start()
            cls.sampler = Sampler(cls.d, cls._bring_down_back)
            cls.sampler.start()
            cls.jobs = {}
            cls.t_post = time.monotonic()
            for name in SCENARIOS:
                n = HANG_JOBS if name == "hang" else 1
                cls.jobs[name] = [cls._post(event_for(name))
                                  for _ in range(n)]
            cls.prober = Prober(cls.d)
            cls.prober.start()
        except Exception:
            cls._teardown()
            raise

    @classmethod
    def tearDownClass(cls):
        cls._teardown()

    @classmethod
    def _teardown(cls):
        for t in ("prober", "sampler"):
            th = getattr(cls, t, None)
            if th is not None:
                th.stop_ev.set()
                th.join(10)
        cls.d.close()
        cls.psa.stop()
        if cls.down_psa is not None:
            cls.down_psa.stop()

    @classmethod
    def _script(cls):
        p = cls.psa

        def date_in_3s(r):
            return {"status": 429, "headers": {"Retry-After":
                    email.utils.formatdate(time.time() + 3, usegmt=True)}}

        p.script("/ra_secs", [{"status": 429,
                               "headers": {"Retry-After": "2"}}])
        p.script("/ra_date", [date_in_3s])
        p.script("/ra_past", [{"status": 429,
                               "headers": {"Retry-After": PAST_DATE}}])
        p.script("/ra_huge", [
            {"status": 429, "headers": {"Retry-After": "1000000000000"}},
            {"status": 429,
             "headers": {"Retry-After": "99999999999999999999999"}}])
        p.script("/perm", [{"status": 422, "body": {"error": "bad field"}}])
        p.script("/gone", [410])
        p.script("/redirect", [
            {"status": 301, "headers": {"Location": p.url + "/elsewhere"}},
            {"status": 307, "headers": {"Location": p.url + "/elsewhere"}}])
        p.script("/reset", [{"reset": True}])
        p.script("/hang", [{"hang": True, "count": 2}])
        # everything else, /good included: 200

    @classmethod
    def _configure(cls):
        d = cls.d
        tdir = os.path.join(d.etc, "templates")
        os.makedirs(tdir)
        with open(os.path.join(tdir, "body.json.mustache"), "w") as f:
            f.write(BODY)
        targets, rules = [], []
        for name in SCENARIOS + ["good"]:
            url = ("http://127.0.0.1:%d/down" % cls.down_port
                   if name == "down" else cls.psa.url + "/" + name)
            extra = ('timeout = "2s"; max_in_flight = 2;'
                     if name == "hang" else "")
            targets.append('{ name = "%s"; type = "webhook"; url = "%s"; '
                           'body = "body"; %s %s }'
                           % (name, url, RETRY, extra))
            rules.append('{ name = "to-%s"; match = [ "payload.hostname = '
                         '%s" ];\n  actions = ( { target = "%s"; action = '
                         '"notify"; } ); }' % (name, name, name))
        d.write_config(d.config_text() + 'templates_dir = "templates";\n'
                       'targets = (\n  ' + ",\n  ".join(targets) +
                       "\n);\nrules = (\n  " + ",\n  ".join(rules) + "\n);\n")

    @classmethod
    def _post(cls, body):
        r = cls.d.post(body)
        if r.status != 202:
            raise AssertionError("POST: %r" % r)
        eid = r.json()["id"]
        ev = json.loads(harness.http_request(
            cls.d.admin_port, "GET", "/api/v1/events/" + eid, None,
            cls.d.auth(cls.d.admin_token)).body)
        [job] = ev["jobs"]
        return job["id"]

    @classmethod
    def _bring_down_back(cls, rows):
        with cls.down_lock:
            if cls.down_psa is not None:
                return
            for jid, target, state, attempts, _ in rows:
                if target == "down" and attempts >= 3:
                    cls.down_psa = FakePSA(cls.down_port).start()
                    cls.t_down_back = time.time()

    # -- helpers --

    def job(self, jid):
        r = harness.http_request(self.d.admin_port, "GET",
                                 "/api/v1/jobs/" + jid, None,
                                 self.d.auth(self.d.admin_token))
        self.assertEqual(r.status, 200, r)
        return r.json()

    def wait_job(self, jid, states=("done",), timeout=20.0):
        deadline = time.monotonic() + timeout
        while True:
            j = self.job(jid)
            if j["state"] in states:
                return j
            if time.monotonic() > deadline:
                self.fail("job %s is %r, not in %r after %.0f s: %r"
                          % (jid, j["state"], states, timeout, j))
            time.sleep(0.1)

    def target_state(self, name):
        r = harness.http_request(self.d.admin_port, "GET", "/api/v1/targets",
                                 None, self.d.auth(self.d.admin_token))
        self.assertEqual(r.status, 200, r)
        return {t["name"]: t for t in r.json()}[name]["state"]

    def outcomes(self, j):
        return [(a.get("status") or 0, a["outcome"]) for a in j["attempts"]]

    def chosen_wait(self, j, n):
        """W after attempt n (1-based): next_at - end of the attempt."""
        a = j["attempts"][n - 1]
        key = (j["id"], n)
        self.assertIn(key, self.sampler.next_at,
                      "the sampler never saw job %s pending after attempt "
                      "%d (sampler errors: %r)"
                      % (j["id"], n, self.sampler.errors[-3:]))
        return self.sampler.next_at[key] - (a["started_at"] +
                                            a["duration_ms"])

    def gap(self, j, n):
        """Seconds from the end of attempt n to the start of n + 1."""
        a, b = j["attempts"][n - 1], j["attempts"][n]
        return (b["started_at"] - a["started_at"] - a["duration_ms"]) / 1e3

    def assertWait(self, j, n, lo_ms, hi_ms, what):
        w = self.chosen_wait(j, n)
        self.assertGreaterEqual(w, lo_ms - 5, "%s: W=%d ms after attempt "
                                "%d: %r" % (what, w, n, j))
        self.assertLessEqual(w, hi_ms + W_OVER_MS, "%s: W=%d ms after "
                             "attempt %d: %r" % (what, w, n, j))
        g = self.gap(j, n)
        self.assertGreaterEqual(g, lo_ms / 1e3 - 0.05, "%s: gap %.2f s "
                                "after attempt %d: %r" % (what, g, n, j))
        self.assertLessEqual(g, hi_ms / 1e3 + TICK + SLACK, "%s: gap %.2f s "
                             "after attempt %d: %r" % (what, g, n, j))

    def assertBackoff(self, j, n, what):
        d = backoff_ms(n)
        self.assertWait(j, n, d / 2, d, what)

    # -- the scenarios --

    def test_down_then_back_retries_on_schedule_and_delivers(self):
        [jid] = self.jobs["down"]
        j = self.wait_job(jid, timeout=25)
        self.assertIsNotNone(self.down_psa, "the PSA was never brought back")
        att = j["attempts"]
        self.assertEqual([a["outcome"] for a in att],
                         ["retry"] * 3 + ["done"], j)
        for a in att[:3]:
            self.assertIn(a.get("status") or 0, (0,), j)
            self.assertTrue(a.get("error"), j)
        for n in (1, 2, 3):
            self.assertBackoff(j, n, "refused")
        # Back after attempt 3: attempt 4 is the one that got through.
        self.assertGreater(att[3]["started_at"] / 1e3,
                           self.t_down_back - 0.1, j)
        self.assertEqual(len(self.down_psa.requests("/down")), 1)

    def test_429_retry_after_seconds_is_waited_exactly(self):
        [jid] = self.jobs["ra_secs"]
        j = self.wait_job(jid)
        self.assertEqual(self.outcomes(j), [(429, "retry"), (200, "done")], j)
        self.assertWait(j, 1, 2000, 2000, "Retry-After: 2")

    def test_429_retry_after_http_date_is_waited_until(self):
        [jid] = self.jobs["ra_date"]
        j = self.wait_job(jid)
        self.assertEqual(self.outcomes(j), [(429, "retry"), (200, "done")], j)
        # The date is now + 3 s cut to a whole second: 2-3 s from now.
        self.assertWait(j, 1, 1800, 3000, "Retry-After: <now + 3 s>")

    def test_429_retry_after_in_the_past_counts_as_first(self):
        [jid] = self.jobs["ra_past"]
        j = self.wait_job(jid)
        self.assertEqual(self.outcomes(j), [(429, "retry"), (200, "done")], j)
        # Exactly first: a jittered backoff would be 500-1000 ms, an
        # unclamped negative wait 0 ms or less.
        self.assertWait(j, 1, FIRST_MS, FIRST_MS, "Retry-After: " + PAST_DATE)

    def test_429_absurd_retry_after_is_clamped_to_max(self):
        [jid] = self.jobs["ra_huge"]
        j = self.wait_job(jid, timeout=25)
        self.assertEqual(self.outcomes(j), [(429, "retry"), (429, "retry"),
                                            (200, "done")], j)
        self.assertWait(j, 1, MAX_MS, MAX_MS, "Retry-After: 10^12")
        self.assertWait(j, 2, MAX_MS, MAX_MS, "Retry-After: 10^23")

    def test_permanent_4xx_is_dead_at_once_and_target_stays_ok(self):
        [jid] = self.jobs["perm"]
        j = self.wait_job(jid, states=("dead",), timeout=10)
        self.assertEqual(self.outcomes(j), [(422, "dead")], j)
        self.assertIn("HTTP 422", j.get("last_error", ""), j)
        time.sleep(FIRST_MS / 1e3 + TICK + SLACK)
        self.assertEqual(len(self.psa.requests("/perm")), 1, "retried")
        self.assertEqual(self.job(jid)["state"], "dead")
        self.assertNotEqual(self.target_state("perm"), "disabled")
        j2 = self.wait_job(self._post(event_for("perm")), timeout=5)
        self.assertEqual(self.outcomes(j2), [(200, "done")], j2)

    def test_410_is_dead_and_disables_the_target(self):
        [jid] = self.jobs["gone"]
        j = self.wait_job(jid, states=("dead",), timeout=10)
        self.assertEqual(self.outcomes(j), [(410, "dead")], j)
        self.assertEqual(self.target_state("gone"), "disabled")
        j2 = self._post(event_for("gone"))
        time.sleep(TICK + SLACK + 1.0)
        self.assertEqual(len(self.psa.requests("/gone")), 1,
                         "a disabled target was sent to")
        self.assertEqual(self.job(j2)["state"], "pending")
        r = harness.http_request(self.d.admin_port, "POST",
                                 "/api/v1/targets/gone/enable", b"",
                                 self.d.auth(self.d.admin_token))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.outcomes(self.wait_job(j2, timeout=5)),
                         [(200, "done")])
        self.assertEqual(self.job(jid)["state"], "dead")

    def test_3xx_is_a_failed_attempt_never_followed(self):
        [jid] = self.jobs["redirect"]
        j = self.wait_job(jid)
        self.assertEqual(self.outcomes(j), [(301, "retry"), (307, "retry"),
                                            (200, "done")], j)
        for n, st in ((1, 301), (2, 307)):
            err = j["attempts"][n - 1].get("error", "")
            self.assertIn(str(st), err, j)
            self.assertIn("/elsewhere", err, "Location kept in the error")
            self.assertBackoff(j, n, "HTTP %d" % st)
        self.assertEqual(self.psa.requests("/elsewhere"), [])

    def test_reset_mid_response_is_retried(self):
        [jid] = self.jobs["reset"]
        j = self.wait_job(jid)
        self.assertEqual(self.outcomes(j), [(0, "retry"), (200, "done")], j)
        self.assertTrue(j["attempts"][0].get("error"), j)
        self.assertBackoff(j, 1, "reset")
        self.assertEqual([r.outcome for r in self.psa.requests("/reset")],
                         ["reset", "answered"])

    def test_hung_psa_times_out_within_max_in_flight(self):
        jids = self.jobs["hang"]
        self.wait_job(jids[-1])
        # The test runs after others: judge from the recorded times.  The
        # two hung requests held both slots, so the third job's first
        # request came only once a timeout (2 s) freed one.
        reqs = self.psa.requests("/hang")
        hung = [r for r in reqs if r.outcome == "hang"]
        self.assertEqual(len(hung), 2, reqs)
        later = [r for r in reqs if r.outcome != "hang"]
        self.assertGreaterEqual(min(r.mono for r in later),
                                min(r.mono for r in hung) + 1.9,
                                "a third request while two hang "
                                "(max_in_flight = 2): %r" % reqs)
        js = [self.wait_job(jid) for jid in jids]
        timed_out = [j for j in js if j["attempts"][0]["outcome"] == "retry"]
        self.assertEqual(len(timed_out), 2, js)
        for j in timed_out:
            a = j["attempts"][0]
            self.assertNotIn(a.get("status") or 0, range(1, 1000), j)
            self.assertGreaterEqual(a["duration_ms"], 1950, j)
            self.assertLessEqual(a["duration_ms"], 2000 + 1000 * SLACK, j)
            self.assertRegex(a.get("error", "").lower(), r"time[d ]*out", j)
            self.assertEqual(self.outcomes(j), [(0, "retry"), (200, "done")])
            self.assertBackoff(j, 1, "timeout")
        # The daemon's own record agrees: never more than 2 at once.
        spans = [(a["started_at"], a["started_at"] + a["duration_ms"])
                 for j in js for a in j["attempts"]]
        most = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
        self.assertLessEqual(most, 2, spans)
        self.assertLessEqual(self.sampler.max_inflight.get("hang", 0), 2)

    def test_healthy_target_is_not_slowed(self):
        self.prober.join(PROBE_S + 10)
        self.assertFalse(self.prober.is_alive())
        self.assertEqual(self.prober.failures, [])
        sent = self.prober.sent
        self.assertGreaterEqual(len(sent), PROBE_S / (PROBE_EVERY_S + 0.5))
        deadline = time.monotonic() + GOOD_LATENCY_S + 1
        while time.monotonic() < deadline:
            got = {r.json()["agent"]: r for r in self.psa.requests("/good")}
            if all(a in got for a, _ in sent):
                break
            time.sleep(0.1)
        late, lats = [], []
        for agent, t_ack in sent:
            r = got.get(agent)
            lat = (r.mono - t_ack) if r else None
            lats.append(lat if lat is not None else float("inf"))
            if lat is None or lat > GOOD_LATENCY_S:
                late.append((agent, lat and round(lat, 2),
                             round(t_ack - self.t_post, 2)))
        sys.stderr.write("outage: healthy target, %d jobs, latency after "
                         "the 202 at most %.3f s\n" % (len(sent), max(lats)))
        self.assertEqual(late, [], "healthy-target jobs late (agent, "
                         "latency s, posted at s): %d of %d"
                         % (len(late), len(sent)))
        self.assertEqual(len(self.psa.requests("/good")), len(sent),
                         "a healthy-target job was sent twice")


if __name__ == "__main__":
    unittest.main()
