#!/usr/bin/env python3
"""Slow senders and too many connections: limits.request_timeout_s and
limits.max_connections, through the real binary."""

import os
import socket
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DaemonTestCase, unique_envelope  # noqa: E402

harness.check_env()


def request_bytes(d, body):
    head = ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            "\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n"
            % (d.source_path, d.hook_token, len(body)))
    return head.encode() + body


def closed_by_peer(sock):
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


class LimitsTest(DaemonTestCase):

    def test_a_sender_trickling_bytes_is_cut_off_after_the_timeout(self):
        d = self.daemon(request_timeout_s=2)
        data = request_bytes(d, unique_envelope())
        s = socket.create_connection(("127.0.0.1", d.ingest_port), timeout=5)
        s.settimeout(0.05)
        start = time.monotonic()
        cut = None
        # one byte every 0.3 s: each read restarts a plain idle timer,
        # so only a whole-request deadline stops this sender
        for i in range(len(data)):
            if time.monotonic() - start > 8:
                break
            try:
                s.sendall(data[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                cut = time.monotonic() - start
                break
            if closed_by_peer(s):
                cut = time.monotonic() - start
                break
            time.sleep(0.3)
        s.close()
        self.assertIsNotNone(cut, "a trickling sender was never cut off")
        self.assertGreaterEqual(cut, 1.5)
        self.assertLess(cut, 5)
        self.assertEqual(d.query("SELECT count(*) FROM events"), [(0,)])
        # and the daemon still serves others
        self.assertQueued(d.post(unique_envelope()))

    def test_connections_over_the_limit_wait_until_one_closes(self):
        d = self.daemon(max_connections=4, request_timeout_s=30)
        idle = [socket.create_connection(("127.0.0.1", d.ingest_port))
                for _ in range(4)]
        try:
            d.wait_for_log(r"connection limit reached", timeout=5)
            late = socket.create_connection(("127.0.0.1", d.ingest_port),
                                            timeout=5)
            late.sendall(request_bytes(d, unique_envelope()))
            late.settimeout(1.0)
            with self.assertRaises(socket.timeout):
                late.recv(1)  # not accepted while 4 are open
            idle.pop().close()
            late.settimeout(5)
            answer = late.recv(4096)
            self.assertTrue(answer.startswith(b"HTTP/1.1 202"), answer)
            late.close()
        finally:
            for s in idle:
                s.close()
        d.wait_for_log(r"accepting again", timeout=5)
        self.assertQueued(d.post(unique_envelope()))


if __name__ == "__main__":
    unittest.main()
