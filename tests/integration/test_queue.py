#!/usr/bin/env python3
"""`psabridge queue`: the operator's command line over the admin API,
against the real daemon delivering to a FakePSA on loopback.  Jobs die at
once (the fake answers 400, which is not retried), are listed, shown,
retried one by one and in bulk; held jobs are released; wrong token,
stopped daemon and unknown ids give exit 1 and a sentence."""

import json
import os
import re
import sys
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from harness import DaemonTestCase, fixture, run_cli, write_secret  # noqa
from fakepsa import FakePSA  # noqa: E402

harness.check_env()

POLL_S = 8.0  # a delivery tick is 1 s; sanitizer builds are slower
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")

TARGETS = '''
templates_dir = "templates";
targets = ( { name = "psa"; type = "webhook"; url = "%s/hook"; body = "body";
              retry = { first = "1s"; max = "2s"; give_up_after = "1h"; }; } );
rules = ( { name = "to-psa"; match = [ "event = UserRequest.Create" ];
            actions = ( { target = "psa"; action = "notify"; } ); } );
'''
HOLD = '''
customers = { file = "customers.csv"; unmapped = "hold"; };
'''
# The fake's refusal: a control sequence that must not reach a terminal.
REFUSAL = "missing field \x1b[31mtitle\x1b[0m"


def user_request(n=1650):
    """The fixture, or a copy with another payload id (not a duplicate)."""
    if n == 1650:
        return fixture("userrequest-create")
    obj = json.loads(fixture("userrequest-create"))
    obj["payload"]["id"] = n
    return json.dumps(obj).encode()


class QueueTest(DaemonTestCase):

    def setUp(self):
        super().setUp()
        self.psa = FakePSA().start()
        self.addCleanup(self.psa.stop)

    def start_daemon(self, hold=False, admin=True):
        d = self.daemon(start=False, admin=admin)
        os.makedirs(os.path.join(d.etc, "templates"))
        with open(os.path.join(d.etc, "templates",
                               "body.json.mustache"), "w") as f:
            f.write('{"text":"{{payload.hostname}}"}\n')
        text = d.config_text().replace(
            'listen = "127.0.0.1:0"; token',
            'listen = "127.0.0.1:%d"; token' % harness.free_port())
        text += TARGETS % self.psa.url
        if hold:
            with open(os.path.join(d.etc, "customers.csv"), "w") as f:
                f.write("customer_id,name,connectwise_company,"
                        "autotask_company_id\n")
            text += HOLD
        d.write_config(text)
        if admin:
            d.start()
        return d

    def queue(self, d, *args, cfg=None):
        return run_cli(["queue", args[0], "-c", cfg or d.cfg_path]
                       + list(args[1:]), cwd=d.cwd)

    def ok(self, d, *args):
        r = self.queue(d, *args)
        self.assertEqual(r.returncode, 0, r)
        return r.stdout

    def jobs(self, d, *args):
        return json.loads(self.ok(d, "list", "--json", *args))

    def wait_jobs(self, d, state, n):
        """Polls `queue list --state STATE --json` until n jobs are in it."""
        deadline = time.monotonic() + POLL_S
        while True:
            got = self.jobs(d, "--state", state)
            if len(got) >= n or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(len(got), n, "jobs %s: %r; all: %r"
                         % (state, got, self.jobs(d)))
        return got

    def dead_job(self, d, n=1650):
        self.psa.default({"status": 400, "body": REFUSAL})
        eid = self.assertQueued(d.post(user_request(n)))
        job = [j for j in self.wait_jobs(d, "dead", 1)
               if j["event_id"] == eid]
        self.assertEqual(len(job), 1)
        return eid, job[0]

    def assertClean(self, text):
        """Nothing a terminal would act on: no control byte but \\n."""
        self.assertIsNone(re.search(r"[\x00-\x09\x0b-\x1f\x7f]", text),
                          repr(text))

    # -- list, show, retry --

    def test_a_dead_job_is_listed_as_a_table_and_as_json(self):
        d = self.start_daemon()
        _, job = self.dead_job(d)
        self.assertEqual((job["state"], job["target"], job["action"],
                          job["attempt_count"], job["last_status"],
                          job["event_type"]),
                         ("dead", "psa", "notify", 1, 400,
                          "UserRequest.Create"))
        out = self.ok(d, "list", "--state", "dead")
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), [
            "ID", "STATE", "TARGET", "ACTION", "ATTEMPTS", "LAST", "STATUS",
            "AGE", "EVENT", "TYPE"])
        self.assertEqual(len(lines), 2, out)
        row = lines[1].split()
        self.assertEqual(row[:6], [job["id"], "dead", "psa", "notify", "1",
                                   "400"])
        self.assertRegex(row[6], r"^\d+s$")
        self.assertEqual(row[7], "UserRequest.Create")
        # columns line up: each header starts where its values start
        self.assertEqual(lines[0].index("STATE"), lines[1].index("dead"))
        self.assertEqual(self.ok(d, "list", "--state", "done"), "no jobs\n")
        self.assertEqual(self.jobs(d, "--target", "nope"), [])

    def test_show_gives_the_attempt_with_its_status_and_answer(self):
        d = self.start_daemon()
        eid, job = self.dead_job(d)
        out = self.ok(d, "show", job["id"])
        self.assertClean(out)
        self.assertTrue(out.startswith("job %s\n" % job["id"]), out)
        self.assertRegex(out, r"\n  event +%s\n" % eid)
        self.assertRegex(out, r"\n  state +dead\n")
        self.assertRegex(out, r"\n  attempt 1\n    time +%s\n"
                         % RFC3339.pattern)
        self.assertRegex(out, r"\n    status +400\n")
        self.assertRegex(out, r"\n    duration +\d+ ms\n")
        self.assertRegex(out, r"\n    error +HTTP 400\n")
        self.assertIn("    response      missing field \\x1b[31mtitle"
                      "\\x1b[0m\n", out)
        doc = json.loads(self.ok(d, "show", job["id"], "--json"))
        self.assertEqual(doc["attempts"][0]["status"], 400)
        self.assertEqual(doc["attempts"][0]["response"], REFUSAL)
        # an event id shows the event with its jobs
        out = self.ok(d, "show", eid)
        self.assertTrue(out.startswith("event %s\n" % eid), out)
        self.assertRegex(out, r"\n  event type +UserRequest.Create\n")
        self.assertIn("\n  job %s\n" % job["id"], out)
        self.assertRegex(out, r"\n      status +400\n")

    def test_an_attempt_without_an_answer_and_its_next_try(self):
        d = self.start_daemon()
        self.psa.default({"reset": b""})
        self.assertQueued(d.post(user_request()))
        deadline = time.monotonic() + POLL_S
        while not any(j["attempt_count"] for j in self.jobs(d)) and \
                time.monotonic() < deadline:
            time.sleep(0.1)
        job = self.jobs(d)[0]
        out = self.ok(d, "show", job["id"])
        self.assertRegex(out, r"\n  attempt 1\n    time +%s\n    status +"
                         r"no HTTP answer\n" % RFC3339.pattern)
        if job["state"] == "pending":  # not yet taken again
            self.assertRegex(out, r"\n  next attempt +%s\n"
                             % RFC3339.pattern)

    def test_retry_of_one_job_after_the_target_recovers(self):
        d = self.start_daemon()
        _, job = self.dead_job(d)
        self.psa.default(200)
        out = self.ok(d, "retry", job["id"])
        self.assertEqual(out, "job %s (dead) queued again\n" % job["id"])
        done = self.wait_jobs(d, "done", 1)
        self.assertEqual(done[0]["id"], job["id"])
        self.assertEqual(done[0]["attempt_count"], 2)
        self.assertEqual(len(self.psa.requests("/hook")), 2)

    def test_retry_all_dead_of_a_target(self):
        d = self.start_daemon()
        self.psa.default({"status": 400, "body": REFUSAL})
        for n in (1, 2, 3):
            self.assertQueued(d.post(user_request(n)))
        self.wait_jobs(d, "dead", 3)
        self.psa.default(200)
        out = self.ok(d, "retry", "--all-dead", "--target", "psa")
        self.assertEqual(out, "retrying dead jobs of target psa...\n"
                              "3 dead jobs of target psa queued again\n")
        self.wait_jobs(d, "done", 3)
        self.assertEqual(self.jobs(d, "--state", "dead"), [])
        r = self.queue(d, "retry", "--all-dead", "--json")
        self.assertEqual((r.returncode, json.loads(r.stdout)),
                         (0, {"changed": 0}), r)

    def test_targets_table_and_json(self):
        d = self.start_daemon()
        self.dead_job(d)
        out = self.ok(d, "targets")
        lines = out.splitlines()
        self.assertEqual(len(lines), 2, out)
        self.assertTrue(lines[0].startswith("NAME"), out)
        self.assertIn("LAST ERROR", lines[0])
        self.assertEqual(lines[1].split()[:7],
                         ["psa", "webhook", "ok", "0", "0", "0", "1"])
        self.assertTrue(lines[1].endswith("HTTP 400"), out)
        doc = json.loads(self.ok(d, "targets", "--json"))
        self.assertEqual([(t["name"], t["dead"]) for t in doc],
                         [("psa", 1)])

    def test_replay_routes_the_event_again(self):
        d = self.start_daemon()
        eid, _ = self.dead_job(d)
        self.psa.default(200)
        out = self.ok(d, "replay", eid)
        self.assertEqual(out, "event %s routed again with the current "
                              "rules: 1 new job (routed)\n" % eid)
        self.wait_jobs(d, "done", 1)

    def test_enable_a_target_a_410_disabled(self):
        d = self.start_daemon()
        self.psa.default(410)
        self.assertQueued(d.post(user_request()))
        self.wait_jobs(d, "dead", 1)
        self.assertEqual(self.ok(d, "targets").splitlines()[1].split()[2],
                         "disabled")
        self.assertEqual(self.ok(d, "enable", "psa"),
                         "target psa enabled: its jobs go out again\n")
        self.assertEqual(self.ok(d, "targets").splitlines()[1].split()[2],
                         "ok")
        self.assertEqual(self.ok(d, "enable", "psa"),
                         "target psa was not disabled: nothing changed\n")

    def test_release_sends_held_jobs(self):
        d = self.start_daemon(hold=True)
        eid = self.assertQueued(d.post(user_request()))
        held = self.jobs(d, "--state", "held")
        self.assertEqual([j["event_id"] for j in held], [eid])
        out = self.ok(d, "release")
        self.assertEqual(out, "releasing held jobs of every target...\n"
                              "1 held job released: they go out without "
                              "a customer mapping\n")
        self.wait_jobs(d, "done", 1)
        self.assertEqual(len(self.psa.requests("/hook")), 1)
        r = self.queue(d, "release", "--target", "psa", "--json")
        self.assertEqual(json.loads(r.stdout), {"changed": 0}, r)

    # -- errors --

    def test_unknown_ids_and_names_exit_1(self):
        d = self.start_daemon()
        nid = "01900000-0000-7000-8000-000000000000"
        for args, msg in [
                (("show", nid), "no job or event %s" % nid),
                (("retry", nid), "no job %s" % nid),
                (("replay", nid), "no event %s" % nid),
                (("enable", "nope"), "no target nope")]:
            with self.subTest(args=args):
                r = self.queue(d, *args)
                self.assertEqual(r.returncode, 1, r)
                self.assertIn(msg, r.stderr)
                self.assertEqual(r.stdout, "")

    def test_a_wrong_token_exits_1_and_says_so(self):
        d = self.start_daemon()
        write_secret(os.path.join(d.etc, "wrong.token"), "not-the-token")
        wrong = os.path.join(d.etc, "wrong.cfg")
        with open(d.cfg_path) as f:
            text = f.read()
        with open(wrong, "w") as f:
            f.write(text.replace("file:admin.token", "file:wrong.token"))
        r = self.queue(d, "list", cfg=wrong)
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("the admin token in %s is not the one psabridge "
                      "runs with" % wrong, r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertTokenNotLogged(d, d.admin_token)

    def test_a_stopped_daemon_cannot_be_reached(self):
        d = self.start_daemon()
        port = d.admin_port
        self.assertEqual(d.stop(), 0)
        r = self.queue(d, "list")
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("cannot reach the admin listener at 127.0.0.1:%d: is "
                      "psabridge running?" % port, r.stderr)

    def test_a_config_without_admin_section_is_refused(self):
        d = self.start_daemon(admin=False)
        r = self.queue(d, "targets")
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("admin.listen is not set in %s: the queue commands "
                      "talk to the admin listener" % d.cfg_path, r.stderr)

    def test_usage(self):
        self.assertEqual(run_cli(["queue", "--help"]).returncode, 0)
        r = run_cli(["queue", "list", "--help"])
        self.assertEqual(r.returncode, 0, r)
        self.assertTrue(r.stdout.startswith("usage: psabridge queue list"))
        for args in (["queue"], ["queue", "nope"], ["queue", "list"],
                     ["queue", "list", "-c", "x", "--state", "gone"],
                     ["queue", "list", "-c", "x", "--limit", "0"],
                     ["queue", "show", "-c", "x"],
                     ["queue", "show", "-c", "x", "../x"],
                     ["queue", "retry", "-c", "x"],
                     ["queue", "retry", "-c", "x", "ID", "--all-dead"],
                     ["queue", "targets", "-c", "x", "--state", "dead"]):
            with self.subTest(args=args):
                r = run_cli(args)
                self.assertEqual(r.returncode, 2, r)
                self.assertIn("usage: psabridge queue", r.stderr)


if __name__ == "__main__":
    unittest.main()
