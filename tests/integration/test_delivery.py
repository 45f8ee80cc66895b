#!/usr/bin/env python3
"""Delivery through the real binary (deliver.h): outcomes, retries with
backoff and Retry-After, 410 disables, ordering per correlation key,
at-least-once across kill -9, Standard Webhooks signatures checked with the
openssl CLI, header injection refused, the file target, /metrics and
replay.  Every webhook target points at a FakePSA on loopback; retry
settings are short (first = "1s") so that the suite stays quick.
"""

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from harness import DaemonTestCase, fixture  # noqa: E402
from fakepsa import FakePSA  # noqa: E402

harness.check_env()

TOP = os.path.dirname(os.path.dirname(HERE))

# A JSON body naming the event, so that each request can be told apart.
BODY = ('{"event": "{{event}}", "agent": "{{payload.id}}", '
        '"host": "{{payload.hostname}}", "rule": "{{rule}}"}\n')

# The delivery tick is 1 s: a job due at T is taken at the first tick
# after T, so a wait measured at the receiver is up to ~1 s longer than the
# one the daemon chose; SLACK covers scheduling noise (sanitizer builds).
TICK = 1.0
# under valgrind (ctest label valgrind) every step is several times slower
SLACK = 1.5 if os.environ.get("PSABRIDGE_VALGRIND") else 0.4


def webhook(name, url, body="body", first="1s", max_="8s", give_up=None,
            extra=""):
    gu = ' give_up_after = "%s";' % give_up if give_up else ""
    return ('{ name = "%s"; type = "webhook"; url = "%s"; body = "%s";\n'
            '  retry = { first = "%s"; max = "%s";%s }; %s }'
            % (name, url, body, first, max_, gu, extra))


def rule(name, event, target, template="body", action="notify",
         correlate=None):
    corr = ' correlate = "%s";' % correlate if correlate else ""
    return ('{ name = "%s"; match = [ "event = %s" ];\n'
            '  actions = ( { target = "%s"; action = "%s"; template = "%s";%s'
            ' } ); }' % (name, event, target, action, template, corr))


def agent_event(event="Agent.Create", agent=None, hostname=None):
    """A unique envelope; agent and hostname as asked."""
    body = json.loads(harness.unique_envelope(event))
    if agent is not None:
        body["payload"]["id"] = agent
    if hostname is not None:
        body["payload"]["hostname"] = hostname
    return json.dumps(body, separators=(",", ":")).encode()


def metric(text, name, **labels):
    """The value of one sample in Prometheus text, or None."""
    for ln in text.splitlines():
        if ln.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$", ln)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"',
                              m.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    return None


class DeliveryTest(DaemonTestCase):

    # -- set-up --

    def fake(self):
        f = FakePSA().start()
        self.addCleanup(f.stop)
        return f

    def bridge(self, targets, rules, templates=None, start=True, files=None):
        """A daemon with targets and rules; templates {name: text} in
        etc/templates (default: body.json.mustache = BODY)."""
        d = self.daemon(start=False)
        tdir = os.path.join(d.etc, "templates")
        os.makedirs(tdir, exist_ok=True)
        for name, text in (templates or {"body.json.mustache": BODY}).items():
            with open(os.path.join(tdir, name), "w") as f:
                f.write(text)
        for name, value in (files or {}).items():
            harness.write_secret(os.path.join(d.etc, name), value)
        d.write_config(self.config_text(d, targets, rules))
        if start:
            d.start()
        return d

    def config_text(self, d, targets, rules):
        return (d.config_text() + 'templates_dir = "templates";\n'
                'targets = (\n  ' + ",\n  ".join(targets) + "\n);\n"
                'rules = (\n  ' + ",\n  ".join(rules) + "\n);\n")

    # -- admin API --

    def api(self, d, method, path, token=True):
        hdrs = d.auth(d.admin_token) if token else {}
        return harness.http_request(d.admin_port, method, path,
                                    b"" if method == "POST" else None, hdrs)

    def api_json(self, d, method, path):
        r = self.api(d, method, path)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def post(self, d, body):
        """POSTs an event; returns (event id, [job ids])."""
        eid = self.assertQueued(d.post(body))
        ev = self.api_json(d, "GET", "/api/v1/events/" + eid)
        return eid, [j["id"] for j in ev["jobs"]]

    def job(self, d, jid):
        return self.api_json(d, "GET", "/api/v1/jobs/" + jid)

    def wait_job(self, d, jid, states=("done",), timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            j = self.job(d, jid)
            if j["state"] in states:
                return j
            if time.monotonic() > deadline:
                self.fail("job %s is %r, not in %r after %.0f s: %r"
                          % (jid, j["state"], states, timeout, j))
            time.sleep(0.1)

    def targets(self, d):
        return {t["name"]: t for t in self.api_json(d, "GET",
                                                     "/api/v1/targets")}

    # -- the tests --

    def test_500_three_times_then_200_retries_with_growing_gaps(self):
        psa = self.fake()
        psa.script("/hook", [{"status": 500, "count": 3}])
        d = self.bridge([webhook("hook", psa.url + "/hook")],
                        [rule("all", "Agent.Create", "hook")])
        _, [jid] = self.post(d, agent_event())
        j = self.wait_job(d, jid, timeout=20)
        reqs = psa.requests("/hook")
        self.assertEqual([r.status for r in reqs], [500, 500, 500, 200])
        self.assertEqual([a.get("status") for a in j["attempts"]],
                         [500, 500, 500, 200], j)
        self.assertEqual([a["outcome"] for a in j["attempts"]],
                         ["retry", "retry", "retry", "done"], j)
        # The wait before attempt n+1 is between d/2 and d, d = 1 s * 2^(n-1)
        # (max 8 s, not reached), plus up to one tick.
        gaps = [b.mono - a.mono for a, b in zip(reqs, reqs[1:])]
        for n, gap in enumerate(gaps, 1):
            dmax = 1.0 * 2 ** (n - 1)
            self.assertGreaterEqual(gap, dmax / 2 - 0.05,
                                    "gap %d of %r" % (n, gaps))
            self.assertLessEqual(gap, dmax + TICK + SLACK,
                                 "gap %d of %r" % (n, gaps))
        # Growing: the third wait (>= 2 s) is longer than the first
        # (<= 1 s + a tick).  gap2 > gap1 is only likely, not certain, with
        # equal jitter and a 1 s tick, so it is not asserted.
        self.assertGreater(gaps[2], gaps[0], gaps)
        time.sleep(0.3)
        self.assertEqual(len(psa.requests("/hook")), 4, "delivered twice")

    def test_429_waits_for_retry_after_while_other_targets_flow(self):
        psa = self.fake()
        psa.script("/slow", [{"status": 429, "headers": {"Retry-After": "2"},
                              "body": "slow down"}])
        d = self.bridge([webhook("slow", psa.url + "/slow"),
                         webhook("fast", psa.url + "/fast")],
                        [rule("to-slow", "Agent.Create", "slow"),
                         rule("to-fast", "Agent.Delete", "fast")])
        _, [slow_job] = self.post(d, agent_event("Agent.Create"))
        first = psa.wait_for(1, "/slow", timeout=5)[0]
        self.assertEqual(first.status, 429)
        t_post = time.monotonic()
        _, [fast_job] = self.post(d, agent_event("Agent.Delete"))
        fast = psa.wait_for(1, "/fast", timeout=5)[0]
        self.assertLessEqual(fast.mono - t_post, 1.5,
                             "the other target waited for the 429")
        self.wait_job(d, slow_job, timeout=10)
        slow = psa.requests("/slow")
        self.assertEqual([r.status for r in slow], [429, 200])
        # Retry-After: 2 is within [first 1 s, max 8 s]: no attempt before
        # 2 s; the backoff alone would have come back after 0.5-1 s.
        wait = slow[1].mono - slow[0].mono
        self.assertGreaterEqual(wait, 2.0 - 0.05,
                                "retried after %.2f s" % wait)
        self.assertLessEqual(wait, 2.0 + TICK + SLACK)
        self.assertLess(fast.mono, slow[1].mono)
        self.assertEqual(self.job(d, fast_job)["state"], "done")

    def test_400_is_dead_at_once_with_the_answer_kept(self):
        psa = self.fake()
        snippet = "invalid field: summary is required (code 4711)"
        psa.script("/hook", [{"status": 400, "body": {"error": snippet}}])
        d = self.bridge([webhook("hook", psa.url + "/hook")],
                        [rule("all", "Agent.Create", "hook")])
        _, [jid] = self.post(d, agent_event())
        j = self.wait_job(d, jid, states=("dead",), timeout=5)
        self.assertIn("HTTP 400", j.get("last_error", ""), j)
        self.assertEqual(j.get("last_status"), 400, j)
        self.assertEqual(len(j["attempts"]), 1, j)
        a = j["attempts"][0]
        self.assertEqual((a.get("status"), a["outcome"]), (400, "dead"), j)
        self.assertIn(snippet, a.get("response", ""), j)
        # A retry would come within first (1 s) + a tick.
        time.sleep(TICK + 1.0 + SLACK)
        self.assertEqual(len(psa.requests("/hook")), 1)
        self.assertEqual(self.job(d, jid)["state"], "dead")

    def test_400_snippet_in_queue_show(self):
        if harness.run_cli(["queue", "--help"]).returncode != 0:
            self.skipTest("no `psabridge queue` command in this binary yet "
                          "(queue --help does not exit 0): queue show not "
                          "checked")
        psa = self.fake()
        snippet = "invalid field: priority must be one of 1..5"
        psa.script("/hook", [{"status": 400, "body": snippet}])
        # The CLI reads admin.listen from the config: it needs a fixed port.
        d = self.bridge([webhook("hook", psa.url + "/hook")],
                        [rule("all", "Agent.Create", "hook")], start=False)
        with open(d.cfg_path) as f:
            text = f.read()
        d.write_config(text.replace(
            'listen = "127.0.0.1:0"; token',
            'listen = "127.0.0.1:%d"; token' % harness.free_port()))
        d.start()
        _, [jid] = self.post(d, agent_event())
        self.wait_job(d, jid, states=("dead",), timeout=5)
        p = harness.run_cli(["queue", "show", "-c", d.cfg_path, jid],
                            cwd=d.cwd)
        self.assertEqual(p.returncode, 0, p)
        self.assertRegex(p.stdout, r"\n\s+status\s+400\n", p)
        self.assertRegex(p.stdout, r"\n\s+error\s+HTTP 400\n", p)
        self.assertIn(snippet, p.stdout, p)

    def test_job_and_event_documents_have_no_duplicate_keys(self):
        psa = self.fake()
        d = self.bridge([webhook("hook", psa.url + "/hook")],
                        [rule("all", "Agent.Create", "hook")])
        eid, [jid] = self.post(d, agent_event())
        self.wait_job(d, jid)

        def pairs(kv):
            names = [k for k, _ in kv]
            dup = sorted(set(k for k in names if names.count(k) > 1))
            self.assertEqual(dup, [], "duplicate keys in %r" % r.body)
            return dict(kv)

        for path in ["/api/v1/jobs/" + jid, "/api/v1/events/" + eid,
                     "/api/v1/jobs"]:
            r = self.api(d, "GET", path)
            self.assertEqual(r.status, 200, r)
            json.loads(r.body, object_pairs_hook=pairs)

    def test_302_is_a_failed_attempt_not_followed(self):
        psa = self.fake()
        psa.script("/hook", [{"status": 302, "headers": {
            "Location": psa.url + "/elsewhere"}}])
        d = self.bridge([webhook("hook", psa.url + "/hook")],
                        [rule("all", "Agent.Create", "hook")])
        _, [jid] = self.post(d, agent_event())
        j = self.wait_job(d, jid, timeout=8)
        self.assertEqual([(a.get("status"), a["outcome"])
                          for a in j["attempts"]],
                         [(302, "retry"), (200, "done")], j)
        self.assertIn("302", j["attempts"][0].get("error", ""), j)
        self.assertEqual([r.path for r in psa.requests()], ["/hook"] * 2)
        self.assertEqual(psa.requests("/elsewhere"), [])

    def test_410_disables_the_target_until_enabled(self):
        psa = self.fake()
        psa.script("/gone", [410])
        d = self.bridge([webhook("gone", psa.url + "/gone")],
                        [rule("all", "Agent.Create", "gone")])
        _, [j1] = self.post(d, agent_event())
        j = self.wait_job(d, j1, states=("dead",), timeout=5)
        self.assertIn("HTTP 410", j.get("last_error", ""), j)
        self.assertEqual(self.targets(d)["gone"]["state"], "disabled")
        _, [j2] = self.post(d, agent_event())
        time.sleep(TICK + SLACK + 0.5)
        self.assertEqual(len(psa.requests("/gone")), 1,
                         "a disabled target was sent to")
        self.assertEqual(self.job(d, j2)["state"], "pending")
        # Disabled is kept in the store: still so after a restart.
        self.assertEqual(d.stop(), 0)
        d.start()
        # "starting" until the stored states are read
        deadline = time.monotonic() + 5
        while (self.targets(d)["gone"]["state"] == "starting"
               and time.monotonic() < deadline):
            time.sleep(0.05)
        self.assertEqual(self.targets(d)["gone"]["state"], "disabled")
        time.sleep(TICK + SLACK)
        self.assertEqual(len(psa.requests("/gone")), 1)
        r = self.api(d, "POST", "/api/v1/targets/gone/enable")
        self.assertEqual(r.status, 200, r)
        self.wait_job(d, j2, timeout=5)
        self.assertEqual(self.targets(d)["gone"]["state"], "ok")
        self.assertEqual(self.job(d, j1)["state"], "dead")
        self.assertEqual(len(psa.requests("/gone")), 2)
        r = self.api(d, "POST", "/api/v1/targets/nosuch/enable")
        self.assertEqual(r.status, 404, r)

    def test_outage_ingest_unaffected_and_order_per_key_kept(self):
        psa = self.fake()
        # The target answers 503 for 5 s (an outage of a minute would make
        # the suite slow; the rules are the same).
        down_until = [time.monotonic() + 5.0]
        psa.default(lambda r: 503 if time.monotonic() < down_until[0]
                    else None)
        agent = "corr-%d" % os.getpid()
        corr = "agent:{{payload.id}}"
        d = self.bridge([webhook("hook", psa.url + "/hook", max_="2s")],
                        [rule("created", "Agent.Create", "hook",
                              action="create", correlate=corr),
                         rule("deleted", "Agent.Delete", "hook",
                              action="close", correlate=corr)])
        down_until[0] = time.monotonic() + 5.0
        jobs = []
        t0 = time.monotonic()
        _, [create] = self.post(d, agent_event("Agent.Create", agent))
        for i in range(12):
            t = time.monotonic()
            _, js = self.post(d, agent_event("Agent.Create"))
            self.assertLess(time.monotonic() - t, 1.0, "ingest slowed down")
            jobs += js
            if i == 2:
                _, [close] = self.post(d, agent_event("Agent.Delete", agent))
            time.sleep(0.15)
        self.assertLess(time.monotonic(), down_until[0],
                        "the events were not all sent during the outage")
        psa.wait_for(3, "/hook", timeout=5)
        self.assertEqual({r.status for r in psa.requests()
                          if r.mono < down_until[0] - 0.1 and r.status},
                         {503})
        m = self.api(d, "GET", "/metrics")
        self.assertEqual(m.status, 200, m)
        text = m.body.decode()
        age = metric(text, "psabridge_oldest_pending_seconds", target="hook")
        self.assertIsNotNone(age, text)
        self.assertGreater(age, 0.5, text)
        self.assertLess(age, time.monotonic() - t0 + 2, text)
        self.assertGreaterEqual(
            (metric(text, "psabridge_jobs", target="hook", state="pending")
             or 0) + (metric(text, "psabridge_jobs", target="hook",
                             state="inflight") or 0), 1, text)
        self.assertGreaterEqual(metric(text, "psabridge_attempts_total",
                                       target="hook", outcome="retry"), 1,
                                text)
        for jid in [create, close] + jobs:
            self.wait_job(d, jid, timeout=15)
        ok = [r for r in psa.requests() if r.status == 200]
        self.assertEqual(len(ok), len(jobs) + 2,
                         "each job delivered once: %r" % ok)
        mine = [(r.json()["event"], r.status) for r in psa.requests()
                if r.json()["agent"] == agent]
        first_close = [e for e, _ in mine].index("Agent.Delete")
        self.assertEqual(mine[first_close - 1], ("Agent.Create", 200), mine)
        self.assertEqual(set(e for e, _ in mine[first_close:]),
                         {"Agent.Delete"}, mine)
        m = self.api(d, "GET", "/metrics")
        self.assertIsNone(metric(m.body.decode(),
                                 "psabridge_oldest_pending_seconds",
                                 target="hook"), m)

    def test_kill_9_in_flight_then_every_job_delivered(self):
        psa = self.fake()
        psa.default({"hang": True})
        key = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        d = self.bridge([webhook("hook", psa.url + "/hook",
                                 extra='max_in_flight = 3; '
                                 'signing_secret = "file:sign.key";')],
                        [rule("all", "Agent.Create", "hook")],
                        files={"sign.key": key})
        jobs = []
        for _ in range(8):
            jobs += self.post(d, agent_event())[1]
        psa.wait_for(3, "/hook", timeout=5)
        time.sleep(0.5)
        hung = psa.requests("/hook")
        self.assertEqual(len(hung), 3, "max_in_flight = 3: %r" % hung)
        in_flight = {r.header("webhook-id") for r in hung}
        self.assertLessEqual(in_flight, set(jobs))
        d.kill()
        psa.default(200)
        psa.release()
        mark = d.log_mark()
        d.start()
        d.wait_for_log(r'msg="jobs in flight at the last stop are sent '
                       r'again" jobs=3\b', since=mark)
        for jid in jobs:
            self.wait_job(d, jid, timeout=10)
        reqs = psa.requests("/hook")
        for jid in jobs:
            mine = [r for r in reqs if r.header("webhook-id") == jid]
            self.assertEqual([r.status for r in mine if r.status],
                             [200], (jid, mine))
            self.assertEqual(len(mine), 2 if jid in in_flight else 1,
                             (jid, mine))

    def test_signature_verifies_with_openssl(self):
        openssl = shutil.which("openssl")
        if openssl is None:
            self.skipTest("no openssl CLI to check signatures with")
        psa = self.fake()
        psa.script("/hook", [500])
        raw = os.urandom(32)
        key = "whsec_" + base64.b64encode(raw).decode()
        d = self.bridge([webhook("hook", psa.url + "/hook",
                                 extra='signing_secret = "file:sign.key";')],
                        [rule("all", "Agent.Create", "hook")],
                        files={"sign.key": key})
        _, [jid] = self.post(d, agent_event())
        self.wait_job(d, jid, timeout=8)
        reqs = psa.requests("/hook")
        self.assertEqual([r.status for r in reqs], [500, 200])

        def hmac_b64(k, msg):
            p = subprocess.run([openssl, "dgst", "-sha256", "-mac", "HMAC",
                                "-macopt", "hexkey:" + k.hex(), "-binary"],
                               input=msg, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=10)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(len(p.stdout), 32)
            return base64.b64encode(p.stdout).decode()

        for r in reqs:
            wid, ts = r.header("webhook-id"), r.header("webhook-timestamp")
            sig = r.header("webhook-signature")
            self.assertEqual(wid, jid, "webhook-id is the job id on every "
                             "attempt")
            self.assertRegex(ts, r"^[0-9]+$")
            self.assertLess(abs(int(ts) - time.time()), 60)
            self.assertTrue(sig.startswith("v1,"), sig)
            msg = ("%s.%s." % (wid, ts)).encode() + r.body
            self.assertEqual(sig[3:], hmac_b64(raw, msg), r)
            self.assertNotEqual(sig[3:], hmac_b64(os.urandom(32), msg))
            self.assertEqual(json.loads(r.body)["rule"], "all")

    def test_line_break_in_a_templated_header_fails_the_job(self):
        psa = self.fake()
        d = self.bridge([webhook("hook", psa.url + "/hook",
                                 extra='headers = [ "X-Host: '
                                 '{{payload.hostname}}" ];')],
                        [rule("all", "Agent.Create", "hook")])
        _, [bad] = self.post(d, agent_event(
            hostname="evil\r\nX-Injected: yes"))
        j = self.wait_job(d, bad, states=("dead",), timeout=5)
        self.assertIn("line break", j.get("last_error", ""), j)
        self.assertEqual(len(j["attempts"]), 1, j)
        self.assertNotIn("status", j["attempts"][0], j)
        # The same target sends a clean value, and only that.
        _, [good] = self.post(d, agent_event(hostname="clean-host"))
        self.wait_job(d, good, timeout=5)
        reqs = psa.requests()
        self.assertEqual([r.header("X-Host") for r in reqs], ["clean-host"])
        self.assertTrue(all(r.header("X-Injected") is None for r in reqs))

    def test_file_target_gets_one_json_line_per_job(self):
        d = self.daemon(start=False)
        shutil.copytree(os.path.join(TOP, "templates"),
                        os.path.join(d.etc, "templates"))
        corr = "agent:{{payload.id}}"
        d.write_config(self.config_text(d, [
            '{ name = "psa"; type = "file"; path = "var/tickets.jsonl"; }'], [
            rule("agent-uninstalled", "Agent.Uninstall", "psa",
                 "agent-uninstalled", "create", corr),
            rule("agent-reinstalled", "Agent.Reinstall", "psa",
                 "agent-reinstalled", "close", corr),
            rule("unblock-request", "UserRequest.Create", "psa",
                 "user-request", "create", "userrequest:{{payload.id}}")]))
        d.start()
        posted = []
        for name in ["agent-uninstall", "agent-reinstall",
                     "userrequest-create"]:
            eid, [jid] = self.post(d, fixture(name))
            posted.append((eid, jid))
        for _, jid in posted:
            self.wait_job(d, jid, timeout=5)
        with open(os.path.join(d.state_dir, "tickets.jsonl")) as f:
            lines = f.read().split("\n")
        self.assertEqual(lines[-1], "", "the file ends with a newline")
        rows = [json.loads(ln) for ln in lines[:-1]]
        self.assertEqual(len(rows), 3, rows)
        self.assertEqual([(r["event"], r["job"]) for r in rows], posted)
        agent = "agent:fdceb72a-c274-4844-8b74-a0c74a8018e5"
        self.assertEqual([(r["target"], r["rule"], r["action"],
                           r["correlate"]) for r in rows],
                         [("psa", "agent-uninstalled", "create", agent),
                          ("psa", "agent-reinstalled", "close", agent),
                          ("psa", "unblock-request", "create",
                           "userrequest:1650")])
        for r in rows:
            self.assertEqual(set(r), {"job", "event", "target", "rule",
                                      "action", "correlate", "ticket"}, r)
            t = r["ticket"]
            self.assertTrue(t["summary"] and t["priority"], r)
            self.assertTrue(t["description"].strip(), r)
        t = [r["ticket"] for r in rows]
        self.assertEqual(t[0]["priority"], "high")
        self.assertIn("uninstalled from WIN10-4", t[0]["summary"])
        self.assertIn("reinstalled on WIN10-4", t[1]["summary"])
        self.assertIn("monster.com", t[2]["summary"])
        self.assertIn("Request id: 1650", t[2]["description"])

    def test_metrics_count_attempts_and_need_the_token(self):
        psa = self.fake()
        psa.script("/down", [{"status": 503, "count": 100}])
        d = self.bridge([webhook("ok", psa.url + "/ok"),
                         webhook("down", psa.url + "/down", first="5s",
                                 max_="5s")],
                        [rule("to-ok", "Agent.Create", "ok"),
                         rule("to-down", "Agent.Delete", "down")])
        for r in (self.api(d, "GET", "/metrics", token=False),
                  harness.http_request(d.admin_port, "GET", "/metrics", None,
                                       d.auth("wrong" + d.admin_token))):
            self.assertEqual(r.status, 401, r)
            self.assertNotIn(b"psabridge_", r.body)
        _, [a] = self.post(d, agent_event("Agent.Create"))
        _, [b] = self.post(d, agent_event("Agent.Create"))
        _, [c] = self.post(d, agent_event("Agent.Delete"))
        self.wait_job(d, a)
        self.wait_job(d, b)
        psa.wait_for(1, "/down", timeout=5)
        deadline = time.monotonic() + 5
        while True:
            r = self.api(d, "GET", "/metrics")
            self.assertEqual(r.status, 200, r)
            self.assertTrue(r.header("Content-Type").startswith(
                "text/plain"), r)
            text = r.body.decode()
            if metric(text, "psabridge_attempts_total", target="down",
                      outcome="retry") == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(metric(text, "psabridge_attempts_total",
                                target="ok", outcome="done"), 2, text)
        self.assertEqual(metric(text, "psabridge_attempts_total",
                                target="ok", outcome="retry"), 0, text)
        self.assertEqual(metric(text, "psabridge_attempts_total",
                                target="down", outcome="retry"), 1, text)
        self.assertEqual(metric(text, "psabridge_jobs", target="ok",
                                state="done"), 2, text)
        self.assertEqual(metric(text, "psabridge_jobs", target="down",
                                state="pending"), 1, text)
        self.assertIsNone(metric(text, "psabridge_oldest_pending_seconds",
                                 target="ok"), text)
        self.assertIsNotNone(metric(text, "psabridge_oldest_pending_seconds",
                                    target="down"), text)
        self.assertIn("# TYPE psabridge_attempts_total counter", text)
        self.assertIn("# TYPE psabridge_jobs gauge", text)
        self.assertEqual(self.job(d, c)["state"], "pending")

    def test_replay_routes_again_with_the_reloaded_rules(self):
        psa = self.fake()
        tmpl = {"body.json.mustache": BODY,
                "v2.json.mustache": '{"v": 2, "rule": "{{rule}}", '
                                    '"agent": "{{payload.id}}"}'}
        targets = [webhook("hook", psa.url + "/hook")]
        d = self.bridge(targets, [rule("v1", "Agent.Create", "hook")],
                        templates=tmpl)
        eid, [j1] = self.post(d, agent_event())
        self.wait_job(d, j1)
        d.write_config(self.config_text(d, targets, [
            rule("v2", "Agent.Create", "hook", template="v2")]))
        mark = d.log_mark()
        d.signal(signal.SIGHUP)
        d.wait_for_log(r"\bmsg=reloaded\b", since=mark)
        r = self.api(d, "POST", "/api/v1/events/%s/replay" % eid)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json().get("jobs"), 1, r)
        reqs = psa.wait_for(2, "/hook", timeout=5)
        self.assertEqual(reqs[0].json()["rule"], "v1")
        self.assertEqual(reqs[1].json()["v"], 2)
        self.assertEqual(reqs[1].json()["rule"], "v2")
        ev = self.api_json(d, "GET", "/api/v1/events/" + eid)
        self.assertEqual([j["rule"] for j in ev["jobs"]], ["v1", "v2"], ev)
        self.assertEqual(ev["jobs"][0]["id"], j1)
        self.wait_job(d, ev["jobs"][1]["id"])
        r = self.api(d, "POST", "/api/v1/events/%s/replay" % (
            "0" * 8 + "-0000-7000-8000-" + "0" * 12))
        self.assertEqual(r.status, 404, r)

    def test_jobs_of_a_target_taken_out_of_the_config_are_named(self):
        psa = self.fake()
        psa.script("/gone", [{"status": 503}])
        gone = webhook("gone", psa.url + "/gone", first="60s", max_="60s")
        stay = webhook("stay", psa.url + "/stay")
        d = self.bridge([gone, stay], [rule("r", "Agent.Create", "gone")])
        eid, [job] = self.post(d, agent_event())
        psa.wait_for(1, "/gone", timeout=10)
        d.write_config(self.config_text(d, [stay], [
            rule("r", "Agent.Create", "stay")]))
        mark = d.log_mark()
        d.signal(signal.SIGHUP)
        d.wait_for_log(r'msg="jobs wait for a target that is not '
                       r'configured" target=gone state=pending jobs=1 ',
                       since=mark)
        d.restart()
        d.wait_for_log(r'msg="jobs wait for a target that is not '
                       r'configured" target=gone state=pending jobs=1 ')
        self.assertNotIn("target=stay state", d.run_log())

    def test_give_up_after_makes_a_failing_job_dead(self):
        psa = self.fake()
        psa.default(503)
        d = self.bridge([webhook("hook", psa.url + "/hook", max_="1s",
                                 give_up="2s")],
                        [rule("all", "Agent.Create", "hook")])
        _, [jid] = self.post(d, agent_event())
        j = self.wait_job(d, jid, states=("dead",), timeout=8)
        self.assertIn("gave up", j.get("last_error", ""), j)
        self.assertIn("503", j.get("last_error", ""), j)
        self.assertGreaterEqual(len(j["attempts"]), 2, j)
        self.assertEqual(j["attempts"][-1]["outcome"], "dead", j)


if __name__ == "__main__":
    unittest.main()
