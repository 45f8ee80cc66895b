#!/usr/bin/env python3
"""Payload values that try to break out of their place, through every
shipped template (templates/*.ticket, *.json.mustache) and both targets
(file, webhook), delivered for real to a FakePSA.

docs/templates.md: JSON templates escape values as JSON string content,
ticket header values have line breaks and tabs flattened to one space and
are cut at 1024 bytes, the description at 256 KiB, "a value is never read
as a template", and a JSON body "with exactly the keys the template has,
whatever the user typed".  docs/configuration.md: a header whose rendered
value contains a line break is not sent.

How the expected output is known without a second Mustache implementation:
the same templates are first rendered with an event whose every payload
value is a unique alphanumeric marker.  Replacing each marker in that
output by the hostile value gives exactly what the hostile event must
produce (flattened and cut for ticket headers, cut for descriptions).
So a body passes only if it parses, has the template's keys and nothing
else, and every string in it is exactly right.

\\u0000 in a value is refused at ingest by design (docs/ingest.md); that
and other bodies are in test_bodies.py.  tests/data/render/hostile-values
covers one template through `render`; test_delivery.py covers CR/LF in a
templated header.
"""

import hashlib
import json
import os
import re
import shutil
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import TOP  # noqa: E402
import harness  # noqa: E402
from harness import DaemonTestCase  # noqa: E402
from fakepsa import FakePSA  # noqa: E402
from psafakes import CW_BASE, FakeAutotask, FakeConnectWise  # noqa: E402

harness.check_env()

TEMPLATES_DIR = os.path.join(TOP, "templates")
TEMPLATES = sorted(
    n[:-len(".ticket")] if n.endswith(".ticket") else n[:-len(
        ".json.mustache")]
    for n in os.listdir(TEMPLATES_DIR)
    if n.endswith(".ticket") or n.endswith(".json.mustache"))
TICKETS = {n for n in TEMPLATES
           if os.path.exists(os.path.join(TEMPLATES_DIR, n + ".ticket"))}

# Every payload member a shipped template prints.
FIELDS = ["hostname", "customer_id", "platform", "product", "version", "id",
          "deployment_id", "url", "reason", "report_type", "user_id"]

HOSTILE = ('"quote" \\back\\slash\\ \r\nPriority: low\r\nStatus: Closed\n'
           'X-Injected: yes\n\tTab {{payload.id}} {{{payload.id}}} {{& x}} '
           '{{> evil}} {{=<% %>=}} <%payload.id%> }}{{ \x01\x1f\x7f '
           '\u2028\u2029 \u00e9 \U0001F600 </script><b> ${jndi:x} %s%n '
           '\\u0000 ","admin":true,"x":" \\"}')

TICKET_FIELD_MAX = 1024
TICKET_DESCRIPTION_MAX = 256 * 1024
RECEIVED_AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def mark(field):
    return "MK%sKM" % field.replace("_", "").upper()


_seq = [0]


def event(values, time_=1677241081):
    """A UserRequest.Create with these payload values.  The time is the
    same for all (time_iso is in the output); "seq" keeps them apart."""
    _seq[0] += 1
    payload = {"type": "UserRequest", "seq": _seq[0]}
    payload.update(values)
    return json.dumps({"event": "UserRequest.Create", "time": time_,
                       "payload": payload}, ensure_ascii=False).encode()


def flatten(s):
    """ticket.c: line breaks and tabs to one space, runs collapsed, none
    leading, trailing spaces dropped."""
    out, space = [], False
    for ch in s:
        if ch in "\r\n\t\v\f":
            if not space and out:
                out.append(" ")
            space = True
            continue
        space = False
        out.append(ch)
    return "".join(out).rstrip(" ")


def cut(s, limit):
    b = s.encode("utf-8")
    if len(b) <= limit:
        return s
    while limit > 0 and (b[limit] & 0xc0) == 0x80:
        limit -= 1
    return b[:limit].decode("utf-8")


def fill(s, values):
    """s (from the marker run) with each marker replaced by its value."""
    if not isinstance(s, str):
        return s
    for f, v in values.items():
        s = s.replace(mark(f), v)
    return RECEIVED_AT.sub("<received_at>", s)


def expect_doc(doc, values):
    """The marker run's parsed JSON with every string filled in."""
    if isinstance(doc, dict):
        return {k: expect_doc(v, values) for k, v in doc.items()}
    if isinstance(doc, list):
        return [expect_doc(v, values) for v in doc]
    return fill(doc, values)


def mask(doc):
    if isinstance(doc, dict):
        return {k: mask(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [mask(v) for v in doc]
    return RECEIVED_AT.sub("<received_at>", doc) if isinstance(doc, str) \
        else doc


def expect_ticket(ticket, values):
    out = {}
    for k, v in ticket.items():
        v = fill(v, values)
        if k == "description":
            out[k] = cut(v, TICKET_DESCRIPTION_MAX)
        else:
            out[k] = flatten(cut(flatten(v), TICKET_FIELD_MAX))
    return out


class TemplateInjectionTest(DaemonTestCase):
    """One daemon, one file target and one webhook target per shipped
    template; a marker event, then the hostile ones."""

    @classmethod
    def setUpClass(cls):
        cls.psa = FakePSA().start()
        d = cls.d = harness.Daemon(max_body_bytes=4 * 1024 * 1024)
        try:
            shutil.copytree(TEMPLATES_DIR, os.path.join(d.etc, "templates"))
            targets = ['{ name = "file"; type = "file"; '
                       'path = "var/out.jsonl"; }']
            actions = []
            for i, t in enumerate(TEMPLATES):
                targets.append(
                    '{ name = "w%d"; type = "webhook"; url = "%s/t/%s";\n'
                    '  retry = { first = "1s"; max = "1s"; }; }'
                    % (i, cls.psa.url, t))
                actions.append('{ target = "file"; action = "create"; '
                               'template = "%s"; correlate = '
                               '"c:{{payload.id}}"; }' % t)
                actions.append('{ target = "w%d"; action = "notify"; '
                               'template = "%s"; }' % (i, t))
            d.write_config(
                d.config_text() + 'templates_dir = "templates";\n'
                'targets = (\n  ' + ",\n  ".join(targets) + "\n);\n"
                'rules = ( { name = "all"; match = [];\n  actions = (\n    '
                + ",\n    ".join(actions) + "\n  ); } );\n")
            d.start()
            cls.shared_daemons = (d,)
            cls.marker = cls.deliver(
                cls, event({f: mark(f) for f in FIELDS}, 1677241081))
        except Exception:
            d.close()
            cls.psa.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.d.close()
        cls.psa.stop()

    def deliver(self, body, timeout=20.0, allow_unrouted=False):
        """Posts body, waits until every job is done or dead; returns
        {"jobs": [...], "lines": {template: file line}, "requests":
        {template: [Request]}}."""
        d = self.d
        r = d.post(body)
        if r.status != 202:
            raise AssertionError("event not accepted: %r" % r)
        eid = r.json()["id"]
        deadline = time.monotonic() + timeout
        while True:
            ev = harness.http_request(d.admin_port, "GET",
                                      "/api/v1/events/" + eid, None,
                                      d.auth(d.admin_token)).json()
            jobs = ev["jobs"]
            if allow_unrouted and not jobs and ev["state"] == "unrouted":
                break
            if len(jobs) == 2 * len(TEMPLATES) and \
                    all(j["state"] in ("done", "dead") for j in jobs):
                break
            if time.monotonic() > deadline:
                raise AssertionError("jobs not finished: %r" % jobs)
            time.sleep(0.2)
        lines = {}
        path = os.path.join(d.state_dir, "out.jsonl")
        with open(path, encoding="utf-8") as f:
            for ln in f.read().split("\n"):
                if ln:
                    obj = json.loads(ln)
                    if obj["event"] == eid:
                        tmpl = next(j["template"] for j in jobs
                                    if j["id"] == obj["job"])
                        lines[tmpl] = obj
        reqs = {}
        for rq in self.psa.requests():
            reqs.setdefault(rq.path[len("/t/"):], []).append(rq)
        self.psa.clear()
        return {"jobs": jobs, "lines": lines, "requests": reqs, "id": eid}

    def check(self, values, allow_too_large=False):
        got = self.deliver(event(values))
        base = self.marker
        dead = {(j["target"], j["template"]): j for j in got["jobs"]
                if j["state"] == "dead"}
        for t in TEMPLATES:
            with self.subTest(template=t, target="file"):
                if ("file", t) in dead:
                    self.assertTrue(allow_too_large, dead[("file", t)])
                    self.assertRegex(dead[("file", t)].get("last_error", ""),
                                     "larg|limit|too big|size")
                    self.assertNotIn(t, got["lines"])
                else:
                    self.check_line(t, base["lines"][t], got["lines"][t],
                                    values)
            with self.subTest(template=t, target="webhook"):
                reqs = got["requests"].get(t, [])
                w = "w%d" % TEMPLATES.index(t)
                if (w, t) in dead:
                    self.assertTrue(allow_too_large, dead[(w, t)])
                    self.assertEqual(reqs, [], "a dead job was sent")
                    continue
                self.assertEqual(len(reqs), 1, reqs)
                self.check_request(t, base["requests"][t][0], reqs[0],
                                   values)

    def check_line(self, t, base, line, values):
        self.assertEqual(set(line), set(base))
        self.assertEqual(line["correlate"], "c:" + values["id"])
        self.assertEqual((line["target"], line["rule"], line["action"]),
                         (base["target"], base["rule"], base["action"]))
        if t in TICKETS:
            self.assertEqual(set(line["ticket"]), set(base["ticket"]))
            self.assertEqual(mask(line["ticket"]),
                             expect_ticket(base["ticket"], values))
            self.assertEqual(line["ticket"]["priority"],
                             base["ticket"]["priority"])
        else:
            self.assertEqual(mask(line["body"]),
                             expect_doc(base["body"], values))

    def check_request(self, t, base, req, values):
        self.assertEqual((req.method, req.path, req.query),
                         (base.method, base.path, base.query))
        self.assertEqual(req.header("Host"), base.header("Host"),
                         "the URL lost its host")
        self.assertEqual(sorted(k.lower() for k, _ in req.headers),
                         sorted(k.lower() for k, _ in base.headers),
                         "headers differ from the marker run's")
        doc = json.loads(req.body.decode("utf-8"))
        want = json.loads(base.body.decode("utf-8"))
        if t in TICKETS:
            self.assertEqual(set(doc), set(want))
            self.assertEqual(doc["correlate"], want["correlate"])
            self.assertEqual(mask(doc["ticket"]),
                             expect_ticket(want["ticket"], values))
        else:
            self.assertEqual(mask(doc), expect_doc(want, values))

    def test_marker_run_reached_every_template_and_target(self):
        self.assertEqual(sorted(self.marker["lines"]), TEMPLATES)
        self.assertEqual(sorted(self.marker["requests"]), TEMPLATES)
        for t in TEMPLATES:
            blob = json.dumps(self.marker["lines"][t])
            self.assertIn(mark("hostname"), blob, t)

    def test_quotes_backslashes_line_breaks_and_tags_stay_values(self):
        self.check({f: "%s %s" % (f, HOSTILE) for f in FIELDS})

    def test_value_that_is_exactly_a_tag_is_printed_as_text(self):
        self.check({f: "{{payload.%s}}" % f for f in FIELDS})

    def test_100_kb_values_are_exact_or_refused_whole(self):
        # payload.id is in the correlate key (at most 1024 bytes): it stays
        # short here, see the next test
        big = (HOSTILE * (100 * 1024 // len(HOSTILE) + 1))[:100 * 1024]
        values = {f: f + big for f in FIELDS}
        values["id"] = "id " + HOSTILE
        self.check(values, allow_too_large=True)

    def test_a_long_value_in_a_correlate_key_drops_no_other_action(self):
        # The sender decides payload.id.  A key over the limit may fail its
        # own job (dead, with the reason: visible, alertable) or be cut; it
        # must not make the whole event unrouted, silently dropping the
        # actions that have no correlate at all.
        values = {f: f for f in FIELDS}
        values["id"] = "i" * 2000
        got = self.deliver(event(values), allow_unrouted=True)
        by_target = {}
        for j in got["jobs"]:
            by_target.setdefault(j["target"], []).append(j)
        self.assertEqual(len(got["jobs"]), 2 * len(TEMPLATES),
                         "the event got %d jobs, not one per action"
                         % len(got["jobs"]))
        for t in TEMPLATES:
            self.assertEqual(len(got["requests"].get(t, [])), 1, t)


def wait_finished(test, d, eid, timeout=10):
    """The event's jobs once each is done or dead (fails test after
    timeout seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        jobs = harness.http_request(
            d.admin_port, "GET", "/api/v1/events/" + eid, None,
            d.auth(d.admin_token)).json()["jobs"]
        if jobs and all(j["state"] in ("done", "dead") for j in jobs):
            return jobs
        test.assertLess(time.monotonic(), deadline, jobs)
        time.sleep(0.1)


def header_bridge(test, headers, extra=""):
    """A daemon whose one webhook target sends the templated header(s)
    to a FakePSA; returns (daemon, fake)."""
    psa = FakePSA().start()
    test.addCleanup(psa.stop)
    d = test.daemon(start=False)
    os.makedirs(os.path.join(d.etc, "templates"))
    with open(os.path.join(d.etc, "templates", "b.json.mustache"), "w") as f:
        f.write('{"h": "{{payload.h}}"}')
    d.write_config(
        d.config_text() + 'templates_dir = "templates";\n'
        'targets = ( { name = "w"; type = "webhook"; url = "%s/h"; '
        'body = "b"; headers = [ %s ];%s } );\n'
        'rules = ( { name = "all"; match = []; actions = ( { target = '
        '"w"; action = "notify"; } ); } );\n'
        % (psa.url, ", ".join('"%s"' % h for h in headers), extra))
    d.start()
    return d, psa


class HeaderInjectionTest(DaemonTestCase):
    """A templated header value: exactly one header, exactly the value, or
    a dead job with a reason.  Control characters other than CR and LF are
    not allowed in a field value either (RFC 9110 5.5) and some receivers
    split lines at them (Python's email parser at \\v, \\f, \\x1c-\\x1e,
    U+0085, U+2028)."""

    def test_templated_header_never_adds_a_header(self):
        d, psa = header_bridge(
            self, ["X-Field: {{payload.h}}", "X-After: fixed"],
            ' retry = { first = "1s"; max = "1s"; };')
        cases = {
            "plain": "plain value",
            "quotes_and_colon": 'a "b" \\ c: X-Injected: yes',
            "vertical_tab": "a\x0bX-Injected: yes",
            "form_feed": "a\x0cX-Injected: yes",
            "file_separator": "a\x1cX-Injected: yes",
            "escape_and_del": "a\x1b[31m\x7fX-Injected: yes",
            "next_line_u0085": "a\u0085X-Injected: yes",
            "line_separator_u2028": "a\u2028X-Injected: yes",
            "lone_cr": "a\rX-Injected: yes",
            "lone_lf": "a\nX-Injected: yes",
            "tag": "{{payload.h}} {{{payload.h}}}",
            "too_long": "x" * 5000,
        }
        for name, value in cases.items():
            with self.subTest(case=name):
                psa.clear()
                r = d.post(event({"h": value}))
                eid = self.assertQueued(r)
                [job] = wait_finished(self, d, eid)
                reqs = psa.requests()
                if job["state"] == "dead":
                    self.assertEqual(reqs, [], "a dead job was sent")
                    self.assertTrue(job.get("last_error"), job)
                    continue
                self.assertEqual(len(reqs), 1, reqs)
                rq = reqs[0]
                names = sorted(k.lower() for k, _ in rq.headers)
                self.assertNotIn("x-injected", names, rq.headers)
                self.assertEqual(names.count("x-field"), 1, rq.headers)
                self.assertEqual(rq.header("X-After"), "fixed")
                # the fake decodes header bytes as latin-1
                got = rq.header("X-Field").encode("latin-1").decode("utf-8")
                self.assertEqual(got, value.strip(" \t"),
                                 "the header value was changed")
                self.assertEqual(json.loads(rq.body)["h"], value)


class HeaderFieldValueTest(DaemonTestCase):
    """RFC 9110 5.5: a field value holds no control character but HTAB.
    A rendered header with one is refused like a line break (the job dead
    with the reason), or sent without it: never sent raw, where a strict
    receiver refuses the request and a lax one may split the line."""

    def test_control_characters_never_reach_the_wire(self):
        d, psa = header_bridge(self, ["X-Field: {{payload.h}}"])
        for c in ["\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f"]:
            with self.subTest(char=hex(ord(c))):
                psa.clear()
                eid = self.assertQueued(d.post(event({"h": "a%sb" % c})))
                self.assertEqual(len(wait_finished(self, d, eid)), 1)
                for rq in psa.requests():
                    self.assertNotIn(c, rq.header("X-Field"),
                                     "a control character sent in a header")


class ContextShadowTest(unittest.TestCase):
    """What psabridge adds to the template context (docs/templates.md:
    source, time_iso, received_at, customer.*, rule) must be psabridge's,
    not a member of the same name that the sender put in the callback: the
    customer decides whose ticket it is."""

    def test_sender_cannot_shadow_what_psabridge_adds(self):
        d = os.path.join(harness.data_dir(), "render", "uninstall-teams")
        with open(os.path.join(d, "event.json")) as f:
            ev = json.load(f)
        ev["customer"] = {"name": "SPOOFED Co",
                          "connectwise_company": "Victim"}
        ev["source"] = "spoofed-source"
        ev["time_iso"] = "1999-01-01T00:00:00Z"
        ev["received_at"] = "spoofed-received-at"
        ev["rule"] = "spoofed-rule"
        env = {"PSABRIDGE_TEST_HOOK_TOKEN": "x" * 20,
               "PSABRIDGE_TEST_TEAMS_TOKEN": "y" * 20}
        p = harness.subprocess.run(
            [harness.binary(), "render", "-c", "psabridge.cfg"],
            input=json.dumps(ev).encode(), cwd=d,
            env=dict(os.environ, **env), capture_output=True, timeout=30)
        out = p.stdout.decode("utf-8", "replace")
        if p.returncode != 0:
            # refusing such a callback is an answer too
            self.assertIn("not a callback psabridge accepts",
                          p.stderr.decode())
            return
        self.assertIn("customer c062a202-e090-4e57-ba88-d74dfd2e3455: "
                      "mapped", out)
        for spoof in ("SPOOFED Co", "1999-01-01", "spoofed-"):
            self.assertNotIn(spoof, out, "a callback member shadowed "
                             "psabridge's own value")
        self.assertIn("Contoso, Ltd", out)


class PSAInjectionTest(DaemonTestCase):
    """Hostile payload values through every shipped ticket template to the
    ConnectWise and Autotask targets (stateful fakes, psafakes.py): every
    request keeps its method, path, host and header names, every body
    parses with exactly the keys of a plain event's, ticket text has no
    line break where the PSA takes one line, the key travels unchanged,
    and a second event with the same hostile key finds its ticket through
    the lookup (a note, not a second ticket)."""

    CW_KEYS = {"summary", "company", "board", "priority",
               "initialDescription", "externalXRef"}
    AT_KEYS = {"companyID", "title", "description", "status", "priority",
               "queueID", "externalID"}

    def bridge(self):
        self.cwpsa = FakePSA().start()
        self.addCleanup(self.cwpsa.stop)
        self.atpsa = FakePSA().start()
        self.addCleanup(self.atpsa.stop)
        self.cw = FakeConnectWise()
        self.at = FakeAutotask(zone_url=self.atpsa.url + "/zone/")
        self.cwpsa.default(self.cw)
        self.atpsa.default(self.at)
        d = self.daemon(start=False, max_body_bytes=4 * 1024 * 1024,
                        extra_env={"CWK": "priv", "ATS": "s3cret"})
        with open(os.path.join(d.etc, "customers.csv"), "w") as f:
            f.write("customer_id,name,connectwise_company,"
                    "autotask_company_id\nc1,Contoso,Contoso,29684\n")
        actions = []
        for t in sorted(TICKETS):
            for tgt in ("cw", "at"):
                actions.append('{ target = "%s"; action = "create"; '
                               'template = "%s"; correlate = '
                               '"k:{{payload.id}}:%s"; }' % (tgt, t, t))
        d.write_config(
            d.config_text() + 'templates_dir = "%s";\n' % TEMPLATES_DIR +
            'customers = { file = "customers.csv"; unmapped = "hold"; };\n'
            'targets = (\n'
            ' { name = "cw"; type = "connectwise"; api_url = "%s%s"; '
            'company_id = "acme"; public_key = "pub"; private_key = '
            '"env:CWK"; client_id = "client-guid"; board = "Help Desk"; },\n'
            ' { name = "at"; type = "autotask"; zone_url = "%s/zone/"; '
            'username = "api@acme.example"; secret = "env:ATS"; '
            'integration_code = "INTEGRATION-CODE"; queue = "29683496"; }\n'
            ');\nrules = ( { name = "all"; match = [];\n  actions = ( %s ); '
            '} );\n' % (self.cwpsa.url, CW_BASE, self.atpsa.url,
                         ", ".join(actions)))
        d.start()
        return d

    def run_event(self, d, values):
        self.cwpsa.clear()
        self.atpsa.clear()
        eid = self.assertQueued(d.post(event(dict(values,
                                                  customer_id="c1"))))
        jobs = wait_finished(self, d, eid, timeout=30)
        self.assertEqual([j for j in jobs if j["state"] != "done"], [])
        self.assertEqual(len(jobs), 2 * len(TICKETS))
        return self.cwpsa.requests() + self.atpsa.requests()

    def check_request(self, rq, key_of):
        self.assertIn(rq.header("Host"),
                      [urlhost(self.cwpsa.url), urlhost(self.atpsa.url)])
        self.assertTrue(rq.path.startswith(CW_BASE + "/service/tickets") or
                        rq.path.startswith("/zone/V1.0/Tickets"), rq)
        if rq.method == "GET":  # the ConnectWise lookup
            self.assertEqual(sorted(rq.params()),
                             ["conditions", "orderBy", "pageSize"])
            return
        doc = rq.json()
        if rq.path == CW_BASE + "/service/tickets":
            self.assertEqual(set(doc), self.CW_KEYS)
            self.assertLessEqual(len(doc["summary"]), 100)
            self.assertNotRegex(doc["summary"], "[\r\n]")
            self.assertIn(doc["externalXRef"], key_of)
        elif rq.path == "/zone/V1.0/Tickets" and rq.method == "POST":
            self.assertEqual(set(doc), self.AT_KEYS)
            self.assertLessEqual(len(doc["title"]), 255)
            self.assertNotRegex(doc["title"], "[\r\n]")
            self.assertIn(doc["externalID"], key_of)

    def test_hostile_values_reach_the_psas_as_values(self):
        self.hostile('x" or closedFlag=true or id="/../?a=b#' + HOSTILE)

    def test_a_printable_hostile_key_travels_as_it_is(self):
        # short and printable: the key itself is the externalXRef and the
        # externalID, quoted inside ConnectWise's conditions
        self.hostile('"\\" or 1=1 /../?a=b&c#d')

    def hostile(self, ident):
        d = self.bridge()
        values = {f: "%s %s" % (f, HOSTILE) for f in FIELDS}
        values["id"] = ident
        keys = {"k:%s:%s" % (values["id"], t) for t in TICKETS}
        reqs = self.run_event(d, values)
        made = {(rq.method, rq.path.split("/")[-1]) for rq in reqs}
        self.assertIn(("POST", "tickets"), made)
        self.assertIn(("POST", "Tickets"), made)
        # keys over a PSA's limit travel as their hash: accept both
        key_of = keys | {"psabridge-" + hashlib.sha256(
            k.encode()).hexdigest()[:n] for k in keys for n in (20, 40)}
        for rq in reqs:
            with self.subTest(request=rq.target):
                self.check_request(rq, key_of)
        self.assertEqual(len(self.cw.open_tickets()), len(TICKETS))
        self.assertEqual(len(self.at.open_tickets()), len(TICKETS))
        # the same hostile key again, the state lost: found by the lookup
        d.stop()
        shutil.rmtree(d.state_dir)
        os.makedirs(d.state_dir, mode=0o700)
        d.start()
        self.run_event(d, values)
        self.assertEqual(len(self.cw.tickets), len(TICKETS))
        self.assertEqual(len(self.at.tickets), len(TICKETS))
        for notes in list(self.cw.notes.values()) + \
                list(self.at.notes.values()):
            self.assertEqual(len(notes), 1)
            self.assertIn("happened again", notes[0])

    def test_100_kb_values_are_cut_where_the_psa_limits_them(self):
        d = self.bridge()
        big = (HOSTILE * (100 * 1024 // len(HOSTILE) + 1))[:100 * 1024]
        values = {f: f + big for f in FIELDS}
        values["id"] = "id"
        reqs = self.run_event(d, values)
        for rq in reqs:
            if rq.path == "/zone/V1.0/Tickets" and rq.method == "POST":
                self.assertLessEqual(len(rq.json()["description"]), 8000)
            self.check_request(rq, {"k:id:%s" % t for t in TICKETS})


def urlhost(url):
    return url.split("://", 1)[1].split("/", 1)[0]


if __name__ == "__main__":
    unittest.main()
