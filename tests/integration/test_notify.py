#!/usr/bin/env python3
"""Type=notify: psabridge tells systemd READY=1 once it listens and the
store is open, RELOADING=1 then READY=1 around SIGHUP, STOPPING=1 on
SIGTERM.  The test plays systemd: a datagram socket as NOTIFY_SOCKET."""

import os
import signal
import socket
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DaemonTestCase, unique_envelope  # noqa: E402

harness.check_env()


class NotifyTest(DaemonTestCase):

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="psabridge-notify-")
        self.path = os.path.join(self.tmp, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(5)
        self.addCleanup(self.cleanup)

    def cleanup(self):
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(self.tmp)

    def next_message(self):
        data = self.sock.recv(4096).decode()
        return dict(ln.split("=", 1) for ln in data.split("\n") if ln)

    def test_ready_reloading_and_stopping_are_sent(self):
        d = self.daemon(start=False, extra_env={"NOTIFY_SOCKET": self.path})
        d.start()
        msg = self.next_message()
        self.assertEqual(msg.get("READY"), "1", msg)
        # READY comes after listening: a callback is accepted right away
        self.assertQueued(d.post(unique_envelope()))
        d.signal(signal.SIGHUP)
        self.assertEqual(self.next_message().get("RELOADING"), "1")
        self.assertEqual(self.next_message().get("READY"), "1")
        d.signal(signal.SIGTERM)
        self.assertEqual(self.next_message().get("STOPPING"), "1")
        self.assertEqual(d.wait(), 0)

    def test_a_rejected_reload_still_ends_with_ready(self):
        d = self.daemon(start=False, extra_env={"NOTIFY_SOCKET": self.path})
        d.start()
        self.assertEqual(self.next_message().get("READY"), "1")
        d.write_config("this is not a configuration\n")
        d.signal(signal.SIGHUP)
        self.assertEqual(self.next_message().get("RELOADING"), "1")
        self.assertEqual(self.next_message().get("READY"), "1")
        self.assertQueued(d.post(unique_envelope()))


if __name__ == "__main__":
    unittest.main()
