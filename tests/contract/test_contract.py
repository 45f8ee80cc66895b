#!/usr/bin/env python3
"""Contract tests: every request psabridge makes of ConnectWise and
Autotask is checked against the vendors' own API schemas
(tests/data/psa-spec/, see its README.md) by Stoplight Prism.

Prism invents its answers (ids, picklists), so the daemon talks to a
checking proxy (FakePSA with a callable answer): each request is first
sent to Prism, which validates it and answers 422 with a `validation` list
(or an sl-violations header) when it breaks the schema, then answered by
the stateful fake of psafakes.py, so that the lifecycle can go on (a real
ticket id for the note and the close).  The test fails on any request
Prism refused, and checks that every kind of request was made:
ConnectWise lookup, create, note, close; Autotask zone discovery,
picklists, query, create, note, close.  (ConnectWise's codebase discovery,
/login/companyinfo, is not part of the vendor's service schema; the
integration tests cover it.)

Prism is installed with npm into $PSABRIDGE_BUILD_DIR/contract-node on
first use (never into the source tree); node and npm must be there.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
import harness  # noqa: E402
from harness import DaemonTestCase  # noqa: E402
from fakepsa import FakePSA  # noqa: E402
from psafakes import CW_BASE, FakeAutotask, FakeConnectWise  # noqa: E402

harness.check_env()

PRISM_VERSION = "5.14.2"
SPEC_DIR = os.path.join(TOP, "tests", "data", "psa-spec")
CUSTOMER = "c062a202-e090-4e57-ba88-d74dfd2e3455"
AGENT = "fdceb72a-c274-4844-8b74-a0c74a8018e5"


def build_dir():
    b = os.environ.get("PSABRIDGE_BUILD_DIR")
    if not b:
        raise RuntimeError("PSABRIDGE_BUILD_DIR is not set (ctest sets it)")
    return b


def prism_bin():
    """Installs Prism into the build tree once; returns its path."""
    prefix = os.path.join(build_dir(), "contract-node")
    exe = os.path.join(prefix, "node_modules", ".bin", "prism")
    if os.path.exists(exe):
        return exe
    if shutil.which("npm") is None or shutil.which("node") is None:
        raise RuntimeError("node and npm are needed to install Prism")
    os.makedirs(prefix, exist_ok=True)
    p = subprocess.run(["npm", "install", "--prefix", prefix, "--no-audit",
                        "--no-fund", "--loglevel=error",
                        "@stoplight/prism-cli@" + PRISM_VERSION],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=600)
    if p.returncode != 0 or not os.path.exists(exe):
        raise RuntimeError("npm install @stoplight/prism-cli failed:\n"
                           + p.stdout.decode("utf-8", "replace")[-2000:])
    return exe


class Prism:
    """One `prism mock` on 127.0.0.1, stopped by stop() (its process
    group: prism runs node)."""

    def __init__(self, spec):
        self.port = harness.free_port()
        self.log = open(os.path.join(build_dir(), "prism-%s.log"
                                     % os.path.basename(spec)), "wb")
        self.proc = subprocess.Popen(
            [prism_bin(), "mock", "-h", "127.0.0.1", "-p", str(self.port),
             spec], stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        end = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > end:
                    self.stop()
                    raise RuntimeError("prism did not start; see "
                                       + self.log.name)
                time.sleep(0.2)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


class Checked:
    """FakePSA's answer: Prism validates the request, the fake answers.
    strip: the path prefix the fake serves that Prism serves at its root.
    Every checked request is kept as (method, path, status, problems)."""

    def __init__(self, prism, fake, strip):
        self.prism = prism
        self.fake = fake
        self.strip = strip
        self.checked = []

    def __call__(self, r):
        path = r.path
        for prefix in self.strip:
            if path.startswith(prefix):
                path = path[len(prefix):]
                break
        c = http.client.HTTPConnection("127.0.0.1", self.prism.port,
                                       timeout=30)
        hdrs = {k: v for k, v in r.headers
                if k.lower() not in ("host", "content-length", "connection")}
        try:
            c.request(r.method, path + ("?" + r.query if r.query else ""),
                      body=r.body or None, headers=hdrs)
            resp = c.getresponse()
            body = resp.read().decode("utf-8", "replace")
            problems = []
            if resp.status == 422:
                problems = json.loads(body).get("validation", [])
            viol = resp.getheader("sl-violations")
            if viol:
                problems += [v for v in json.loads(viol)
                             if v.get("severity") == "Error"]
            self.checked.append((r.method, path, resp.status, problems))
        finally:
            c.close()
        if problems:
            return {"status": 422, "body": {"validation": problems}}
        return self.fake(r)


def event(kind, customer=CUSTOMER):
    body = json.loads(harness.unique_envelope(kind))
    body["payload"].update(id=AGENT, hostname="WIN10-4",
                           customer_id=customer)
    return json.dumps(body).encode()


CUSTOMERS = ("customer_id,name,connectwise_company,autotask_company_id\n"
             "%s,Contoso Ltd,Contoso,29684\n" % CUSTOMER)

RULES = """rules = (
  { name = "u"; match = [ "event = Agent.Uninstall" ];
    actions = ( { target = "psa"; action = "create";
      template = "agent-uninstalled"; correlate = "agent:{{payload.id}}"; } ); },
  { name = "d"; match = [ "event = Agent.Delete" ];
    actions = ( { target = "psa"; action = "note";
      template = "agent-deleted"; correlate = "agent:{{payload.id}}"; } ); },
  { name = "r"; match = [ "event = Agent.Reinstall" ];
    actions = ( { target = "psa"; action = "close";
      template = "agent-reinstalled"; correlate = "agent:{{payload.id}}"; } ); }
);
"""


class ContractTest(DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        cls.prisms = []
        try:
            cls.cw_prism = Prism(os.path.join(
                SPEC_DIR, "connectwise-service-2015.json"))
            cls.prisms.append(cls.cw_prism)
            cls.at_prism = Prism(os.path.join(SPEC_DIR, "autotask-v1.json"))
            cls.prisms.append(cls.at_prism)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for p in cls.prisms:
            p.stop()

    def bridge(self, target, env):
        d = self.daemon(start=False, extra_env=env)
        with open(os.path.join(d.etc, "customers.csv"), "w") as f:
            f.write(CUSTOMERS)
        d.write_config(
            d.config_text() +
            'templates_dir = "%s";\n' % os.path.join(TOP, "templates") +
            'customers = { file = "customers.csv"; unmapped = "hold"; };\n'
            'targets = ( %s );\n' % target + RULES)
        d.start()
        return d

    def lifecycle(self, d):
        """Create (with its lookup), note, close; all must be done."""
        for i, kind in enumerate(["Agent.Uninstall", "Agent.Delete",
                                  "Agent.Reinstall"]):
            self.assertQueued(d.post(event(kind)))
            end = time.monotonic() + 20
            while d.query("SELECT count(*) FROM jobs WHERE state IN "
                          "('done', 'dead')")[0][0] <= i:
                self.assertLess(time.monotonic(), end, "job not finished")
                time.sleep(0.1)
        rows = d.query("SELECT action, state, last_error FROM jobs "
                       "ORDER BY seq")
        self.assertEqual([r[1] for r in rows], ["done"] * 3, rows)

    def assertAccepted(self, checked, kinds):
        refused = [c for c in checked if c[3] or not 200 <= c[2] < 300]
        self.assertEqual(refused, [], "Prism refused requests")
        made = {(m, p.split("?")[0]) for m, p, _, _ in checked}
        for k in kinds:
            self.assertIn(k, made, "never made: %s %s" % k)

    def test_connectwise_requests_match_the_vendor_schema(self):
        psa = FakePSA().start()
        self.addCleanup(psa.stop)
        fake = FakeConnectWise(client_id="cid-1")
        chk = Checked(self.cw_prism, fake, [CW_BASE])
        psa.default(chk)
        d = self.bridge(
            '{ name = "psa"; type = "connectwise"; api_url = "%s%s"; '
            'company_id = "env:C"; public_key = "env:P"; '
            'private_key = "env:K"; client_id = "env:I"; '
            'board = "Help Desk"; '
            'priorities = { high = "Priority 1"; normal = "Priority 3"; }; }'
            % (psa.url, CW_BASE),
            {"C": "acme", "P": "pub", "K": "priv", "I": "cid-1"})
        self.lifecycle(d)
        self.assertAccepted(chk.checked, [
            ("GET", "/service/tickets"), ("POST", "/service/tickets"),
            ("POST", "/service/tickets/1001/notes"),
            ("PATCH", "/service/tickets/1001")])

    def autotask(self, psa, fake, target_extra):
        return self.bridge(
            '{ name = "psa"; type = "autotask"; %s '
            'username = "env:U"; secret = "env:S"; '
            'integration_code = "env:C"; }' % target_extra,
            {"U": "api@acme.example", "S": "s3cret", "C": "CODE"})

    def test_autotask_requests_match_the_vendor_schema(self):
        psa = FakePSA().start()
        self.addCleanup(psa.stop)
        fake = FakeAutotask(username="api@acme.example", secret="s3cret",
                            code="CODE", zone_url=psa.url + "/zone/")
        chk = Checked(self.at_prism, fake, ["/zone", "/discovery"])
        psa.default(chk)
        # labels: the zone is discovered and the picklists read
        d = self.autotask(psa, fake,
                          'discovery_url = "%s/discovery/"; '
                          'queue = "Monitoring Alert"; '
                          'new_status = "New"; complete_status = "Complete"; '
                          'priorities = { high = "High"; normal = "Medium"; };'
                          % psa.url)
        self.lifecycle(d)
        self.assertAccepted(chk.checked, [
            ("GET", "/V1.0/ZoneInformation"),
            ("GET", "/V1.0/Tickets/entityInformation/fields"),
            ("POST", "/V1.0/Tickets/query"), ("POST", "/V1.0/Tickets"),
            ("POST", "/V1.0/Tickets/7001/Notes"),
            ("PATCH", "/V1.0/Tickets")])

    def test_a_request_that_breaks_the_schema_is_caught(self):
        """The check itself: Prism refuses a create without companyID."""
        c = http.client.HTTPConnection("127.0.0.1", self.at_prism.port,
                                       timeout=30)
        c.request("POST", "/V1.0/Tickets", body=b'{"title": "x"}',
                  headers={"Content-Type": "application/json",
                           "ApiIntegrationCode": "c", "UserName": "u",
                           "Secret": "s"})
        r = c.getresponse()
        body = json.loads(r.read())
        c.close()
        self.assertEqual(r.status, 422)
        self.assertIn("companyID", json.dumps(body["validation"]))


if __name__ == "__main__":
    unittest.main(verbosity=2)
