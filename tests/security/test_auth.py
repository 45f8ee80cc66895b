#!/usr/bin/env python3
"""The source token and the admin token, sent everywhere but where they
belong.

docs/ingest.md: the token travels as "?token=" or "Authorization: Bearer";
missing or wrong get "the same answer for both".  Every other place (a
header named Token, the body, the URL fragment, Basic credentials, a
cookie) is a wrong place: the same 401, byte for byte, with the same
headers.  tests/integration/test_ingest.py already covers missing, wrong,
shared prefix, one character more or less, empty and the admin token; this
adds the wrong places and the admin listener, and greps the whole log of a
-v daemon for the tokens in every form they were sent in.
"""

import base64
import os
import sys
import time
import unittest
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import exchange, request, responses  # noqa: E402
import harness  # noqa: E402
from harness import (DaemonTestCase, RawResponse,  # noqa: E402
                     SharedDaemonTestCase)

harness.check_env()


def b64(s):
    return base64.b64encode(s.encode()).decode()


class AuthTest(SharedDaemonTestCase):

    @classmethod
    def daemon_kwargs(cls):
        return dict(verbose=True, max_body_bytes=4096)

    def raw(self, path, headers=(), body=None, token=False,
            content_type=True):
        """One request with exactly these extra header lines; returns the
        RawResponse."""
        d = self.d
        if body is None:
            body = harness.unique_envelope()
        data = request(d, body, path=path.encode(), token=token,
                       content_type=content_type,
                       headers=[h.encode() for h in headers])
        raw, _ = exchange(d.ingest_port, data, timeout=5.0, one=True)
        self.assertEqual(len(responses(raw)), 1, raw[:400])
        return RawResponse(raw)

    def wrong_places(self):
        """{case: (path, [header lines], body or None)}: the right token,
        never where it is read."""
        d, tok = self.d, self.d.hook_token
        p = d.source_path
        env = harness.unique_envelope
        return {
            "header_token": (p, ["Token: " + tok], None),
            "header_x_token": (p, ["X-Token: " + tok], None),
            "header_x_api_key": (p, ["X-Api-Key: " + tok], None),
            "proxy_authorization": (p, ["Proxy-Authorization: Bearer " +
                                        tok], None),
            "cookie": (p, ["Cookie: token=" + tok], None),
            "authorization_no_scheme": (p, ["Authorization: " + tok], None),
            "authorization_token_scheme": (p, ["Authorization: Token " +
                                               tok], None),
            "basic_token": (p, ["Authorization: Basic " + b64(tok)], None),
            "basic_user_token": (p, ["Authorization: Basic " +
                                     b64("defensx:" + tok)], None),
            "basic_token_colon": (p, ["Authorization: Basic " +
                                      b64(tok + ":")], None),
            "bearer_base64": (p, ["Authorization: Bearer " + b64(tok)],
                              None),
            "fragment": (p + "#token=" + tok, [], None),
            "fragment_after_query": (p + "?x=1#token=" + tok, [], None),
            "query_other_name": (p + "?access_token=" + tok, [], None),
            "query_array_name": (p + "?token%5B%5D=" + tok, [], None),
            "query_token_then_nul": (p + "?token=" + tok + "%00x", [],
                                     None),
            "query_token_then_space": (p + "?token=" + tok + "%20", [],
                                       None),
            "body_member": (p, [], harness.envelope(
                payload={"token": tok}, time_=1700000777, token=tok)),
            "body_form": (p, [], ("token=" + tok).encode()),
            "wrong_token_bad_body": (p + "?token=x", [], b"{"),
            "wrong_token_huge_body": (p + "?token=x", [], b"x" * 6000),
            "wrong_token_form_type": (p + "?token=x",
                                      ["Content-Type: text/plain"], env()),
        }

    def test_token_in_a_wrong_place_gets_the_same_401_as_none(self):
        ref = self.raw(self.d.source_path)  # no token at all
        self.assertJSONError(ref, 401, "unauthorized")
        ref_names = sorted(k.lower() for k, _ in ref.headers
                           if k.lower() != "date")
        before = self.d.query("SELECT count(*) FROM events")[0][0]
        for name, (path, hdrs, body) in self.wrong_places().items():
            with self.subTest(case=name):
                r = self.raw(path, hdrs, body)
                self.assertEqual(r.status, 401, r)
                self.assertEqual(r.body, ref.body, "401 body differs")
                self.assertEqual(sorted(k.lower() for k, _ in r.headers
                                        if k.lower() != "date"), ref_names)
                for k, v in r.headers:
                    if k.lower() != "date":
                        self.assertEqual(v, ref.header(k), k)
                self.assertNotIn(self.d.hook_token.encode(), r.raw)
        self.assertEqual(self.d.query("SELECT count(*) FROM events")[0][0],
                         before, "a request with a misplaced token stored")

    def test_bearer_scheme_is_case_insensitive(self):
        # RFC 9110 11.1: the scheme is case-insensitive; the token is not.
        tok = self.d.hook_token
        for scheme in ("bearer", "BEARER", "bEaReR"):
            with self.subTest(scheme=scheme):
                r = self.raw(self.d.source_path,
                             ["Authorization: %s %s" % (scheme, tok)])
                self.assertEqual(r.status, 202, r)
        r = self.raw(self.d.source_path,
                     ["Authorization: Bearer " + tok.upper()])
        self.assertEqual(r.status, 401, r)

    def test_percent_encoded_token_in_query_is_the_token(self):
        tok = self.d.hook_token
        enc = "".join("%%%02X" % ord(c) for c in tok)
        r = self.raw(self.d.source_path + "?token=" + enc)
        self.assertEqual(r.status, 202, r)

    def test_tokens_never_reach_the_log_in_any_form(self):
        d = self.d
        tok, adm = d.hook_token, d.admin_token
        for path, hdrs, body in self.wrong_places().values():
            self.raw(path, hdrs, body)
        self.raw(d.source_path + "?token=" + tok)
        self.raw(d.source_path + "?token=" + tok + "x")
        self.raw(d.source_path + "?token=" + tok, body=b"{")
        self.raw("/nope?token=" + tok)
        self.raw(d.source_path + "?token=" + tok, ["X-Pad: " + "p" * 9000])
        for path in ("/api/v1/jobs", "/metrics", "/nope", "/api/v1/jobs?"
                     "token=" + adm):
            d.admin_get(path, token=adm)
            d.admin_get(path, token=adm + "x")
            d.admin_get(path + ("&" if "?" in path else "?") + "token=" +
                        adm)
        time.sleep(0.3)
        text = d.log_text()
        self.assertTrue(text)
        forms = set()
        for t in (tok, adm):
            forms |= {t, t[:12], t[-12:], b64(t), b64("defensx:" + t),
                      urllib.parse.quote(t), t.upper()}
        for f in sorted(forms):
            self.assertNotIn(f, text, "a token (or a form of it) is in the "
                             "daemon log")


class AdminAuthTest(DaemonTestCase):

    def test_admin_listener_refuses_every_wrong_token_alike(self):
        d = self.daemon()
        adm = d.admin_token
        cases = {
            "missing": {},
            "wrong": d.auth("x" * len(adm)),
            "shared_prefix": d.auth(adm[:-4] + "zzzz"),
            "prefix_only": d.auth(adm[:-1]),
            "plus_one": d.auth(adm + "a"),
            "hook_token": d.auth(d.hook_token),
            "basic": {"Authorization": "Basic " + b64("admin:" + adm)},
            "header_token": {"Token": adm},
            "no_scheme": {"Authorization": adm},
        }
        bodies = {}
        for name, hdrs in cases.items():
            with self.subTest(case=name):
                r = harness.http_request(d.admin_port, "GET",
                                         "/api/v1/jobs", None, hdrs)
                self.assertEqual(r.status, 401, r)
                self.assertNotIn(b'"id"', r.body)
                bodies[name] = r.body
        # and in the query string, which the docs do not offer for admin
        r = harness.http_request(d.admin_port, "GET", "/api/v1/jobs?token=" +
                                 adm, None, {})
        self.assertEqual(r.status, 401, r)
        bodies["query"] = r.body
        self.assertEqual(len(set(bodies.values())), 1,
                         "admin 401 bodies differ: %r" % bodies)
        r = harness.http_request(d.admin_port, "GET", "/api/v1/jobs", None,
                                 d.auth(adm))
        self.assertEqual(r.status, 200, r)


if __name__ == "__main__":
    unittest.main()
