#!/usr/bin/env python3
"""The web page's server side, without a browser (tests/e2e/ has the
browser): the embedded files and their headers, GET /api/v1/rules (also
after a reload), GET /api/v1/overview, and the event list's filters.
"""

import json
import os
import signal
import socket
import sys
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from harness import DaemonTestCase  # noqa: E402
from fakepsa import FakePSA  # noqa: E402

harness.check_env()

TOP = os.path.dirname(os.path.dirname(HERE))
WEB = os.path.join(TOP, "web")
MAPPED = "c062a202-e090-4e57-ba88-d74dfd2e3455"

RULES = (
    'rules = (\n'
    '  { name = "uninstalled";\n'
    '    match = [ "event = Agent.Uninstall",'
    ' "payload.platform =~ Windows|macOS" ];\n'
    '    continue = true;\n'
    '    actions = ( { target = "good"; action = "notify";'
    ' template = "body"; } ); },\n'
    '  { name = "to-bad";\n'
    '    match = [ "payload.hostname = \\"BAD HOST\\"" ];\n'
    '    actions = ( { target = "bad"; action = "notify";'
    ' template = "body"; } ); },\n'
    '  { name = "off"; enabled = false; match = [];\n'
    '    actions = ( { target = "good"; action = "notify";'
    ' template = "body"; } ); }\n'
    ');\n')


def agent(event, host, customer=MAPPED, n=[0]):
    n[0] += 1
    return json.dumps({"event": event, "time": 1700000000 + n[0],
                       "payload": {"type": "Agent", "id": "w-%d" % n[0],
                                   "customer_id": customer,
                                   "platform": "Windows",
                                   "hostname": host}}).encode()


class WebUITest(DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        cls.psa = FakePSA().start()
        cls.psa.script("/bad", [{"status": 400, "count": 100}])
        cls.d = d = harness.Daemon()
        try:
            os.makedirs(os.path.join(d.etc, "templates"))
            with open(os.path.join(d.etc, "templates",
                                   "body.json.mustache"), "w") as f:
                f.write('{"event": "{{event}}"}\n')
            with open(os.path.join(d.etc, "customers.csv"), "w") as f:
                f.write("customer_id,name,connectwise_company,"
                        "autotask_company_id\n%s,Contoso,Contoso,1\n"
                        % MAPPED)
            cls.base_config = (
                d.config_text() + 'templates_dir = "templates";\n'
                'customers = { file = "customers.csv"; unmapped = "hold"; };\n'
                'targets = (\n'
                '  { name = "good"; type = "webhook"; url = "%s/good";'
                ' body = "body"; },\n'
                '  { name = "bad"; type = "webhook"; url = "%s/bad";'
                ' body = "body"; }\n);\n' % (cls.psa.url, cls.psa.url))
            d.write_config(cls.base_config + RULES)
            d.start()
        except Exception:
            d.close()
            cls.psa.stop()
            raise
        cls.shared_daemons = (d,)

    @classmethod
    def tearDownClass(cls):
        cls.d.close()
        cls.psa.stop()

    def get(self, path, token=True):
        return harness.http_request(
            self.d.admin_port, "GET", path, None,
            self.d.auth(self.d.admin_token) if token else {})

    def api(self, path):
        r = self.get(path)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def post(self, body):
        return self.assertQueued(self.d.post(body))

    # -- the page's files --

    def test_page_is_public_and_locked_down(self):
        r = self.get("/", token=False)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "text/html; charset=utf-8")
        csp = r.header("Content-Security-Policy") or ""
        self.assertIn("default-src 'self'", csp)
        self.assertIn("frame-ancestors 'none'", csp)
        self.assertNotIn("unsafe-inline", csp)
        self.assertEqual(r.header("X-Content-Type-Options"), "nosniff")
        self.assertEqual(r.header("Referrer-Policy"), "no-referrer")

    def test_every_file_of_web_is_served_as_it_is(self):
        types = {".html": "text/html", ".js": "text/javascript",
                 ".css": "text/css", ".svg": "image/svg+xml"}
        names = sorted(os.listdir(WEB))
        self.assertIn("app.js", names)
        for name in names:
            with self.subTest(name=name):
                with open(os.path.join(WEB, name), "rb") as f:
                    want = f.read()
                r = self.get("/ui/" + name, token=False)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.body, want)
                self.assertTrue(r.header("Content-Type").startswith(
                    types[os.path.splitext(name)[1]]), r)
        with open(os.path.join(WEB, "index.html"), "rb") as f:
            self.assertEqual(self.get("/", token=False).body, f.read())

    def test_head_answers_the_length_without_a_body(self):
        with open(os.path.join(WEB, "index.html"), "rb") as f:
            size = len(f.read())
        # A body after HEAD would be read as the start of the next answer.
        s = socket.create_connection(("127.0.0.1", self.d.admin_port), 5)
        try:
            s.sendall(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /ui/nope HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            deadline = time.monotonic() + 5
            while b'"not_found"' not in data and time.monotonic() < deadline:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        head, _, rest = data.partition(b"\r\n\r\n")
        self.assertIn(b"HTTP/1.1 200", head)
        self.assertIn(b"Content-Length: %d" % size, head)
        self.assertTrue(rest.startswith(b"HTTP/1.1 404"), data[:600])

    def test_other_methods_and_unknown_files(self):
        r = harness.http_request(self.d.admin_port, "POST", "/", b"")
        self.assertJSONError(r, 405, "method_not_allowed")
        self.assertEqual(r.header("Allow"), "GET, HEAD")
        for path in ["/ui/nope.js", "/ui/", "/ui/../psabridge.cfg",
                     "/ui/%2e%2e/admin.token"]:
            with self.subTest(path=path):
                self.assertJSONError(self.get(path, token=False), 404,
                                     "not_found")

    def test_the_api_behind_the_page_still_needs_the_token(self):
        for path in ["/api/v1/rules", "/api/v1/overview", "/api/v1/events"]:
            with self.subTest(path=path):
                self.assertJSONError(self.get(path, token=False), 401,
                                     "unauthorized")

    # -- rules --

    def test_rules_are_shown_as_written(self):
        rules = self.api("/api/v1/rules")
        self.assertEqual([r["name"] for r in rules],
                         ["uninstalled", "to-bad", "off"])
        self.assertEqual(rules[0]["match"],
                         ["event = Agent.Uninstall",
                          "payload.platform =~ Windows|macOS"])
        self.assertEqual(rules[1]["match"],
                         ['payload.hostname = "BAD HOST"'])
        self.assertEqual(rules[2]["match"], [])
        self.assertEqual([(r["enabled"], r["continue"]) for r in rules],
                         [(True, True), (True, False), (False, False)])
        self.assertEqual(rules[0]["actions"],
                         [{"target": "good", "action": "notify",
                           "template": "body"}])
        self.assertGreater(rules[0]["line"], 0)

    def test_rules_follow_a_reload(self):
        d = self.d
        try:
            d.write_config(self.base_config + RULES.replace(
                '"to-bad"', '"to-bad-v2"'))
            mark = d.log_mark()
            d.signal(signal.SIGHUP)
            d.wait_for_log(r"msg=reloaded", since=mark)
            names = [r["name"] for r in self.api("/api/v1/rules")]
            self.assertEqual(names, ["uninstalled", "to-bad-v2", "off"])
        finally:
            d.write_config(self.base_config + RULES)
            mark = d.log_mark()
            d.signal(signal.SIGHUP)
            d.wait_for_log(r"msg=reloaded", since=mark)
        self.assertEqual([r["name"] for r in self.api("/api/v1/rules")],
                         ["uninstalled", "to-bad", "off"])

    # -- overview and filters --

    def wait_jobs(self, pred, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            jobs = self.api("/api/v1/jobs?limit=1000")
            if pred(jobs):
                return jobs
            if time.monotonic() > deadline:
                self.fail("jobs never got there: %r" % jobs)
            time.sleep(0.1)

    def test_overview_and_filters(self):
        before = self.api("/api/v1/overview")
        win = self.post(agent("Agent.Uninstall", "Win10-Office_7"))
        bad = self.post(agent("Agent.Uninstall", "BAD HOST"))
        held = self.post(agent("Agent.Uninstall", "new-pc", "cust-x"))
        other = self.post(agent("Agent.Create", "WIN10-lab"))
        self.wait_jobs(lambda js: sorted(
            j["state"] for j in js if j["event_id"] in (win, bad)) ==
            ["dead", "done", "done"])

        ov = self.api("/api/v1/overview")
        self.assertLess(abs(ov["now"] - time.time() * 1000), 5000, ov)
        hour = {r["event_type"]: r["count"] for r in ov["events_hour"]}
        hour0 = {r["event_type"]: r["count"] for r in before["events_hour"]}
        self.assertEqual(hour.get("Agent.Uninstall", 0) -
                         hour0.get("Agent.Uninstall", 0), 3, ov)
        self.assertEqual(hour.get("Agent.Create", 0) -
                         hour0.get("Agent.Create", 0), 1, ov)
        self.assertEqual(sum(r["count"] for r in ov["events_timeline"]),
                         sum(r["count"] for r in ov["events_day"]), ov)
        this_hour = int(ov["now"] // 3600000 * 3600000)
        self.assertTrue(all(this_hour - 23 * 3600000 <= r["hour"] <= this_hour
                            for r in ov["events_timeline"]), ov)
        jobs = {(r["target"], r["state"]): r["count"] for r in ov["jobs"]}
        self.assertGreaterEqual(jobs.get(("bad", "dead"), 0), 1, ov)
        self.assertGreaterEqual(jobs.get(("good", "held"), 0), 1, ov)
        self.assertEqual(
            sum(r["count"] for r in ov["jobs_timeline"]),
            sum(r["count"] for r in ov["jobs"]), ov)

        def ids(**q):
            rows = self.api("/api/v1/events?limit=1000&" + "&".join(
                "%s=%s" % kv for kv in q.items()))
            return {r["id"] for r in rows}

        mine = {win, bad, held, other}
        self.assertEqual(ids(event_type="Agent.Create") & mine, {other})
        self.assertEqual(ids(customer="cust-x") & mine, {held})
        self.assertEqual(ids(host="win10") & mine, {win, other})
        self.assertEqual(ids(host="OFFICE_") & mine, {win})
        self.assertEqual(ids(host="%25") & mine, set())  # "%" is literal
        self.assertEqual(ids(host="win10", event_type="Agent.Uninstall")
                         & mine, {win})
        self.assertEqual(ids(job_state="dead") & mine, {bad})
        self.assertEqual(ids(job_state="held") & mine, {held})
        self.assertEqual(ids(state="unrouted") & mine, {other})
        row = [r for r in self.api("/api/v1/events?host=BAD%20HOST")
               if r["id"] == bad][0]
        self.assertEqual(row["hostname"], "BAD HOST")
        self.assertEqual(row["customer_id"], MAPPED)
        self.assertEqual(sorted(row["job_states"].split(",")),
                         ["dead", "done"], row)


if __name__ == "__main__":
    unittest.main(verbosity=2)
