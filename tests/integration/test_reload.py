#!/usr/bin/env python3
"""SIGHUP: reload the configuration, keep the old one when the new is bad."""

import os
import re
import signal
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DaemonTestCase, new_token, unique_envelope  # noqa: E402

harness.check_env()

RELOAD_TIMEOUT_S = 5.0


class ReloadTest(DaemonTestCase):

    def wait_token_works(self, d, token):
        """Polls until a POST with token is answered 202 (bounded)."""
        deadline = time.monotonic() + RELOAD_TIMEOUT_S
        last = None
        while time.monotonic() < deadline:
            last = d.post(unique_envelope(), token=token)
            if last.status == 202:
                return last
            self.assertEqual(last.status, 401, last)
            time.sleep(0.05)
        self.fail("token not accepted %.0f s after SIGHUP; last answer %r"
                  % (RELOAD_TIMEOUT_S, last))

    def test_sighup_picks_up_rotated_token_file_and_drops_old_token(self):
        d = self.daemon()
        old = d.hook_token
        self.assertQueued(d.post(unique_envelope()))
        pid, port, admin_port = d.pid, d.ingest_port, d.admin_port
        new = new_token()
        d.set_hook_token(new)
        # before the signal the old token is still the one in force
        self.assertQueued(d.post(unique_envelope(), token=old))
        d.signal(signal.SIGHUP)
        self.wait_token_works(d, new)
        self.assertJSONError(d.post(unique_envelope(), token=old), 401,
                             "unauthorized")
        self.assertTrue(d.alive())
        self.assertEqual((d.pid, d.ingest_port), (pid, port))
        self.assertEqual(d.admin_get("/healthz").status, 200)
        self.assertEqual(d.admin_port, admin_port)
        self.assertTokenNotLogged(d, old, new)
        self.assertEqual(d.stop(), 0)

    def test_sighup_with_broken_config_keeps_old_config_running(self):
        d = self.daemon()
        good = d.config_text()
        broken = {
            "syntax": 'listen = "127.0.0.1:0";\nthis is { not ] libconfig\n',
            "bad_duration": good.replace('dedup_window = "24h"',
                                         'dedup_window = "5x"'),
            "missing_token_file": good.replace("file:hook.token",
                                               "file:gone.token"),
        }
        self.assertNotEqual(broken["bad_duration"], good)
        self.assertNotEqual(broken["missing_token_file"], good)
        for name, text in broken.items():
            with self.subTest(case=name):
                mark = d.log_mark()
                d.write_config(text)
                d.signal(signal.SIGHUP)
                try:
                    d.wait_for_log(re.escape(d.cfg_path) + r":\d+",
                                   timeout=RELOAD_TIMEOUT_S, since=mark)
                except harness.DaemonError as e:
                    self.fail("no FILE:LINE error logged after SIGHUP with "
                              "a broken config: %s" % e)
                self.assertTrue(d.alive(), "daemon died on a bad reload")
                self.assertQueued(d.post(unique_envelope()))
                self.assertEqual(d.admin_get("/healthz").status, 200)
        # a good config afterwards is taken again
        d.write_config(good)
        new = new_token()
        d.set_hook_token(new)
        d.signal(signal.SIGHUP)
        self.wait_token_works(d, new)
        self.assertEqual(d.stop(), 0)

    def test_repeated_sighup_keeps_serving(self):
        d = self.daemon()
        for _ in range(5):
            d.signal(signal.SIGHUP)
            time.sleep(0.05)
        self.assertQueued(d.post(unique_envelope()))
        self.assertTrue(d.alive())
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main()
