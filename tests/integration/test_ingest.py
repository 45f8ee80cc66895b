#!/usr/bin/env python3
"""Ingest listener: what each request is answered and what is stored."""

import json
import os
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (DaemonTestCase, SharedDaemonTestCase,  # noqa: E402
                     fixture, FIXTURES,
                     envelope, unique_envelope, padded_envelope, UUID7_RE)

harness.check_env()


def uuid7_ms(u):
    return int(u.replace("-", "")[:12], 16)


class IngestTest(SharedDaemonTestCase):
    """One daemon with the default limits, shared by the tests."""

    def row(self, event_id):
        rows = [e for e in self.d.events() if e["id"] == event_id]
        self.assertEqual(len(rows), 1, "id %s stored %d times"
                         % (event_id, len(rows)))
        return rows[0]

    def count_body(self, body):
        return self.d.query("SELECT count(*) FROM events WHERE body = ?",
                            (body.decode(),))[0][0]

    def assertStillServing(self):
        self.assertQueued(self.d.post(unique_envelope()))

    # --- accepted events ---

    def test_each_vendor_fixture_is_queued_and_stored_verbatim(self):
        for name in FIXTURES:
            with self.subTest(fixture=name):
                body = fixture(name)
                # The fixtures may be posted by an earlier run of this test
                # on the same daemon only; this daemon is fresh.
                t0 = int(time.time() * 1000)
                r = self.d.post(body)
                t1 = int(time.time() * 1000)
                eid = self.assertQueued(r)
                self.assertEqual(set(r.json()), {"id", "status"}, r)
                self.assertTrue((r.header("Content-Type") or "")
                                .startswith("application/json"), r)
                row = self.row(eid)
                doc = json.loads(body)
                self.assertEqual(row["source"], "defensx")
                self.assertEqual(row["event_type"], doc["event"])
                self.assertEqual(row["vendor_time"], doc["time"])
                self.assertEqual(row["body"].encode(), body,
                                 "body not stored byte for byte")
                self.assertIsInstance(row["body_hash"], bytes)
                self.assertGreater(len(row["body_hash"]), 0)
                self.assertIsInstance(row["state"], str)
                self.assertTrue(row["state"])
                self.assertGreaterEqual(row["received_at"], t0 - 1000)
                self.assertLessEqual(row["received_at"], t1 + 1000)
                # UUIDv7: the first 48 bits are the unix ms of creation
                self.assertLessEqual(abs(uuid7_ms(eid) - row["received_at"]),
                                     5000, eid)

    def test_escaped_slashes_in_vendor_sample_are_kept_raw(self):
        body = fixture("userrequest-create")
        self.assertIn(rb"https:\/\/monster.com\/", body)
        r = self.d.post(body)
        if r.status == 200:  # posted already by the fixture test
            eid = r.json()["id"]
        else:
            eid = self.assertQueued(r)
        self.assertIn(r"https:\/\/monster.com\/", self.row(eid)["body"])

    def test_sender_may_add_members_and_omit_optional_ones(self):
        bodies = [
            envelope(extra_member={"a": [1, 2]}, time_=1700000001),
            envelope(payload={"type": "Agent"}, time_=1700000002),
            envelope(event="UserRequest.Create", time_=1700000003,
                     payload={"type": "UserRequest", "id": 7}),
            envelope(payload={}, time_=1700000004),
        ]
        for b in bodies:
            with self.subTest(body=b):
                self.assertQueued(self.d.post(b))

    def test_ids_are_distinct_and_time_ordered(self):
        ids = [self.assertQueued(self.d.post(unique_envelope()))
               for _ in range(20)]
        self.assertEqual(len(set(ids)), 20)
        ms = [uuid7_ms(i) for i in ids]
        self.assertEqual(ms, sorted(ms), "UUIDv7 timestamps go backwards")

    def test_charset_parameter_in_content_type_is_accepted(self):
        self.assertQueued(self.d.post(unique_envelope(),
                                      content_type="application/json; "
                                      "charset=utf-8"))

    def test_token_in_query_string_is_accepted(self):
        self.assertQueued(self.d.post(unique_envelope(), token_in="query"))

    def test_keep_alive_connection_serves_many_requests(self):
        conn = self.d.connection()
        try:
            ids = set()
            for _ in range(10):
                ids.add(self.assertQueued(self.d.post(unique_envelope(),
                                                      conn=conn)))
            r = self.d.post(b"{", conn=conn)
            self.assertJSONError(r, 400, "bad_request")
            ids.add(self.assertQueued(self.d.post(unique_envelope(),
                                                  conn=conn)))
            self.assertEqual(len(ids), 11)
        finally:
            conn.close()

    # --- duplicates ---

    def test_same_body_again_is_duplicate_with_first_id_and_stored_once(self):
        body = unique_envelope()
        first = self.assertQueued(self.d.post(body))
        for _ in range(2):
            r = self.d.post(body)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json(), {"id": first, "status": "duplicate"})
        # the same body by query token is the same source: still duplicate
        r = self.d.post(body, token_in="query")
        self.assertEqual((r.status, r.json().get("id")), (200, first), r)
        self.assertEqual(self.count_body(body), 1)

    def test_changed_time_is_a_new_event(self):
        a = envelope(time_=1600000000, payload={"type": "Agent", "id": "dt"})
        b = envelope(time_=1600000001, payload={"type": "Agent", "id": "dt"})
        ia = self.assertQueued(self.d.post(a))
        ib = self.assertQueued(self.d.post(b))
        self.assertNotEqual(ia, ib)
        self.assertEqual(self.count_body(a), 1)
        self.assertEqual(self.count_body(b), 1)

    def test_concurrent_identical_bodies_are_stored_once(self):
        body = unique_envelope()
        n = 16
        barrier = threading.Barrier(n)
        answers = [None] * n

        def worker(i):
            barrier.wait(5)
            try:
                answers[i] = self.d.post(body)
            except Exception as e:  # reported below
                answers[i] = e

        ts = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        for a in answers:
            self.assertIsInstance(a, harness.Response, a)
        statuses = sorted(a.status for a in answers)
        self.assertEqual(statuses, [200] * (n - 1) + [202],
                         "expected exactly one 202 and the rest 200")
        ids = {a.json()["id"] for a in answers}
        self.assertEqual(len(ids), 1, "duplicates answered other ids")
        self.assertEqual(self.count_body(body), 1)

    # --- authentication ---

    def test_missing_and_wrong_tokens_get_identical_401(self):
        body = unique_envelope()
        tok = self.d.hook_token
        cases = {
            "missing": dict(token_in=None),
            "wrong": dict(token="x" * len(tok)),
            "shared_prefix": dict(token=tok[:-4] + "zzzz"),
            "prefix_only": dict(token=tok[:-1]),
            "plus_one_char": dict(token=tok + "a"),
            "empty_bearer": dict(token=""),
            "wrong_in_query": dict(token=tok + "a", token_in="query"),
            "admin_token": dict(token=self.d.admin_token),
        }
        bodies = {}
        for name, kw in cases.items():
            with self.subTest(case=name):
                r = self.d.post(body, **kw)
                self.assertJSONError(r, 401, "unauthorized")
                bodies[name] = r.body
        self.assertEqual(len(set(bodies.values())), 1,
                         "401 bodies differ: %r" % bodies)
        self.assertEqual(self.count_body(body), 0)

    def test_secrets_never_appear_in_log(self):
        # send the real tokens every way they can be sent, good and bad
        self.assertQueued(self.d.post(unique_envelope(), token_in="query"))
        self.assertQueued(self.d.post(unique_envelope()))
        self.d.post(unique_envelope(), token=self.d.hook_token + "Q",
                    token_in="query")
        self.d.post(b"{bad", token_in="query")
        self.d.post(unique_envelope(), token_in="query",
                    path="/unknown/path")
        self.d.admin_get("/nope", token=self.d.admin_token)
        self.d.admin_get("/nope?token=" + self.d.admin_token)
        time.sleep(0.2)  # let the last log lines reach the reader
        self.assertTokenNotLogged(self.d, self.d.hook_token,
                                  self.d.admin_token)

    # --- routing and method ---

    def test_unknown_path_is_404(self):
        for path in ["/", "/hooks", "/hooks/", "/hooks/defensxx",
                     "/hooks/other", "/hooks/defensx/extra"]:
            with self.subTest(path=path):
                self.assertJSONError(self.d.post(unique_envelope(),
                                                 path=path), 404, "not_found")

    def test_other_methods_on_source_path_are_405_with_allow(self):
        for method in ["GET", "PUT", "DELETE"]:
            with self.subTest(method=method):
                body = None if method == "GET" else unique_envelope()
                r = self.d.post(body, method=method)
                self.assertJSONError(r, 405, "method_not_allowed")
                self.assertEqual((r.header("Allow") or "").replace(" ", ""),
                                 "POST", r)

    # --- media type ---

    def test_wrong_or_missing_content_type_is_415(self):
        for ct in ["text/plain", None, "application/x-www-form-urlencoded",
                   "application/jsonx"]:
            with self.subTest(content_type=ct):
                body = unique_envelope()
                r = self.d.post(body, content_type=ct)
                self.assertJSONError(r, 415, "unsupported_media_type")
                self.assertEqual(self.count_body(body), 0)

    # --- malformed bodies ---

    BAD_BODIES = {
        "malformed_json": b'{"event":"Agent.Create","time":1,',
        "empty": b"",
        "whitespace_only": b"  \n",
        "trailing_garbage": b'{"event":"a","time":1,"payload":{}}x',
        "two_objects": b'{"event":"a","time":1,"payload":{}}'
                       b'{"event":"a","time":1,"payload":{}}',
        "trailing_nul": b'{"event":"a","time":1,"payload":{}}\x00',
        "embedded_nul_in_string": b'{"event":"a\x00b","time":1,'
                                  b'"payload":{}}',
        "nul_before_garbage": b'{"event":"a","time":1,"payload":{}}'
                              b'\x00garbage',
        "invalid_utf8_ff": b'{"event":"a","time":1,"payload":'
                           b'{"h":"\xff\xfe"}}',
        "invalid_utf8_overlong": b'{"event":"a","time":1,"payload":'
                                 b'{"h":"\xc0\xaf"}}',
        "invalid_utf8_surrogate": b'{"event":"a","time":1,"payload":'
                                  b'{"h":"\xed\xa0\x80"}}',
        "invalid_utf8_truncated": b'{"event":"a","time":1,"payload":'
                                  b'{"h":"\xe2\x82"}}',
        "array": b"[]",
        "string": b'"Agent.Create"',
        "number": b"1",
        "null": b"null",
        "event_missing": b'{"time":1,"payload":{}}',
        "event_number": b'{"event":1,"time":1,"payload":{}}',
        "event_null": b'{"event":null,"time":1,"payload":{}}',
        "event_object": b'{"event":{},"time":1,"payload":{}}',
        "event_empty": b'{"event":"","time":1,"payload":{}}',
        "time_missing": b'{"event":"a","payload":{}}',
        "time_fraction": b'{"event":"a","time":1.5,"payload":{}}',
        "time_string": b'{"event":"a","time":"123","payload":{}}',
        "time_huge_exponent": b'{"event":"a","time":1e999,"payload":{}}',
        "time_null": b'{"event":"a","time":null,"payload":{}}',
        "time_bool": b'{"event":"a","time":true,"payload":{}}',
        "payload_missing": b'{"event":"a","time":1}',
        "payload_array": b'{"event":"a","time":1,"payload":[]}',
        "payload_string": b'{"event":"a","time":1,"payload":"x"}',
        "payload_null": b'{"event":"a","time":1,"payload":null}',
        "duplicate_event_member": b'{"event":"a","event":"b","time":1,'
                                  b'"payload":{}}',
        "duplicate_time_member": b'{"event":"a","time":1,"time":2,'
                                 b'"payload":{}}',
        "duplicate_payload_member": b'{"event":"a","time":1,"payload":{},'
                                    b'"payload":{}}',
    }

    def test_malformed_or_invalid_bodies_are_400_and_not_stored(self):
        before = len(self.d.events())
        for name, body in self.BAD_BODIES.items():
            with self.subTest(case=name):
                self.assertJSONError(self.d.post(body), 400, "bad_request")
        self.assertStillServing()
        self.assertEqual(len(self.d.events()), before + 1)

    def test_nesting_depth_10000_is_400_and_daemon_survives(self):
        depth = 10000
        balanced = (b'{"event":"x","time":1,"payload":{"a":' + b"[" * depth
                    + b"]" * depth + b"}}")
        unbalanced = b'{"event":"x","time":1,"payload":' + b"[" * depth
        objects = (b'{"event":"x","time":1,"payload":' + b'{"a":' * depth
                   + b"1" + b"}" * depth + b"}")
        for name, body in [("arrays", balanced), ("unterminated", unbalanced),
                           ("objects", objects)]:
            with self.subTest(case=name):
                self.assertLess(len(body), 65536)
                self.assertJSONError(self.d.post(body), 400, "bad_request")
        self.assertTrue(self.d.alive())
        self.assertStillServing()

    def test_escaped_nul_in_event_is_rejected_or_kept_whole(self):
        # "\u0000" is valid JSON; a C string would cut the type at it
        body = b'{"event":"Agent.Create\\u0000Evil","time":1700000101,' \
               b'"payload":{}}'
        self.assertEqual(json.loads(body)["event"], "Agent.Create\x00Evil")
        r = self.d.post(body)
        if r.status == 400:
            self.assertJSONError(r, 400, "bad_request")
        else:
            eid = self.assertQueued(r)
            self.assertEqual(self.row(eid)["event_type"],
                             "Agent.Create\x00Evil",
                             "event type silently truncated at NUL")

    def test_time_beyond_exact_integer_range_is_rejected_or_kept_exact(self):
        for t in [2 ** 53 + 1, -(2 ** 53 + 1), 2 ** 63, 2 ** 64 + 1]:
            with self.subTest(time=t):
                body = b'{"event":"a","time":%d,"payload":{}}' % t
                r = self.d.post(body)
                if r.status == 400:
                    self.assertJSONError(r, 400, "bad_request")
                else:
                    eid = self.assertQueued(r)
                    self.assertEqual(self.row(eid)["vendor_time"], t,
                                     "time stored as another integer")

    def test_every_log_line_is_key_value_with_ts_level_msg(self):
        self.assertQueued(self.d.post(unique_envelope()))
        self.d.post(b"{")
        time.sleep(0.2)
        lines = [ln for ln in self.d.lines() if ln.strip()]
        self.assertTrue(lines)
        for ln in lines:
            kv = harness.parse_log_line(ln)
            self.assertTrue(ln.startswith("ts="), ln)
            self.assertRegex(kv.get("ts", ""),
                             r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", ln)
            self.assertIn(kv.get("level"),
                          {"debug", "info", "notice", "warn", "warning",
                           "error", "crit", "fatal"}, ln)
            self.assertTrue(kv.get("msg"), ln)


class LogInjectionTest(DaemonTestCase):
    """Its own daemon, so that a forged line cannot fail other tests."""

    def test_control_characters_in_event_type_cannot_forge_log_lines(self):
        d = self.daemon()
        forged = "level=error msg=forged_by_sender"
        body = envelope(event="Agent.Create\n" + forged + "\r\x1b[31m",
                        time_=1700000100)
        mark = d.log_mark()
        r = d.post(body)
        self.assertIn(r.status, (202, 400), r)
        time.sleep(0.2)
        for ln in d.lines()[mark:]:
            self.assertTrue(ln.startswith("ts="),
                            "a log line not written by the logger: %r" % ln)
            self.assertNotIn("\x1b", ln, "raw escape sequence in log")


class VerboseLogTest(DaemonTestCase):

    def test_verbose_mode_still_keeps_secrets_out_of_log(self):
        d = self.daemon(verbose=True)
        self.assertQueued(d.post(unique_envelope()))
        self.assertQueued(d.post(unique_envelope(), token_in="query"))
        self.assertJSONError(d.post(unique_envelope(),
                                    token=d.hook_token + "x"),
                             401, "unauthorized")
        d.post(b"{", token_in="query")
        d.admin_get("/x", token=d.admin_token)
        time.sleep(0.2)
        self.assertTokenNotLogged(d, d.hook_token, d.admin_token)


class DedupWindowTest(DaemonTestCase):

    def test_same_body_after_dedup_window_is_a_new_event(self):
        d = self.daemon(dedup_window="1s")
        body = unique_envelope()
        first = self.assertQueued(d.post(body))
        r = d.post(body)
        self.assertEqual((r.status, r.json().get("id")), (200, first), r)
        time.sleep(2.2)
        second = self.assertQueued(d.post(body))
        self.assertNotEqual(first, second)
        self.assertEqual(d.query("SELECT count(*) FROM events WHERE body = ?",
                                 (body.decode(),))[0][0], 2)

    def test_dedup_window_0_stores_every_copy(self):
        d = self.daemon(dedup_window="0")
        body = unique_envelope()
        ids = {self.assertQueued(d.post(body)) for _ in range(3)}
        self.assertEqual(len(ids), 3)


class LimitsTest(SharedDaemonTestCase):
    """Small limits: body 4096 bytes, headers 2048 bytes, timeout 2 s."""

    MAX_BODY = 4096
    MAX_HEADER = 2048
    TIMEOUT = 2

    @classmethod
    def daemon_kwargs(cls):
        return dict(max_body_bytes=cls.MAX_BODY,
                    max_header_bytes=cls.MAX_HEADER,
                    request_timeout_s=cls.TIMEOUT)

    def count(self):
        return self.d.query("SELECT count(*) FROM events")[0][0]

    def raw_post(self, body, content_length=None, extra=b""):
        cl = len(body) if content_length is None else content_length
        return (b"POST /hooks/defensx HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\n"
                b"Authorization: Bearer " + self.d.hook_token.encode() +
                b"\r\nContent-Length: %d\r\n" % cl + extra + b"\r\n" + body)

    def test_body_of_exactly_max_body_bytes_is_accepted(self):
        body = padded_envelope(self.MAX_BODY, seq=1)
        eid = self.assertQueued(self.d.post(body))
        rows = self.d.query("SELECT body FROM events WHERE id = ?", (eid,))
        self.assertEqual(rows[0][0].encode(), body)

    def test_body_one_byte_over_max_is_413(self):
        body = padded_envelope(self.MAX_BODY + 1, seq=2)
        self.assertJSONError(self.d.post(body), 413, "payload_too_large")
        self.assertEqual(self.d.query(
            "SELECT count(*) FROM events WHERE length(body) > ?",
            (self.MAX_BODY,))[0][0], 0)

    def test_declared_length_far_over_max_is_413_without_sending_body(self):
        # Far over the limit the HTTP layer answers from the headers alone
        # (its own plain 413, see docs/ingest.md): the body is never read.
        r, _ = self.d.raw(self.raw_post(b"", content_length=10 ** 6),
                          timeout=5)
        self.assertEqual(r.status, 413, r)

    def test_headers_just_over_max_are_431(self):
        before = self.count()
        r = self.d.post(unique_envelope(), headers={"X-Pad": "p" * 3000})
        self.assertJSONError(r, 431, "headers_too_large")
        self.assertEqual(self.count(), before)

    def test_headers_under_max_are_accepted(self):
        self.assertQueued(self.d.post(unique_envelope(),
                                      headers={"X-Pad": "p" * 1000}))

    def test_incomplete_request_is_closed_after_request_timeout(self):
        start = time.monotonic()
        r, closed = self.d.raw(b"POST /hooks/defensx HTTP/1.1\r\nHost: x\r\n",
                               timeout=self.TIMEOUT + 4, read_until_close=True)
        took = time.monotonic() - start
        self.assertTrue(closed, "connection still open after %.1f s" % took)
        self.assertGreaterEqual(took, self.TIMEOUT - 0.5)

    def test_body_cut_short_stores_nothing(self):
        before = self.count()
        body = unique_envelope()
        r, closed = self.d.raw(self.raw_post(body[:-5],
                                             content_length=len(body)),
                               timeout=1.0, shutdown_write=True)
        time.sleep(0.3)
        self.assertEqual(self.count(), before)
        self.assertQueued(self.d.post(unique_envelope()))

    def test_malformed_framing_never_stores_and_daemon_survives(self):
        tok = self.d.hook_token.encode()
        cases = {
            "garbage_request_line": b"GARBAGE\r\n\r\n",
            "binary_noise": bytes(range(256)) * 4,
            "bad_content_length": b"POST /hooks/defensx HTTP/1.1\r\n"
                                  b"Host: x\r\nContent-Type: application/json"
                                  b"\r\nAuthorization: Bearer " + tok +
                                  b"\r\nContent-Length: abc\r\n\r\n{}",
            "negative_content_length": b"POST /hooks/defensx HTTP/1.1\r\n"
                                       b"Host: x\r\nContent-Length: -5"
                                       b"\r\n\r\n",
            "bad_chunk_size": b"POST /hooks/defensx HTTP/1.1\r\nHost: x\r\n"
                              b"Content-Type: application/json\r\n"
                              b"Authorization: Bearer " + tok +
                              b"\r\nTransfer-Encoding: chunked\r\n\r\n"
                              b"zz\r\n{}\r\n0\r\n\r\n",
            "header_without_colon": b"POST /hooks/defensx HTTP/1.1\r\n"
                                    b"Host x\r\n\r\n",
            "http_0_9": b"POST /hooks/defensx\r\n\r\n",
        }
        before = self.count()
        for name, data in cases.items():
            with self.subTest(case=name):
                r, closed = self.d.raw(data, timeout=3)
                self.assertTrue(r.status is None or 400 <= r.status < 500,
                                r)
                self.assertTrue(self.d.alive())
        self.assertEqual(self.count(), before)
        self.assertQueued(self.d.post(unique_envelope()))


if __name__ == "__main__":
    unittest.main()
