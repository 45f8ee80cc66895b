#!/usr/bin/env python3
"""Secrets stay secret: one scenario with distinctive values for the
source token, the admin token, a webhook header secret and a signing
secret (all env:), run end to end, and every output an operator or an
attacker can see searched for them.

docs/configuration.md: secrets "are never written to any message or log
line"; `render` shows a secret header as ***.  The places searched: the
daemon's whole stderr under -v, `render`, `check`, the file target's file,
`queue list --json`, `queue show` (text and --json) of every job and the
event, `queue targets --json`, GET /metrics, every GET of the admin API
and the web page, the answers to the callbacks, and the messages of a
reload and of `check` that reject a malformed secret.  Each secret is
looked for whole and as its first and last 12 characters (a value cut
short is still a leak), the signing key also as its base64 body and as
hex.
"""

import base64
import json
import os
import signal
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import exchange, request  # noqa: E402
import harness  # noqa: E402
from harness import DaemonTestCase, run_cli  # noqa: E402
from fakepsa import FakePSA  # noqa: E402

harness.check_env()


TEMPLATE = '{"host": "{{payload.hostname}}", "event": "{{event}}"}\n'


class SecretsTest(DaemonTestCase):

    def setUp(self):
        super().setUp()
        salt = os.urandom(6).hex()
        self.key = os.urandom(32)
        self.env = {
            "PSABRIDGE_SEC_HOOK": "HookSecret" + salt + "Q7x",
            "PSABRIDGE_SEC_ADMIN": "AdminSecret" + salt + "Z3k",
            "PSABRIDGE_SEC_HDR": "Bearer HeaderSecret" + salt + "W9p",
            "PSABRIDGE_SEC_SIGN": "whsec_" +
                                  base64.b64encode(self.key).decode(),
            # malformed on purpose: for the reload and check messages
            "PSABRIDGE_SEC_BADSIGN": "notwhsec-BadSignSecret" + salt,
        }
        hdr = self.env["PSABRIDGE_SEC_HDR"][len("Bearer "):]
        b64 = self.env["PSABRIDGE_SEC_SIGN"][len("whsec_"):]
        self.secrets = {
            "hook token": self.env["PSABRIDGE_SEC_HOOK"],
            "admin token": self.env["PSABRIDGE_SEC_ADMIN"],
            "header secret": hdr,
            "signing secret": b64,
            "signing key (hex)": self.key.hex(),
            "malformed signing secret": self.env["PSABRIDGE_SEC_BADSIGN"],
        }
        self.psa = FakePSA().start()
        self.addCleanup(self.psa.stop)

    def config(self, d, sign="PSABRIDGE_SEC_SIGN"):
        return ('listen = "127.0.0.1:0";\nstate_dir = "var";\n'
                'admin = { listen = "127.0.0.1:%d"; '
                'token = "env:PSABRIDGE_SEC_ADMIN"; };\n'
                'sources = ( { name = "defensx"; path = "/hooks/defensx"; '
                'token = "env:PSABRIDGE_SEC_HOOK"; } );\n'
                'templates_dir = "templates";\n'
                'targets = (\n'
                '  { name = "file"; type = "file"; path = "var/out.jsonl"; '
                'template = "b"; },\n'
                '  { name = "hook"; type = "webhook"; url = "%s/hook"; '
                'body = "b";\n'
                '    headers = [ "Authorization: env:PSABRIDGE_SEC_HDR", '
                '"X-Host: {{payload.hostname}}" ];\n'
                '    signing_secret = "env:%s";\n'
                '    retry = { first = "1s"; max = "1s"; }; }\n);\n'
                'rules = ( { name = "all"; match = []; actions = (\n'
                '  { target = "file"; action = "notify"; },\n'
                '  { target = "hook"; action = "notify"; } ); } );\n'
                % (self.admin_port, self.psa.url, sign))

    def assertNoSecret(self, where, text):
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        for name, s in self.secrets.items():
            for form in (s, s[:12], s[-12:]):
                self.assertNotIn(form, text, "the %s (or 12 characters of "
                                 "it) is in %s" % (name, where))

    def test_no_secret_in_any_output(self):
        self.admin_port = harness.free_port()
        d = self.daemon(start=False, verbose=True, extra_env=self.env)
        os.makedirs(os.path.join(d.etc, "templates"))
        with open(os.path.join(d.etc, "templates", "b.json.mustache"),
                  "w") as f:
            f.write(TEMPLATE)
        d.write_config(self.config(d))
        d.hook_token = self.env["PSABRIDGE_SEC_HOOK"]
        d.admin_token = self.env["PSABRIDGE_SEC_ADMIN"]
        d.start()
        seen = {}

        # callbacks, good and bad, in every place a token can go
        self.psa.script("/hook", [200, {"status": 400, "body": "refused"},
                                  500])
        ids = []
        for how in ("header", "query", "header"):
            r = d.post(harness.unique_envelope(), token_in=how)
            self.assertEqual(r.status, 202, r)
            ids.append(r.json()["id"])
            seen["202 answer"] = r.body
        for data in [
                request(d, harness.unique_envelope(), path=(
                    "/hooks/defensx?token=" + d.hook_token + "x").encode(),
                    token=False),
                request(d, b"{", path=("/hooks/defensx?token=" +
                                       d.hook_token).encode(), token=False),
                request(d, b"{}", path=("/nope?token=" +
                                        d.hook_token).encode()),
                request(d, harness.unique_envelope(), headers=[
                    b"X-Pad: " + b"p" * 9000])]:
            raw, _ = exchange(d.ingest_port, data, timeout=5.0, one=True)
            seen["callback answer %d" % len(seen)] = raw
        # deliveries: done, dead, retried then done
        self.psa.wait_for(4, "/hook", timeout=15)
        for rq in self.psa.requests("/hook"):
            self.assertEqual(rq.header("Authorization"),
                             self.env["PSABRIDGE_SEC_HDR"],
                             "the header secret was not sent")
        # the admin API, with the right token, a wrong one and in the query
        paths = ["/metrics", "/healthz", "/", "/api/v1/overview",
                 "/api/v1/events", "/api/v1/jobs", "/api/v1/targets",
                 "/api/v1/rules", "/api/v1/customers/unmapped"]
        paths += ["/api/v1/events/" + i for i in ids]
        for p in paths:
            r = harness.http_request(d.admin_port, "GET", p, None,
                                     d.auth(d.admin_token))
            self.assertIn(r.status, (200, 503), (p, r))
            seen["GET " + p] = r.body
            d.admin_get(p, token=d.admin_token + "x")
            d.admin_get(p + "?token=" + d.admin_token)
        jobs = json.loads(harness.http_request(
            d.admin_port, "GET", "/api/v1/jobs", None,
            d.auth(d.admin_token)).body)
        self.assertGreaterEqual(len(jobs), 6, jobs)
        for j in jobs:
            r = harness.http_request(d.admin_port, "GET",
                                     "/api/v1/jobs/" + j["id"], None,
                                     d.auth(d.admin_token))
            seen["GET /api/v1/jobs/ID"] = r.body

        # the command line
        def cli(*args):
            p = run_cli(list(args), env=self.env, cwd=d.cwd)
            seen["psabridge " + " ".join(args[:2])] = p.stdout + p.stderr
            return p

        self.assertEqual(cli("queue", "list", "-c", d.cfg_path,
                             "--json").returncode, 0)
        self.assertEqual(cli("queue", "targets", "-c", d.cfg_path,
                             "--json").returncode, 0)
        for j in jobs:
            self.assertEqual(cli("queue", "show", "-c", d.cfg_path,
                                 j["id"]).returncode, 0)
            cli("queue", "show", "-c", d.cfg_path, j["id"], "--json")
        cli("queue", "show", "-c", d.cfg_path, ids[0])
        self.assertEqual(cli("check", "-c", d.cfg_path).returncode, 0)
        ev = os.path.join(d.tmp, "event.json")
        with open(ev, "wb") as f:
            f.write(harness.fixture("userrequest-create"))
        p = cli("render", "-c", d.cfg_path, ev)
        self.assertEqual(p.returncode, 0, p)
        self.assertIn("Authorization: ***", p.stdout)

        # a reload and a check that refuse a malformed secret
        good = self.config(d)
        d.write_config(self.config(d, sign="PSABRIDGE_SEC_BADSIGN"))
        p = cli("check", "-c", d.cfg_path)
        self.assertEqual(p.returncode, 1, p)
        mark = d.log_mark()
        d.signal(signal.SIGHUP)
        d.wait_for_log(r"reload rejected", since=mark)
        d.write_config(good)
        mark = d.log_mark()
        d.signal(signal.SIGHUP)
        d.wait_for_log(r"\bmsg=reloaded\b", since=mark)

        with open(os.path.join(d.state_dir, "out.jsonl"), "rb") as f:
            seen["file target"] = f.read()
        self.assertEqual(d.stop(), 0)
        seen["daemon log"] = d.log_text()
        # the log has what was searched: deliveries and the refused reload
        self.assertIn("msg=attempt", seen["daemon log"])
        self.assertIn("signing_secret", seen["daemon log"])
        with open(d.stdout_path, "rb") as f:
            seen["daemon stdout"] = f.read()
        for where, text in seen.items():
            with self.subTest(where=where):
                self.assertNoSecret(where, text)

    def test_literal_secrets_are_not_echoed_by_check(self):
        # A literal works with a warning; the warning names the key only.
        self.admin_port = harness.free_port()
        d = self.daemon(start=False)
        lit = "LiteralSecret" + os.urandom(6).hex()
        self.secrets = {"literal": lit}
        d.write_config('listen = "127.0.0.1:0"; state_dir = "var";\n'
                       'sources = ( { name = "d"; path = "/h"; '
                       'token = "%s"; } );\n'
                       'admin = { listen = "127.0.0.1:0"; token = "%s"; };\n'
                       % (lit, lit + "A"))
        p = run_cli(["check", "-c", d.cfg_path])
        self.assertEqual(p.returncode, 0, p)
        self.assertIn("literal secret", p.stdout + p.stderr)
        self.assertNoSecret("check", p.stdout + p.stderr)
        d.start()
        self.assertEqual(d.stop(), 0)
        self.assertNoSecret("the daemon log", d.log_text())


if __name__ == "__main__":
    unittest.main()
