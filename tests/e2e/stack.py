#!/usr/bin/env python3
"""The e2e test's back end: a fake PSA and psabridge, started with the
integration harness (tests/integration/harness.py, fakepsa.py), steered by
test_webui.mjs over this process's stdin and stdout.

When both are up it prints one JSON line:
  {"admin": URL, "ingest": URL, "hook_path": P, "hook_token": T,
   "admin_token": T, "daemon_pid": N, "psa_pid": N}
then reads commands, one a line, and answers each with "ok CMD":
  fix    the PSA accepts tickets from now on (it answered 400 until then)
  quit   stop everything and exit
At the end of stdin (the test died) it stops everything too.  Every
process is ended by its pid (harness.Daemon); the daemon also gets
PR_SET_PDEATHSIG, so it cannot outlive this helper.

The fake PSA answers:
  /psa     400 {"message": "Board 'Service Desk' does not exist"} until fix
  /legacy  410 Gone: psabridge disables that target
  else     200 {"id": N}
"""

import json
import os
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import harness  # noqa: E402
from fakepsa import FakePSA  # noqa: E402

MAPPED = "c062a202-e090-4e57-ba88-d74dfd2e3455"

TICKET = ('{"summary": "{{event}} on {{payload.hostname}}", '
          '"company": "{{customer.name}}", "rule": "{{rule}}"}\n')


def webhook(name, url):
    return ('{ name = "%s"; type = "webhook"; url = "%s"; body = "ticket";'
            ' retry = { first = "1s"; max = "2s"; }; }' % (name, url))


def config(d, psa_url):
    return (d.config_text() + 'templates_dir = "templates";\n'
            'customers = { file = "customers.csv"; unmapped = "hold"; };\n'
            "targets = (\n  " + ",\n  ".join([
                webhook("psa", psa_url + "/psa"),
                webhook("teams", psa_url + "/teams"),
                webhook("legacy", psa_url + "/legacy")]) + "\n);\n"
            "rules = (\n"
            '  { name = "agent-uninstalled";\n'
            '    match = [ "event = Agent.Uninstall",'
            ' "payload.platform =~ Windows|macOS" ];\n'
            '    actions = ( { target = "psa"; action = "notify";'
            ' template = "ticket"; } ); },\n'
            '  { name = "unblock-request";\n'
            '    match = [ "event = UserRequest.Create" ];\n'
            '    actions = ( { target = "teams"; action = "notify";'
            ' template = "ticket"; } ); },\n'
            '  { name = "agent-deleted";\n'
            '    match = [ "event = Agent.Delete" ];\n'
            '    actions = ( { target = "legacy"; action = "notify";'
            ' template = "ticket"; } ); }\n'
            ");\n")


class Answers:
    """The fake PSA's answers, changed by "fix"."""

    def __init__(self):
        self.fixed = False

    def __call__(self, r):
        if r.path.startswith("/psa") and not self.fixed:
            return {"status": 400, "body": {
                "code": "InvalidBoard",
                "message": "Board 'Service Desk' does not exist"}}
        if r.path.startswith("/legacy"):
            return {"status": 410, "body": "this endpoint is gone"}
        return {"status": 200}


def main():
    answers = Answers()
    psa = FakePSA().start()
    d = harness.Daemon()
    try:
        tdir = os.path.join(d.etc, "templates")
        os.makedirs(tdir)
        with open(os.path.join(tdir, "ticket.json.mustache"), "w") as f:
            f.write(TICKET)
        with open(os.path.join(d.etc, "customers.csv"), "w") as f:
            f.write("customer_id,name,connectwise_company,"
                    "autotask_company_id\n%s,Contoso Ltd,Contoso,29684\n"
                    % MAPPED)
        psa.default(answers)
        d.write_config(config(d, psa.url))
        d.start()
        print(json.dumps({
            "admin": "http://127.0.0.1:%d" % d.admin_port,
            "ingest": "http://127.0.0.1:%d" % d.ingest_port,
            "hook_path": d.source_path, "hook_token": d.hook_token,
            "admin_token": d.admin_token, "daemon_pid": d.pid,
            "psa_pid": os.getpid()}), flush=True)
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "fix":
                answers.fixed = True
            elif cmd == "quit":
                print("ok quit", flush=True)
                break
            else:
                print("unknown %s" % cmd, flush=True)
                continue
            print("ok %s" % cmd, flush=True)
    finally:
        try:
            d.stop()
        except harness.DaemonError as e:
            sys.stderr.write("stack: %s\n" % e)
        if os.environ.get("E2E_DAEMON_LOG"):
            with open(os.environ["E2E_DAEMON_LOG"], "w") as f:
                f.write(d.log_text() + "\n")
        d.close()
        psa.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
