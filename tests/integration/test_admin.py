#!/usr/bin/env python3
"""Admin listener: health without a token, everything else behind one."""

import os
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import SharedDaemonTestCase, unique_envelope  # noqa: E402

harness.check_env()


class AdminTest(SharedDaemonTestCase):

    def test_admin_and_ingest_listen_on_different_ports(self):
        self.assertNotEqual(self.d.admin_port, self.d.ingest_port)

    def test_healthz_is_200_ok_without_token(self):
        r = self.d.admin_get("/healthz")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"status": "ok"})
        self.assertTrue((r.header("Content-Type") or "")
                        .startswith("application/json"), r)

    def test_other_admin_paths_are_401_without_admin_token(self):
        for path in ["/index.html", "/metrics", "/events", "/healthzz",
                     "/x/y"]:
            with self.subTest(path=path):
                self.assertJSONError(self.d.admin_get(path), 401,
                                     "unauthorized")

    def test_hook_token_does_not_open_admin_paths(self):
        r = self.d.admin_get("/events", token=self.d.hook_token)
        self.assertJSONError(r, 401, "unauthorized")
        r = self.d.admin_get("/events", token=self.d.admin_token + "x")
        self.assertJSONError(r, 401, "unauthorized")

    def test_unknown_admin_paths_are_404_with_admin_token(self):
        for path in ["/index.html", "/nope", "/healthzz", "/x/y"]:
            with self.subTest(path=path):
                self.assertJSONError(
                    self.d.admin_get(path, token=self.d.admin_token), 404,
                    "not_found")

    def test_admin_listener_does_not_ingest_events(self):
        before = self.d.query("SELECT count(*) FROM events")[0][0]
        body = unique_envelope()
        for tok, status, code in [(self.d.hook_token, 401, "unauthorized"),
                                  (self.d.admin_token, 404, "not_found")]:
            r = harness.http_request(
                self.d.admin_port, "POST", self.d.source_path, body,
                {"Content-Type": "application/json",
                 "Authorization": "Bearer " + tok})
            self.assertJSONError(r, status, code)
        self.assertEqual(self.d.query("SELECT count(*) FROM events")[0][0],
                         before)

    def test_admin_token_never_appears_in_log(self):
        self.d.admin_get("/nope", token=self.d.admin_token)
        self.d.admin_get("/nope?token=" + self.d.admin_token)
        self.d.admin_get("/healthz?token=" + self.d.admin_token)
        time.sleep(0.2)
        self.assertTokenNotLogged(self.d, self.d.admin_token)


if __name__ == "__main__":
    unittest.main()
