#!/usr/bin/env python3
"""Routing at ingest: every acknowledged event has its jobs, in the same
transaction; unrouted, held, released and dropped, through the real
binary with the shipped templates."""

import os
import shutil
import signal
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DaemonTestCase, fixture  # noqa: E402

harness.check_env()

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CONTOSO = "c062a202-e090-4e57-ba88-d74dfd2e3455"
HEADER = "customer_id,name,connectwise_company,autotask_company_id\n"

ROUTING = '''
templates_dir = "templates";
targets = ( { name = "psa"; type = "file"; path = "tickets.jsonl"; },
            { name = "teams"; type = "webhook"; url = "https://teams.invalid/hook"; } );
rules = (
  { name = "unblock-request"; match = [ "event = UserRequest.Create" ];
    actions = ( { target = "psa"; action = "create"; template = "user-request";
                  correlate = "userrequest:{{payload.id}}"; } ); },
  { name = "agent-uninstalled";
    match = [ "event = Agent.Uninstall", "payload.platform =~ Windows|macOS" ];
    actions = ( { target = "psa"; action = "create"; template = "agent-uninstalled";
                  correlate = "agent:{{payload.id}}"; },
                { target = "teams"; action = "notify";
                  template = "teams-agent-uninstalled"; } ); },
  { name = "agent-back"; match = [ "event = Agent.Reinstall" ];
    actions = ( { target = "psa"; action = "close"; template = "agent-reinstalled";
                  correlate = "agent:{{payload.id}}"; } ); }
);
customers = { file = "customers.csv"; unmapped = "%s"; };
'''


class RoutingTest(DaemonTestCase):

    def routed_daemon(self, unmapped="hold", rows=None):
        d = self.daemon(start=False)
        shutil.copytree(os.path.join(TOP, "templates"),
                        os.path.join(d.etc, "templates"))
        self.write_customers(d, rows if rows is not None else
                             [CONTOSO + ",Contoso Ltd,Contoso,29684"])
        d.write_config(d.config_text() + ROUTING % unmapped)
        d.start()
        return d

    def write_customers(self, d, rows):
        with open(os.path.join(d.etc, "customers.csv"), "w") as f:
            f.write(HEADER + "".join(r + "\n" for r in rows))

    def jobs(self, d, event_id):
        """The event's jobs; the state as routing left it: "held", or
        "pending" (delivery may have moved it on already: in flight,
        done, or dead for the unreachable webhook)."""
        rows = d.query("SELECT rule, target, action, template, correlate, "
                       "customer_id, state FROM jobs WHERE event_id = ? "
                       "ORDER BY seq", (event_id,))
        return [r[:-1] + ("held" if r[-1] == "held" else "pending",)
                for r in rows]

    def state(self, d, event_id):
        return d.query("SELECT state FROM events WHERE id = ?",
                       (event_id,))[0][0]

    def test_user_request_gets_one_pending_create_job(self):
        d = self.routed_daemon()
        eid = self.assertQueued(d.post(fixture("userrequest-create")))
        self.assertEqual(self.state(d, eid), "routed")
        self.assertEqual(self.jobs(d, eid), [
            ("unblock-request", "psa", "create", "user-request",
             "userrequest:1650", CONTOSO, "pending")])

    def test_uninstall_gets_a_ticket_and_a_notification_in_order(self):
        d = self.routed_daemon()
        eid = self.assertQueued(d.post(fixture("agent-uninstall")))
        agent = "agent:fdceb72a-c274-4844-8b74-a0c74a8018e5"
        self.assertEqual(self.jobs(d, eid), [
            ("agent-uninstalled", "psa", "create", "agent-uninstalled",
             agent, CONTOSO, "pending"),
            ("agent-uninstalled", "teams", "notify",
             "teams-agent-uninstalled", None, CONTOSO, "pending")])

    def test_an_event_no_rule_matches_is_stored_unrouted(self):
        d = self.routed_daemon()
        eid = self.assertQueued(d.post(fixture("agent-create")))
        self.assertEqual(self.state(d, eid), "unrouted")
        self.assertEqual(self.jobs(d, eid), [])

    def test_a_failing_regex_matcher_leaves_the_event_unrouted(self):
        d = self.routed_daemon()
        body = fixture("agent-uninstall").replace(b'"Windows"',
                                                       b'"Linux"')
        eid = self.assertQueued(d.post(body))
        self.assertEqual(self.state(d, eid), "unrouted")

    def test_a_duplicate_gets_no_second_set_of_jobs(self):
        d = self.routed_daemon()
        body = fixture("userrequest-create")
        eid = self.assertQueued(d.post(body))
        r = d.post(body)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(d.query("SELECT count(*) FROM jobs"), [(1,)])

    def test_unmapped_customer_is_held_then_released_by_a_reload(self):
        d = self.routed_daemon(rows=[])
        eid = self.assertQueued(d.post(fixture("userrequest-create")))
        self.assertEqual([j[-1] for j in self.jobs(d, eid)], ["held"])
        self.write_customers(d, [CONTOSO + ",Contoso Ltd,Contoso,29684"])
        mark = d.log_mark()
        d.signal(signal.SIGHUP)
        d.wait_for_log(r"msg=\"held jobs released\" jobs=1", since=mark)
        self.assertEqual([j[-1] for j in self.jobs(d, eid)], ["pending"])
        self.assertEqual(d.stop(), 0)

    def test_unmapped_customer_under_drop_gets_no_jobs(self):
        d = self.routed_daemon(unmapped="drop", rows=[])
        eid = self.assertQueued(d.post(fixture("userrequest-create")))
        self.assertEqual(self.state(d, eid), "dropped")
        self.assertEqual(self.jobs(d, eid), [])

    def test_unmapped_customer_under_default_uses_the_star_row(self):
        d = self.routed_daemon(unmapped="default",
                               rows=["*,Unknown client,Catchall,0"])
        eid = self.assertQueued(d.post(fixture("userrequest-create")))
        self.assertEqual([j[-1] for j in self.jobs(d, eid)], ["pending"])

    def test_routing_survives_kill_9_with_its_event(self):
        d = self.routed_daemon()
        ids = [self.assertQueued(d.post(harness.envelope(
            "UserRequest.Create", 1700000000 + i,
            {"id": i, "customer_id": CONTOSO, "hostname": "h%d" % i})))
            for i in range(50)]
        d.kill()
        for eid in ids:
            self.assertEqual(len(self.jobs(d, eid)), 1, eid)

    def test_a_rule_change_applies_to_events_after_the_reload(self):
        d = self.routed_daemon()
        first = self.assertQueued(d.post(fixture("agent-create")))
        with open(d.cfg_path) as f:
            cfg = f.read()
        cfg = cfg.replace(
            '"event = Agent.Reinstall"', '"event =~ Agent.(Reinstall|Create)"')
        d.write_config(cfg)
        mark = d.log_mark()
        d.signal(signal.SIGHUP)
        d.wait_for_log(r"msg=reloaded", since=mark)
        second = self.assertQueued(d.post(harness.envelope(
            "Agent.Create", 1700000001, {"id": "x", "customer_id": CONTOSO})))
        self.assertEqual(self.state(d, first), "unrouted")
        self.assertEqual(self.state(d, second), "routed")


if __name__ == "__main__":
    unittest.main()
