#!/usr/bin/env python3
"""The ConnectWise and Autotask targets through the real binary, against
stateful fakes of both APIs (psafakes.py): the ticket lifecycle (create,
note again, close the same ticket, skip, survive a restart and a lost
state file), discovery of the API base, picklist labels, the vendors'
error bodies kept with the attempt, Autotask's repeated validation errors
going dead, and `psabridge test-target`.  The same lifecycle tests run
for both PSAs (one class each).
"""

import json
import os
import shutil
import sys
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from harness import DaemonTestCase, run_cli  # noqa: E402
from fakepsa import FakePSA  # noqa: E402
from psafakes import FakeAutotask, FakeConnectWise, CW_BASE  # noqa: E402

harness.check_env()

TOP = os.path.dirname(os.path.dirname(HERE))
CUSTOMER = "c062a202-e090-4e57-ba88-d74dfd2e3455"
CUSTOMERS_CSV = ("customer_id,name,connectwise_company,autotask_company_id\n"
                 "%s,Contoso Ltd,Contoso,29684\n"
                 "bad-co,Nobody Inc,NoSuchCo,404\n" % CUSTOMER)

RULES = """rules = (
  { name = "uninstalled"; match = [ "event = Agent.Uninstall" ];
    actions = ( { target = "psa"; action = "create";
      template = "agent-uninstalled"; correlate = "agent:{{payload.id}}";
      %(create_opts)s } ); },
  { name = "reinstalled"; match = [ "event = Agent.Reinstall" ];
    actions = ( { target = "psa"; action = "close";
      template = "agent-reinstalled"; correlate = "agent:{{payload.id}}";
      %(close_opts)s } ); },
  { name = "deleted"; match = [ "event = Agent.Delete" ];
    actions = ( { target = "psa"; action = "note";
      template = "agent-deleted"; correlate = "agent:{{payload.id}}"; } ); }
);
"""

AGENT = "fdceb72a-c274-4844-8b74-a0c74a8018e5"


def agent_event(event, agent=AGENT, hostname="WIN10-4",
                customer=CUSTOMER):
    body = json.loads(harness.unique_envelope(event))
    body["payload"].update(id=agent, hostname=hostname,
                           customer_id=customer)
    return json.dumps(body).encode()


def shipped_block(title):
    """The commented target block titled so in config/psabridge.cfg,
    uncommented, and the sample's rules."""
    with open(os.path.join(TOP, "config", "psabridge.cfg")) as f:
        text = f.read()
    lines = text.splitlines()
    start = [i for i, ln in enumerate(lines)
             if ln.startswith("  # %s (docs/" % title)][0]
    block = []
    for ln in lines[start + 1:]:
        if not ln.strip():
            break
        block.append(ln.replace("  # ", "  ", 1))
    rules = text[text.index("\nrules = ("):text.index("\n);\n", text.index(
        "\nrules = (")) + 4]
    return "\n".join(block), rules


class Lifecycle:
    """The tests both PSAs pass; a subclass gives the fake and target."""

    def setUp(self):
        super().setUp()
        self.psa = FakePSA().start()
        self.addCleanup(self.psa.stop)
        self.fake = self.make_fake()
        self.psa.default(self.fake)

    def bridge(self, target_extra="", create_opts="", close_opts="",
               start=True):
        d = self.daemon(start=False, extra_env=self.env())
        with open(os.path.join(d.etc, "customers.csv"), "w") as f:
            f.write(CUSTOMERS_CSV)
        # a fixed admin port, for `psabridge queue`
        d.write_config(
            d.config_text().replace(
                'listen = "127.0.0.1:0"; token',
                'listen = "127.0.0.1:%d"; token' % harness.free_port()) +
            'templates_dir = "%s";\n' % os.path.join(TOP, "templates") +
            'customers = { file = "customers.csv"; unmapped = "hold"; };\n'
            'targets = ( %s );\n' % self.target(target_extra) +
            RULES % {"create_opts": create_opts, "close_opts": close_opts})
        if start:
            d.start()
        return d

    def finished(self, d, n, timeout=60):
        """Waits until n jobs are done or dead; returns their rows."""
        end = time.monotonic() + timeout
        while True:
            rows = d.query("SELECT id, action, state, ticket_id, last_error"
                           " FROM jobs WHERE state IN ('done', 'dead')"
                           " ORDER BY seq")
            if len(rows) >= n:
                return rows
            if time.monotonic() > end:
                self.fail("%d of %d jobs finished: %r" % (
                    len(rows), n, d.query("SELECT action, state, "
                                          "last_error FROM jobs")))
            time.sleep(0.1)

    # -- the lifecycle --

    def test_uninstall_then_reinstall_closes_the_same_ticket(self):
        d = self.bridge()
        self.assertQueued(d.post(agent_event("Agent.Uninstall")))
        rows = self.finished(d, 1)
        tid = rows[0][3]
        self.assertEqual(rows[0][2], "done", rows)
        self.assertEqual([str(t["id"]) for t in self.fake.open_tickets()],
                         [tid])
        self.assertQueued(d.post(agent_event("Agent.Reinstall")))
        rows = self.finished(d, 2)
        self.assertEqual(rows[1][2:4], ("done", tid), rows)
        self.assertEqual(self.fake.open_tickets(), [])
        self.assertEqual(len(self.fake.tickets), 1)
        notes = self.fake.notes[int(tid)]
        self.assertEqual(len(notes), 1, notes)
        self.assertIn("reinstalled", notes[0])
        d.wait_for_log(r"msg=\"closed ticket %s\"" % tid)

    def test_queue_tickets_lists_each_keys_ticket(self):
        d = self.bridge()
        self.assertQueued(d.post(agent_event("Agent.Uninstall")))
        tid = self.finished(d, 1)[0][3]
        r = run_cli(["queue", "tickets", "-c", d.cfg_path], env=self.env())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"psa\s+agent:%s\s+%s\s+open"
                         % (AGENT, tid))
        self.assertQueued(d.post(agent_event("Agent.Reinstall")))
        self.finished(d, 2)
        r = run_cli(["queue", "tickets", "-c", d.cfg_path, "--json",
                     "--state", "closed"], env=self.env())
        self.assertEqual(r.returncode, 0, r.stderr)
        [t] = json.loads(r.stdout)
        self.assertEqual((t["target"], t["correlate"], t["ticket_id"],
                          t["state"]), ("psa", "agent:" + AGENT, tid,
                                        "closed"))
        r = run_cli(["queue", "tickets", "-c", d.cfg_path, "--state",
                     "gone"], env=self.env())
        self.assertEqual(r.returncode, 2)
        self.assertIn('"gone" is not a state: use open or closed', r.stderr)
        r = harness.http_request(d.admin_port, "GET",
                                 "/api/v1/tickets?state=pending", None,
                                 d.auth(d.admin_token))
        self.assertEqual(r.status, 400, r)

    def test_after_a_close_the_next_create_opens_a_new_ticket(self):
        d = self.bridge()
        self.assertQueued(d.post(agent_event("Agent.Uninstall")))
        first = self.finished(d, 1)[0][3]
        self.assertQueued(d.post(agent_event("Agent.Reinstall")))
        self.finished(d, 2)
        self.assertQueued(d.post(agent_event("Agent.Uninstall")))
        rows = self.finished(d, 3)
        self.assertEqual(rows[2][2], "done", rows)
        self.assertNotEqual(rows[2][3], first)
        self.assertEqual([str(t["id"]) for t in self.fake.open_tickets()],
                         [rows[2][3]])
        self.assertEqual(self.fake.notes[int(rows[2][3])], [])

    def test_uninstall_twice_notes_the_open_ticket(self):
        d = self.bridge()
        self.assertQueued(d.post(agent_event("Agent.Uninstall")))
        tid = self.finished(d, 1)[0][3]
        self.assertQueued(d.post(agent_event("Agent.Uninstall")))
        rows = self.finished(d, 2)
        self.assertEqual(rows[1][2:4], ("done", tid), rows)
        self.assertEqual(len(self.fake.tickets), 1)
        notes = self.fake.notes[int(tid)]
        self.assertEqual(len(notes), 1)
        self.assertIn("happened again", notes[0])
        # the state knew the ticket: no lookup was needed the second time
        self.assertEqual(len(self.lookups()), 1)

    def test_dedup_false_opens_a_second_ticket(self):
        d = self.bridge(create_opts="dedup = false;")
        self.assertQueued(d.post(agent_event("Agent.Uninstall")))
        self.finished(d, 1)
        self.assertQueued(d.post(agent_event("Agent.Uninstall")))
        rows = self.finished(d, 2)
        self.assertNotEqual(rows[0][3], rows[1][3])
        self.assertEqual(len(self.fake.open_tickets()), 2)
        self.assertEqual(self.lookups(), [])

    def test_reinstall_without_a_ticket_is_skipped(self):
        d = self.bridge()
        self.assertQueued(d.post(agent_event("Agent.Reinstall")))
        rows = self.finished(d, 1)
        self.assertEqual(rows[0][2], "done", rows)
        self.assertIsNone(rows[0][3])
        self.assertEqual(self.fake.tickets, {})
        self.assertEqual(len(self.lookups()), 1)
        d.wait_for_log(r"skipped: no open ticket for agent:" + AGENT)

    def test_a_hostile_key_cannot_forge_a_log_line(self):
        d = self.bridge()
        agent = 'x" forged=1\nlevel=error msg="forged line'
        self.assertQueued(d.post(agent_event("Agent.Reinstall",
                                             agent=agent)))
        self.finished(d, 1)
        skipped = [harness.parse_log_line(ln) for ln in d.lines()
                   if "skipped" in ln]
        self.assertEqual(len(skipped), 1, d.lines())
        # the line break is logged as \x0a (parse_log_line keeps "x0a")
        self.assertEqual(skipped[0]["msg"],
                         "skipped: no open ticket for agent:%s "
                         "(if_missing = skip)" % agent.replace("\n", "x0a"))
        for ln in d.lines():
            self.assertNotIn("forged", harness.parse_log_line(ln))
            self.assertFalse(ln.startswith("level=error msg=\"forged"), ln)

    def test_if_missing_create_opens_and_closes_a_ticket(self):
        d = self.bridge(close_opts='if_missing = "create";')
        self.assertQueued(d.post(agent_event("Agent.Reinstall")))
        rows = self.finished(d, 1)
        self.assertEqual(rows[0][2], "done", rows)
        self.assertEqual(len(self.fake.tickets), 1)
        self.assertEqual(self.fake.open_tickets(), [])

    def test_restart_between_create_and_close_still_closes(self):
        d = self.bridge()
        self.assertQueued(d.post(agent_event("Agent.Uninstall")))
        tid = self.finished(d, 1)[0][3]
        d.restart()
        self.assertQueued(d.post(agent_event("Agent.Reinstall")))
        rows = self.finished(d, 2)
        self.assertEqual(rows[1][2:4], ("done", tid), rows)
        self.assertEqual(self.fake.open_tickets(), [])
        self.assertEqual(len(self.lookups()), 1)  # only the create's

    def test_a_lost_state_file_finds_the_open_ticket_by_key(self):
        d = self.bridge()
        self.assertQueued(d.post(agent_event("Agent.Uninstall")))
        tid = self.finished(d, 1)[0][3]
        d.stop()
        shutil.rmtree(d.state_dir)
        os.makedirs(d.state_dir, mode=0o700)
        d.start()
        self.assertQueued(d.post(agent_event("Agent.Uninstall")))
        rows = self.finished(d, 1)
        self.assertEqual(rows[0][2:4], ("done", tid), rows)
        self.assertEqual(len(self.fake.tickets), 1)
        self.assertIn("happened again", self.fake.notes[int(tid)][0])
        self.assertQueued(d.post(agent_event("Agent.Reinstall")))
        rows = self.finished(d, 2)
        self.assertEqual(rows[1][3], tid)
        self.assertEqual(self.fake.open_tickets(), [])

    def test_a_ticket_deleted_in_the_psa_is_looked_up_again(self):
        d = self.bridge()
        self.assertQueued(d.post(agent_event("Agent.Uninstall")))
        tid = self.finished(d, 1)[0][3]
        with self.fake.lock:
            del self.fake.tickets[int(tid)]
        self.assertQueued(d.post(agent_event("Agent.Uninstall")))
        rows = self.finished(d, 2)
        self.assertEqual(rows[1][2], "done", rows)
        self.assertNotEqual(rows[1][3], tid)
        self.assertEqual(len(self.fake.open_tickets()), 1)

    def test_a_ticket_gone_from_the_psa_is_forgotten_when_skipped(self):
        d = self.bridge()
        self.assertQueued(d.post(agent_event("Agent.Uninstall")))
        tid = self.finished(d, 1)[0][3]
        with self.fake.lock:
            del self.fake.tickets[int(tid)]
        self.assertQueued(d.post(agent_event("Agent.Reinstall")))
        rows = self.finished(d, 2)
        self.assertEqual(rows[1][2], "done", rows)
        self.assertEqual(d.query("SELECT state FROM tickets"), [("closed",)])

    def test_a_note_to_a_known_ticket_needs_no_company(self):
        d = self.bridge()
        self.assertQueued(d.post(agent_event("Agent.Uninstall")))
        tid = self.finished(d, 1)[0][3]
        with open(os.path.join(d.etc, "customers.csv"), "w") as f:
            f.write(CUSTOMERS_CSV.replace("Contoso,29684", ","))
        d.signal(1)  # SIGHUP
        d.wait_for_log(r"msg=reloaded")
        self.assertQueued(d.post(agent_event("Agent.Uninstall")))
        rows = self.finished(d, 2)
        self.assertEqual(rows[1][2:4], ("done", tid), rows)

    def test_an_answer_without_a_ticket_id_is_retried_not_done(self):
        d = self.bridge()
        self.script_create_answer({"status": 201 if self.column.startswith(
            "conn") else 200, "body": {"unexpected": True}})
        self.assertQueued(d.post(agent_event("Agent.Uninstall")))
        rows = self.finished(d, 1)
        self.assertEqual(rows[0][2], "done", rows)
        att = d.query("SELECT outcome, error FROM attempts ORDER BY seq")
        self.assertEqual([a[0] for a in att], ["retry", "done"], att)
        self.assertIn("without a ticket id", att[0][1])
        self.assertEqual(len(self.fake.tickets), 1)

    def test_check_passes_when_the_sample_customer_is_not_mapped(self):
        d = self.bridge(start=False)
        with open(os.path.join(d.etc, "customers.csv"), "w") as f:
            f.write(CUSTOMERS_CSV.splitlines()[0] + "\nother,Other,O,1\n")
        r = run_cli(["check", "-c", d.cfg_path, "--events",
                     os.path.join(harness.data_dir(), "defensx")],
                    env=self.env())
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_a_customer_without_a_company_column_is_dead_with_the_reason(
            self):
        d = self.bridge()
        with open(os.path.join(d.etc, "customers.csv"), "a") as f:
            f.write("no-company,Empty Co,,\n")
        d.signal(1)  # SIGHUP
        d.wait_for_log(r"msg=reloaded")
        self.assertQueued(d.post(agent_event("Agent.Uninstall",
                                             customer="no-company")))
        rows = self.finished(d, 1)
        self.assertEqual(rows[0][2], "dead", rows)
        self.assertIn("customer no-company has no %s" % self.column,
                      rows[0][4])

    def test_secrets_never_reach_the_log_or_the_store(self):
        d = self.bridge()
        self.assertQueued(d.post(agent_event("Agent.Uninstall")))
        self.finished(d, 1)
        r = run_cli(["render", "-c", d.cfg_path,
                     os.path.join(harness.data_dir(), "defensx",
                                  "agent-uninstall.json")],
                    env=self.env())
        self.assertEqual(r.returncode, 0, r.stderr)
        dump = "\n".join(str(row) for row in d.query(
            "SELECT * FROM attempts")) + str(d.query("SELECT * FROM jobs"))
        for s in self.secrets():
            for text in (d.log_text(), r.stdout, r.stderr, dump):
                self.assertNotIn(s, text)

    def test_the_shipped_sample_block_passes_check(self):
        block, rules = shipped_block(self.title)
        d = self.daemon(start=False, extra_env=self.sample_env)
        with open(os.path.join(d.etc, "customers.csv"), "w") as f:
            f.write(CUSTOMERS_CSV)
        d.write_config(
            d.config_text() +
            'templates_dir = "%s";\n' % os.path.join(TOP, "templates") +
            'customers = { file = "customers.csv"; unmapped = "hold"; };\n'
            'targets = (\n' + block + '\n);\n' + rules)
        r = run_cli(["check", "-c", d.cfg_path, "--events",
                     os.path.join(harness.data_dir(), "defensx")],
                    env=self.sample_env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration OK (5 sample events rendered)",
                      r.stdout)

    # -- test-target --

    def test_test_target_creates_and_closes_a_labelled_ticket(self):
        d = self.bridge(start=False)
        r = run_cli(["test-target", "-c", d.cfg_path, "--customer",
                     CUSTOMER, "psa"], env=self.env())
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(len(self.fake.tickets), 1)
        self.assertEqual(self.fake.open_tickets(), [])
        t = list(self.fake.tickets.values())[0]
        self.assertIn("psabridge test ticket", json.dumps(t))
        self.assertRegex(r.stdout, r"test ticket \d+ created and closed")
        for s in self.secrets():
            self.assertNotIn(s, r.stdout + r.stderr)

    def test_test_target_says_which_customer_is_unknown(self):
        d = self.bridge(start=False)
        r = run_cli(["test-target", "-c", d.cfg_path, "--customer", "zz",
                     "psa"], env=self.env())
        self.assertEqual(r.returncode, 1)
        self.assertIn('no customer "zz" in', r.stderr)
        self.assertEqual(self.psa.requests(), [])

    def test_test_target_dry_run_sends_nothing(self):
        d = self.bridge(start=False)
        r = run_cli(["test-target", "-c", d.cfg_path, "--dry-run", "psa"],
                    env=self.env())
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.psa.requests(), [])
        self.assertIn("dry run: nothing was sent", r.stdout)
        self.assertIn("***", r.stdout)

    def test_test_target_names_a_target_that_is_not_a_psa(self):
        d = self.bridge(start=False)
        r = run_cli(["test-target", "-c", d.cfg_path, "nope"],
                    env=self.env())
        self.assertEqual(r.returncode, 1)
        self.assertIn('no connectwise or autotask target "nope"', r.stderr)


class ConnectWiseTest(Lifecycle, DaemonTestCase):
    column = "connectwise_company"
    title = "ConnectWise Manage"
    sample_env = {"CW_COMPANY_ID": "acme", "CW_PUBLIC_KEY": "p",
                  "CW_PRIVATE_KEY": "k", "CW_CLIENT_ID": "c"}

    def make_fake(self):
        return FakeConnectWise(company_id="acme", public_key="pubKEY77",
                               private_key="privKEY88",
                               client_id="client-guid-99")

    def env(self):
        return {"CW_COMPANY": "acme", "CW_PUBLIC": "pubKEY77",
                "CW_PRIVATE": "privKEY88", "CW_CLIENT": "client-guid-99"}

    def secrets(self):
        return ["privKEY88", self.fake.auth.split()[1], "client-guid-99"]

    def target(self, extra=""):
        return ('{ name = "psa"; type = "connectwise"; '
                'api_url = "%s%s"; company_id = "env:CW_COMPANY"; '
                'public_key = "env:CW_PUBLIC"; '
                'private_key = "env:CW_PRIVATE"; '
                'client_id = "env:CW_CLIENT"; board = "Help Desk"; '
                'priorities = { high = "Priority 1 - Emergency Response"; '
                'normal = "Priority 3 - Normal Response"; }; '
                'retry = { first = "1s"; max = "2s"; }; %s }'
                % (self.psa.url, CW_BASE, extra))

    def lookups(self):
        return [r for r in self.psa.requests(CW_BASE + "/service/tickets")
                if r.method == "GET"]

    def script_create_answer(self, answer):
        # the lookup comes first under the same path: the fake answers it
        self.psa.script(CW_BASE + "/service/tickets", [lambda r: None,
                                                       answer])

    def test_the_codebase_is_discovered_once(self):
        d = self.bridge()
        with open(d.cfg_path) as f:
            cfg = f.read()
        cfg = cfg.replace(
            'api_url = "%s%s";' % (self.psa.url, CW_BASE),
            'site = "%s";' % self.psa.url)
        d.stop()
        d.write_config(cfg)
        d.start()
        d.wait_for_log(r"msg=\"target ready\" target=psa detail=\"API base "
                       + self.psa.url + CW_BASE)
        for _ in range(2):
            self.assertQueued(d.post(agent_event("Agent.Uninstall")))
        self.finished(d, 2)
        self.assertEqual(len(self.psa.requests("/login/companyinfo/acme")),
                         1)

    def test_the_create_request_carries_the_fields(self):
        d = self.bridge()
        host = "H" * 120  # a summary longer than 100 characters
        self.assertQueued(d.post(agent_event("Agent.Uninstall",
                                             hostname=host)))
        self.finished(d, 1)
        req = [r for r in self.psa.requests(CW_BASE + "/service/tickets")
               if r.method == "POST"][0]
        t = req.json()
        self.assertEqual(len(t["summary"]), 100)
        self.assertTrue(t["summary"].endswith("..."))
        self.assertIn(host, t["initialDescription"].split("\n")[0])
        self.assertEqual(t["company"], {"identifier": "Contoso"})
        self.assertEqual(t["board"], {"name": "Help Desk"})
        self.assertEqual(t["priority"],
                         {"name": "Priority 1 - Emergency Response"})
        self.assertEqual(t["externalXRef"], "agent:" + AGENT)
        self.assertEqual(req.header("clientId"), "client-guid-99")
        self.assertTrue(req.header("Accept").startswith(
            "application/vnd.connectwise.com+json; version="))

    def test_an_invalid_ticket_is_dead_with_connectwises_message(self):
        d = self.bridge()
        self.assertQueued(d.post(agent_event("Agent.Uninstall",
                                             customer="bad-co")))
        rows = self.finished(d, 1)
        self.assertEqual(rows[0][2], "dead", rows)
        self.assertEqual(d.query("SELECT count(*) FROM attempts"), [(1,)])
        self.assertIn("creating the ticket: ConnectWise answered HTTP 400: "
                      "InvalidObject: ticket object is invalid; "
                      "company/identifier: Company not found.", rows[0][4])

    def test_wrong_credentials_are_dead_with_the_answer(self):
        self.fake.auth = "Basic nope"
        d = self.bridge()
        self.assertQueued(d.post(agent_event("Agent.Uninstall")))
        rows = self.finished(d, 1)
        self.assertEqual(rows[0][2], "dead", rows)
        self.assertIn("HTTP 401: Unauthorized: The credentials are not "
                      "valid", rows[0][4])


class AutotaskTest(Lifecycle, DaemonTestCase):
    column = "autotask_company_id"
    title = "Autotask"
    sample_env = {"AT_USERNAME": "u@x", "AT_SECRET": "s",
                  "AT_INTEGRATION_CODE": "c"}

    def make_fake(self):
        f = FakeAutotask(username="api@acme.example", secret="sEcReT55",
                         code="CODE-66")
        f.zone_url = self.psa.url + "/zone/"
        return f

    def env(self):
        return {"AT_USERNAME": "api@acme.example", "AT_SECRET": "sEcReT55",
                "AT_CODE": "CODE-66"}

    def secrets(self):
        return ["sEcReT55", "CODE-66"]

    def target(self, extra=""):
        return ('{ name = "psa"; type = "autotask"; '
                'discovery_url = "%s/discovery/"; '
                'username = "env:AT_USERNAME"; secret = "env:AT_SECRET"; '
                'integration_code = "env:AT_CODE"; '
                'queue = "Monitoring Alert"; new_status = "New"; '
                'complete_status = "Complete"; '
                'priorities = { high = "High"; normal = "Medium"; }; '
                'retry = { first = "1s"; max = "2s"; }; %s }'
                % (self.psa.url, extra))

    def lookups(self):
        return self.psa.requests("/zone/V1.0/Tickets/query")

    def script_create_answer(self, answer):
        # query and fields share the prefix: the first create gets answer
        left = [answer]

        def once(r):
            if r.path == "/zone/V1.0/Tickets" and r.method == "POST" and \
                    left:
                return left.pop()
            return None
        self.psa.script("/zone/V1.0/Tickets", [once] * 4)

    def test_the_zone_and_picklists_are_read_once(self):
        d = self.bridge()
        d.wait_for_log(r"msg=\"target ready\" target=psa detail=\"zone "
                       + self.psa.url + "/zone/, picklists read")
        for _ in range(2):
            self.assertQueued(d.post(agent_event("Agent.Uninstall")))
        self.finished(d, 2)
        self.assertEqual(len(self.psa.requests(
            "/discovery/V1.0/ZoneInformation")), 1)
        self.assertEqual(self.fake.field_requests, 1)

    def test_labels_become_picklist_values(self):
        d = self.bridge()
        self.assertQueued(d.post(agent_event("Agent.Uninstall")))
        self.finished(d, 1)
        t = self.psa.requests("/zone/V1.0/Tickets")
        t = [r for r in t if r.path == "/zone/V1.0/Tickets"][0].json()
        self.assertEqual((t["status"], t["priority"], t["queueID"],
                          t["companyID"]), (1, 1, 29683496, 29684))
        self.assertEqual(t["externalID"], "agent:" + AGENT)
        self.assertEqual(self.lookups()[0].json()["filter"][1],
                         {"op": "noteq", "field": "status", "value": 5})

    def test_an_unknown_label_is_named_with_the_valid_ones(self):
        d = self.bridge(start=False)
        with open(d.cfg_path) as f:
            cfg = f.read()
        cfg = cfg.replace('"Monitoring Alert"',
                                              '"Monitoring Alerts"')
        d.write_config(cfg)
        d.start()
        d.wait_for_log(r'target not ready.*\\"Monitoring Alerts\\" is not a '
                       r'value of the Autotask ticket field queueID; valid: '
                       r'\\"Monitoring Alert\\", \\"Tier 2\\"')

    def test_a_validation_error_goes_dead_after_three_attempts(self):
        d = self.bridge()
        self.assertQueued(d.post(agent_event("Agent.Uninstall",
                                             customer="bad-co")))
        rows = self.finished(d, 1, timeout=90)
        self.assertEqual(rows[0][2], "dead", rows)
        self.assertIn("Autotask answered HTTP 500: Value does not exist "
                      "for the required field companyID.", rows[0][4])
        n = d.query("SELECT count(*) FROM attempts")[0][0]
        self.assertEqual(n, 3)


if __name__ == "__main__":
    unittest.main(verbosity=2)
