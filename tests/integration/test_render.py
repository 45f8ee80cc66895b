#!/usr/bin/env python3
"""The user's tools: `render` (golden cases in tests/data/render: an event
and a config, and the exact expected output), `template` and
`check --events`."""

import json
import os
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import run_cli  # noqa: E402

harness.check_env()

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CASES = os.path.join(harness.data_dir(), "render")
TEAMS_SECRET = "Bearer-secret-123"
ENV = {"PSABRIDGE_TEST_HOOK_TOKEN": "hook-secret-456",
       "PSABRIDGE_TEST_TEAMS_TOKEN": TEAMS_SECRET}


class RenderGoldenTest(unittest.TestCase):

    def test_every_golden_case_renders_exactly_as_expected(self):
        cases = sorted(os.listdir(CASES))
        self.assertGreaterEqual(len(cases), 3)
        for case in cases:
            with self.subTest(case=case):
                d = os.path.join(CASES, case)
                r = run_cli(["render", "-c", "psabridge.cfg", "event.json"],
                            env=ENV, cwd=d)
                self.assertEqual(r.returncode, 0, r.stderr)
                with open(os.path.join(d, "expected.out")) as f:
                    self.assertEqual(r.stdout, f.read())
                self.assertNotIn(TEAMS_SECRET, r.stdout + r.stderr)

    def test_hostile_values_keep_json_keys_and_ticket_fields(self):
        d = os.path.join(CASES, "hostile-values")
        r = run_cli(["render", "-c", "psabridge.cfg", "event.json"],
                    env=ENV, cwd=d)
        lines = r.stdout.split("\n")  # not splitlines: U+2028 is data
        ticket_line = next(ln for ln in lines if '"ticket"' in ln)
        ticket = json.loads(ticket_line)["ticket"]
        self.assertEqual(set(ticket), {"summary", "priority", "description"})
        self.assertEqual(ticket["priority"], "normal")
        self.assertNotIn("\n", ticket["summary"])
        body = json.loads(next(ln for ln in lines if '"host"' in ln))
        self.assertEqual(set(body), {"host", "reason", "id"})
        self.assertEqual(body["id"], '7","admin":true,"x":"')

    def test_render_reads_standard_input(self):
        d = os.path.join(CASES, "no-match")
        with open(os.path.join(d, "event.json"), "rb") as f:
            data = f.read()
        p = harness.subprocess.run(
            [harness.binary(), "render", "-c", "psabridge.cfg"], input=data,
            cwd=d, env=dict(os.environ, **ENV), capture_output=True,
            timeout=15)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"result: unrouted, 0 job(s)", p.stdout)

    def test_render_refuses_what_ingest_would_refuse(self):
        d = os.path.join(CASES, "no-match")
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            f.write('{"event": 1, "time": 1, "payload": {}}')
            f.flush()
            r = run_cli(["render", "-c", "psabridge.cfg", f.name], env=ENV,
                        cwd=d)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not a callback psabridge accepts", r.stderr)


class TemplateCommandTest(unittest.TestCase):

    def run_template(self, text, data, suffix, *args):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "t" + suffix)
            with open(path, "w") as f:
                f.write(text)
            dpath = os.path.join(tmp, "data.json")
            with open(dpath, "w") as f:
                json.dump(data, f)
            return run_cli(["template", path, dpath] + list(args)), path

    def test_text_template_prints_values_as_they_are(self):
        r, _ = self.run_template("Host: {{h}}\n", {"h": "a\"b<c"}, ".mustache")
        self.assertEqual((r.returncode, r.stdout), (0, 'Host: a"b<c\n'))

    def test_json_template_escapes_for_json(self):
        r, _ = self.run_template('{"x": "{{h}}"}', {"h": 'a"\n'},
                                 ".json.mustache")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), {"x": 'a"\n'})

    def test_json_flag_forces_json_escaping(self):
        r, _ = self.run_template('{"x": "{{h}}"}', {"h": 'q"'}, ".mustache",
                                 "--json")
        self.assertEqual(json.loads(r.stdout), {"x": 'q"'})

    def test_ticket_template_prints_fields_then_description(self):
        r, _ = self.run_template(
            "Summary: {{h}}\nPriority: high\n\nBody {{h}}\n",
            {"h": "x\ny"}, ".ticket")
        self.assertEqual(r.stdout, "Summary: x y\nPriority: high\n\nBody x\ny\n")

    def test_template_error_names_line_and_column(self):
        r, path = self.run_template("line one\nline {{#open}} two\n", {},
                                    ".mustache")
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, "^" + path + r":\d+:\d+: ")

    def test_ticket_header_error_names_the_line(self):
        r, path = self.run_template("Summary: a\nColour: red\n\nbody\n", {},
                                    ".ticket")
        self.assertEqual(r.returncode, 1)
        self.assertIn(path + ":2:1: unknown header \"Colour\"", r.stderr)


class CheckEventsTest(unittest.TestCase):

    def test_shipped_config_renders_every_sample_event(self):
        with tempfile.TemporaryDirectory() as tmp:
            for name in ("defensx.token", "admin.token"):
                p = os.path.join(tmp, name)
                with open(p, "w") as f:
                    f.write("x" * 32)
                os.chmod(p, 0o600)
            cfg = os.path.join(TOP, "config", "psabridge.cfg")
            with open(cfg) as f:
                text = f.read().replace("../var/", tmp + "/")
            path = os.path.join(TOP, "config", ".check-test.cfg")
            with open(path, "w") as f:
                f.write(text)
            try:
                r = run_cli(["check", "-c", path, "--events",
                             os.path.join(harness.data_dir(), "defensx")])
            finally:
                os.unlink(path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration OK (5 sample events rendered)", r.stdout)

    def test_a_template_that_breaks_on_an_event_fails_the_check(self):
        with tempfile.TemporaryDirectory() as tmp:
            os.makedirs(os.path.join(tmp, "templates"))
            with open(os.path.join(tmp, "templates", "b.json.mustache"),
                      "w") as f:
                f.write('{"x": {{{payload.reason}}}}')  # raw: not JSON
            with open(os.path.join(tmp, "p.cfg"), "w") as f:
                f.write('listen = "127.0.0.1:0"; state_dir = "var";\n'
                        'sources = ( { name = "d"; path = "/h"; '
                        'token = "literal-token-123"; } );\n'
                        'targets = ( { name = "w"; type = "webhook"; '
                        'url = "http://127.0.0.1:9/"; body = "b"; } );\n'
                        'rules = ( { name = "all"; match = []; actions = ( '
                        '{ target = "w"; action = "notify"; } ); } );\n')
            r = run_cli(["check", "-c", os.path.join(tmp, "p.cfg"),
                         "--events", os.path.join(harness.data_dir(),
                                                  "defensx")])
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("the rendered body is not valid JSON", r.stderr)
        self.assertIn("userrequest-create.json", r.stderr)


if __name__ == "__main__":
    unittest.main()
