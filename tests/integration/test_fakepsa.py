#!/usr/bin/env python3
"""The fake PSA server itself (fakepsa.py): recording, scripted answers,
delay, hang, reset, keep-alive, and its command-line form.  Needs neither
the binary nor the test data."""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from harness import http_request  # noqa: E402
from fakepsa import FakePSA, WaitTimeout  # noqa: E402

CONN_ERRORS = (OSError, http.client.HTTPException)


class FakePSATest(unittest.TestCase):

    def setUp(self):
        self.psa = FakePSA().start()
        self.addCleanup(self.psa.stop)

    def req(self, method, path, body=None, headers=None, conn=None,
            timeout=5):
        return http_request(self.psa.port, method, path, body, headers,
                            conn=conn, timeout=timeout)

    def test_records_every_request(self):
        t0, w0 = time.monotonic(), time.time()
        r = self.req("POST", "/v4/tickets?company=7&x=",
                     b'{"summary":"hi"}',
                     {"Content-Type": "application/json",
                      "X-Custom": "one", "Authorization": "Basic abc"})
        self.assertEqual(r.status, 200, r)
        self.req("PUT", "/v4/tickets/1", b"put")
        self.req("PATCH", "/other", b"patch")
        self.req("GET", "/v4/tickets/1")
        self.req("DELETE", "/v4/tickets/1")
        reqs = self.psa.wait_for(5, timeout=2)
        self.assertEqual([q.method for q in reqs],
                         ["POST", "PUT", "PATCH", "GET", "DELETE"])
        q = reqs[0]
        self.assertEqual(q.path, "/v4/tickets")
        self.assertEqual(q.query, "company=7&x=")
        self.assertEqual(q.params(), {"company": ["7"], "x": [""]})
        self.assertEqual(q.body, b'{"summary":"hi"}')
        self.assertEqual(q.json(), {"summary": "hi"})
        names = [k for k, _ in q.headers]
        self.assertLess(names.index("Content-Type"), names.index("X-Custom"))
        self.assertLess(names.index("X-Custom"), names.index("Authorization"))
        self.assertEqual(q.header("x-custom"), "one")
        self.assertEqual(q.header("content-length"), "16")
        self.assertIsInstance(q.client_port, int)
        self.assertGreater(q.client_port, 0)
        self.assertTrue(t0 <= q.mono <= time.monotonic())
        self.assertTrue(w0 - 1 <= q.wall <= time.time() + 1)
        self.assertEqual(q.outcome, "answered")
        self.assertEqual(q.status, 200)
        self.assertEqual(reqs[3].body, b"")
        self.assertEqual([q.seq for q in reqs], [1, 2, 3, 4, 5])
        self.assertEqual(len(self.psa.requests("/v4/")), 4)
        self.assertEqual(len(self.psa.requests("/other")), 1)
        self.psa.clear()
        self.assertEqual(self.psa.requests(), [])

    def test_chunked_request_body(self):
        c = http.client.HTTPConnection("127.0.0.1", self.psa.port, timeout=5)
        self.addCleanup(c.close)
        c.request("POST", "/c", body=iter([b"ab", b"cde"]),
                  headers={"Transfer-Encoding": "chunked"},
                  encode_chunked=True)
        self.assertEqual(c.getresponse().read()[:1], b"{")
        self.assertEqual(self.psa.wait_for(1, timeout=2)[0].body, b"abcde")

    def test_default_answer_has_an_id_and_content_length(self):
        a = self.req("POST", "/x", b"{}")
        b = self.req("POST", "/x", b"{}")
        self.assertEqual(a.header("Content-Type"), "application/json")
        self.assertEqual(a.header("Content-Length"), str(len(a.body)))
        self.assertEqual(a.json()["ok"], True)
        self.assertNotEqual(a.json()["id"], b.json()["id"])

    def test_scripted_500_three_times_then_default(self):
        self.psa.script("/psa", [{"status": 500, "body": "boom",
                                  "count": 3}])
        other = self.req("POST", "/elsewhere", b"{}")
        self.assertEqual(other.status, 200)
        got = [self.req("POST", "/psa/tickets", b"{}") for _ in range(4)]
        self.assertEqual([r.status for r in got], [500, 500, 500, 200])
        self.assertEqual(got[0].body, b"boom")
        self.assertEqual(got[0].header("Content-Length"), "4")
        self.assertIn("id", got[3].json())
        self.assertEqual(self.psa.pending(), 0)
        self.assertEqual([q.status for q in self.psa.requests("/psa")],
                         [500, 500, 500, 200])

    def test_longest_prefix_and_new_default(self):
        self.psa.script("/a", [404])
        self.psa.script("/a/b", [{"status": 409, "body": {"e": 1}}])
        self.psa.default({"status": 201, "body": {"id": 42}})
        self.assertEqual(self.req("POST", "/a/b/c").status, 409)
        self.assertEqual(self.req("POST", "/a/b/c").status, 404)
        r = self.req("POST", "/a/b/c")
        self.assertEqual((r.status, r.json()), (201, {"id": 42}))
        self.psa.default(lambda q: {"status": 202, "body": q.path})
        self.assertEqual(self.req("GET", "/echo").body, b"/echo")
        with self.assertRaises(ValueError):
            self.psa.script("/x", [{"stauts": 500}])

    def test_retry_after_header_is_sent(self):
        self.psa.script("/r", [{"status": 429,
                                "headers": {"Retry-After": "2"}},
                               {"status": 503,
                                "headers": [("Retry-After", "7"),
                                            ("X-A", "1"), ("X-A", "2")]}])
        r = self.req("POST", "/r", b"{}")
        self.assertEqual(r.status, 429)
        self.assertEqual(r.header("Retry-After"), "2")
        r = self.req("POST", "/r", b"{}")
        self.assertEqual(r.status, 503)
        self.assertEqual(r.header("Retry-After"), "7")
        self.assertEqual([v for k, v in r.headers if k == "X-A"],
                         ["1", "2"])

    def test_delay(self):
        self.psa.script("/slow", [{"delay": 0.3}])
        t0 = time.monotonic()
        r = self.req("POST", "/slow", b"{}")
        self.assertEqual(r.status, 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        q = self.psa.requests("/slow")[0]
        self.assertGreaterEqual(q.answered - q.mono, 0.3)

    def test_hang_then_stop_is_quick(self):
        self.psa.script("/hang", [{"hang": True}])
        with self.assertRaises(socket.timeout):
            self.req("POST", "/hang", b"{}", timeout=0.5)
        self.assertEqual(self.psa.wait_for(1, "/hang", timeout=1)[0].outcome,
                         "hang")
        # a second client hangs too, its socket still open at stop()
        self.psa.script("/hang", [{"hang": True}])
        c = http.client.HTTPConnection("127.0.0.1", self.psa.port,
                                       timeout=5)
        self.addCleanup(c.close)
        c.request("POST", "/hang", b"{}")
        self.psa.wait_for(2, "/hang", timeout=2)
        t0 = time.monotonic()
        self.assertTrue(self.psa.stop())
        self.assertLess(time.monotonic() - t0, 2.0)
        with self.assertRaises(CONN_ERRORS):
            c.getresponse()
        self.assertLess(time.monotonic() - t0, 2.0)

    def test_release_closes_hung_connections(self):
        self.psa.script("/hang", [{"hang": True}])
        c = http.client.HTTPConnection("127.0.0.1", self.psa.port,
                                       timeout=5)
        self.addCleanup(c.close)
        c.request("POST", "/hang", b"{}")
        self.psa.wait_for(1, "/hang", timeout=2)
        time.sleep(0.05)
        self.psa.release()
        t0 = time.monotonic()
        with self.assertRaises(CONN_ERRORS):
            c.getresponse()
        self.assertLess(time.monotonic() - t0, 2.0)
        self.assertEqual(self.req("POST", "/hang").status, 200)

    def test_reset(self):
        self.psa.script("/reset", [{"reset": True, "status": 500},
                                   {"reset": b""}])
        for _ in range(2):
            with self.assertRaises(CONN_ERRORS):
                self.req("POST", "/reset", b"{}")
        self.assertEqual([q.outcome for q in self.psa.requests("/reset")],
                         ["reset", "reset"])
        self.assertEqual(self.req("POST", "/reset").status, 200)

    def test_reset_is_an_rst(self):
        self.psa.script("/reset", [{"reset": b""}])
        r, closed = harness.raw_exchange(
            self.psa.port, b"POST /reset HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: 0\r\n\r\n", timeout=2)
        self.assertTrue(closed)
        self.assertEqual(r.raw, b"")
        s = socket.create_connection(("127.0.0.1", self.psa.port), timeout=2)
        self.addCleanup(s.close)
        self.psa.script("/reset", [{"reset": b""}])
        s.sendall(b"POST /reset HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: 0\r\n\r\n")
        with self.assertRaises(ConnectionResetError):
            s.recv(100)

    def test_keep_alive(self):
        c = http.client.HTTPConnection("127.0.0.1", self.psa.port, timeout=5)
        self.addCleanup(c.close)
        a = self.req("POST", "/k", b"1", conn=c)
        b = self.req("POST", "/k", b"2", conn=c)
        self.assertEqual((a.status, b.status), (200, 200))
        self.req("POST", "/k", b"3")  # its own connection
        q = self.psa.wait_for(3, "/k", timeout=2)
        self.assertEqual(q[0].client_port, q[1].client_port)
        self.assertEqual(q[0].conn_id, q[1].conn_id)
        self.assertEqual([q[0].conn_index, q[1].conn_index], [1, 2])
        self.assertNotEqual(q[2].conn_id, q[0].conn_id)
        self.assertEqual(self.psa.accepted, 2)

    def test_close_answer_closes_the_connection(self):
        self.psa.script("/c", [{"close": True}])
        r, closed = harness.raw_exchange(
            self.psa.port, b"POST /c HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: 0\r\n\r\n", timeout=2, read_until_close=True)
        self.assertTrue(closed)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Connection"), "close")

    def test_wait_for_times_out(self):
        t0 = time.monotonic()
        with self.assertRaises(WaitTimeout):
            self.psa.wait_for(1, timeout=0.2)
        self.assertLess(time.monotonic() - t0, 1.0)

    def test_stop_with_idle_keepalive_connection(self):
        c = http.client.HTTPConnection("127.0.0.1", self.psa.port, timeout=5)
        self.addCleanup(c.close)
        self.req("GET", "/idle", conn=c)
        self.assertEqual(self.psa.open_connections(), 1)
        t0 = time.monotonic()
        self.assertTrue(self.psa.stop())
        self.assertLess(time.monotonic() - t0, 2.0)
        self.assertEqual(self.psa.open_connections(), 0)


class CommandLineTest(unittest.TestCase):

    def test_script_and_record_then_sigterm(self):
        tmp = tempfile.mkdtemp(prefix="fakepsa-")
        script = os.path.join(tmp, "script.json")
        record = os.path.join(tmp, "record.jsonl")
        with open(script, "w") as f:
            json.dump({"default": {"status": 201},
                       "scripts": {"/a": [{"status": 500, "count": 2}]}}, f)
        p = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "fakepsa.py"), "--port", "0",
             "--script", script, "--record", record],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, preexec_fn=harness._pdeathsig)
        harness._track(p)
        try:
            line = p.stdout.readline().decode()
            self.assertRegex(line, r"^listening 127\.0\.0\.1:\d+\n$")
            port = int(line.rsplit(":", 1)[1])
            got = [http_request(port, "POST", "/a/x", b"{}").status
                   for _ in range(3)]
            self.assertEqual(got, [500, 500, 201])
            os.kill(p.pid, signal.SIGTERM)
            self.assertEqual(p.wait(timeout=5), 0)
        finally:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(5)
            harness._untrack(p)
            p.stdout.close()
            p.stderr.close()
        with open(record) as f:
            recs = [json.loads(ln) for ln in f]
        self.assertEqual([r["status"] for r in recs], [500, 500, 201])
        self.assertEqual(recs[0]["path"], "/a/x")
        self.assertEqual(recs[0]["body"], "{}")
        os.unlink(script)
        os.unlink(record)
        os.rmdir(tmp)


if __name__ == "__main__":
    unittest.main()
