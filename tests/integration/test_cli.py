#!/usr/bin/env python3
"""Command line: subcommands, exit codes, `check` diagnostics."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import run_cli, write_secret, new_token  # noqa: E402

harness.check_env()

GOOD = """\
listen    = "127.0.0.1:0";
state_dir = "var";
limits = { max_body_bytes = 65536; max_header_bytes = 8192; request_timeout_s = 10; max_connections = 1024; };
admin  = { listen = "127.0.0.1:0"; token = "file:admin.token"; };
sources = ( { name = "defensx"; path = "/hooks/defensx"; token = "%s"; dedup_window = "24h"; } );
"""
TOKEN_LINE = 5  # the line of the source token in GOOD

# Three independent mistakes, on lines 3, 5 and 13.
THREE_MISTAKES = """\
listen    = "127.0.0.1:0";
state_dir = "var";
bogus_key = 1;
limits = {
  max_body_bytes = "big";
  max_header_bytes = 8192;
};
sources = (
  {
    name = "defensx";
    path = "/hooks/defensx";
    token = "file:hook.token";
    dedup_window = "5x";
  }
);
"""
MISTAKE_LINES = {3, 5, 13}

SYNTAX_ERROR = """\
listen    = "127.0.0.1:0";
state_dir = = "var";
sources = ( { name = "defensx"; path = "/hooks/defensx"; token = "file:hook.token"; dedup_window = "24h"; } );
"""


class CliTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="psabridge-cli-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.etc = os.path.join(self.tmp, "etc")
        self.cwd = os.path.join(self.tmp, "cwd")
        os.makedirs(os.path.join(self.etc, "var"))
        os.makedirs(self.cwd)
        self.cfg = os.path.join(self.etc, "psabridge.cfg")
        self.hook_token = new_token()
        write_secret(os.path.join(self.etc, "hook.token"), self.hook_token)
        write_secret(os.path.join(self.etc, "admin.token"), new_token())

    def write(self, text):
        with open(self.cfg, "w") as f:
            f.write(text)
        return self.cfg

    def cli(self, *args, **kw):
        kw.setdefault("cwd", self.cwd)
        return run_cli(list(args), **kw)

    def error_lines(self, text, cfg=None):
        """Line numbers of the FILE:LINE: error lines (not warnings)."""
        cfg = cfg or self.cfg
        out = []
        for ln in text.splitlines():
            m = re.match(re.escape(cfg) + r":(\d+): (.*)$", ln)
            if m and not m.group(2).startswith("warning:"):
                out.append(int(m.group(1)))
        return out

    # --- usage ---

    def test_version_prints_program_name_and_exits_0(self):
        p = self.cli("--version")
        self.assertEqual(p.returncode, 0, p)
        self.assertRegex(p.stdout.splitlines()[0], r"^psabridge \d+\.\d+")

    def test_help_exits_0_and_names_both_subcommands(self):
        p = self.cli("--help")
        self.assertEqual(p.returncode, 0, p)
        self.assertIn("serve", p.stdout)
        self.assertIn("check", p.stdout)

    def test_subcommand_help_exits_0_and_mentions_config_option(self):
        for sub in ["serve", "check"]:
            with self.subTest(sub=sub):
                p = self.cli(sub, "--help")
                self.assertEqual(p.returncode, 0, p)
                self.assertIn("-c", p.stdout)

    def test_unknown_subcommand_is_usage_error_2(self):
        p = self.cli("frobnicate", "-c", self.write(GOOD % "file:hook.token"))
        self.assertEqual(p.returncode, 2, p)
        self.assertTrue(p.stderr.strip(), "no message on stderr")

    def test_unknown_option_is_usage_error_2(self):
        cfg = self.write(GOOD % "file:hook.token")
        for args in [("--bogus",), ("check", "-c", cfg, "--bogus"),
                     ("serve", "-c", cfg, "--bogus"), ("check", "-x", cfg)]:
            with self.subTest(args=args):
                p = self.cli(*args)
                self.assertEqual(p.returncode, 2, p)

    # --- check ---

    def test_check_good_config_prints_configuration_ok_and_exits_0(self):
        p = self.cli("check", "-c", self.write(GOOD % "file:hook.token"))
        self.assertEqual(p.returncode, 0, p)
        self.assertIn("configuration OK", p.stdout.splitlines())
        self.assertEqual(self.error_lines(p.stderr), [], p.stderr)

    def test_check_resolves_paths_against_config_dir_not_cwd(self):
        self.write(GOOD % "file:hook.token")
        rel = os.path.relpath(self.cfg, self.cwd)  # ../etc/psabridge.cfg
        p = self.cli("check", "-c", rel)
        self.assertEqual(p.returncode, 0, p)
        self.assertIn("configuration OK", p.stdout)

    def test_check_reports_all_three_mistakes_with_file_and_line(self):
        p = self.cli("check", "-c", self.write(THREE_MISTAKES))
        self.assertEqual(p.returncode, 1, p)
        self.assertNotIn("configuration OK", p.stdout)
        lines = self.error_lines(p.stderr)
        self.assertEqual(sorted(lines), sorted(MISTAKE_LINES),
                         "stderr was:\n" + p.stderr)
        self.assertIn("bogus_key", p.stderr)
        self.assertIn("5x", p.stderr)

    def test_check_syntax_error_points_at_its_line(self):
        p = self.cli("check", "-c", self.write(SYNTAX_ERROR))
        self.assertEqual(p.returncode, 1, p)
        self.assertIn(2, self.error_lines(p.stderr), p.stderr)

    def test_check_missing_config_file_exits_1_and_names_it(self):
        missing = os.path.join(self.etc, "nope.cfg")
        p = self.cli("check", "-c", missing)
        self.assertEqual(p.returncode, 1, p)
        self.assertIn(missing, p.stderr)

    def test_check_literal_token_passes_with_warning_not_echoing_it(self):
        secret = "literal" + new_token()
        p = self.cli("check", "-c", self.write(GOOD % secret))
        self.assertEqual(p.returncode, 0, p)
        self.assertIn("configuration OK", p.stdout)
        both = p.stdout + p.stderr
        self.assertIn("literal", both.replace(secret, ""))
        self.assertNotIn(secret[7:], both, "the secret is echoed")

    def test_check_reports_missing_env_var_of_env_token(self):
        var = "PSABRIDGE_IT_UNSET_" + new_token()[:8].upper()
        cfg = self.write(GOOD % ("env:" + var))
        p = self.cli("check", "-c", cfg, env={var: None})
        self.assertEqual(p.returncode, 1, p)
        self.assertEqual(self.error_lines(p.stderr), [TOKEN_LINE], p.stderr)
        self.assertIn(var, p.stderr)
        # and with the variable set it passes
        p = self.cli("check", "-c", cfg, env={var: new_token()})
        self.assertEqual(p.returncode, 0, p)

    def test_check_reports_missing_token_file(self):
        p = self.cli("check", "-c", self.write(GOOD % "file:no-such.token"))
        self.assertEqual(p.returncode, 1, p)
        self.assertEqual(self.error_lines(p.stderr), [TOKEN_LINE], p.stderr)
        self.assertIn("no-such.token", p.stderr)

    def test_check_cred_token_reads_credentials_directory(self):
        creds = os.path.join(self.tmp, "creds")
        os.makedirs(creds)
        write_secret(os.path.join(creds, "hook"), new_token())
        cfg = self.write(GOOD % "cred:hook")
        p = self.cli("check", "-c", cfg, env={"CREDENTIALS_DIRECTORY": creds})
        self.assertEqual(p.returncode, 0, p)
        p = self.cli("check", "-c", cfg, env={"CREDENTIALS_DIRECTORY": None})
        self.assertEqual(p.returncode, 1, p)
        self.assertEqual(self.error_lines(p.stderr), [TOKEN_LINE], p.stderr)

    # --- serve ---

    def test_serve_with_bad_config_exits_1_and_prints_the_errors(self):
        p = self.cli("serve", "-c", self.write(THREE_MISTAKES))
        self.assertEqual(p.returncode, 1, p)
        self.assertNotIn("msg=ready", p.stderr)
        for line in MISTAKE_LINES:
            self.assertRegex(p.stderr, re.escape(self.cfg) + ":%d:" % line)

    def test_serve_with_missing_config_file_exits_1(self):
        p = self.cli("serve", "-c", os.path.join(self.etc, "nope.cfg"))
        self.assertEqual(p.returncode, 1, p)
        self.assertNotIn("msg=ready", p.stderr)


if __name__ == "__main__":
    unittest.main()
