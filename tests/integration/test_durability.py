#!/usr/bin/env python3
"""Durability: a 202 means committed, across kill -9, SIGTERM and restart."""

import http.client
import os
import signal
import socket
import sqlite3
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DaemonTestCase, run_cli, unique_envelope  # noqa: E402

harness.check_env()


class Burst:
    """nthreads threads, each with its own keep-alive connection, each
    posting per_thread distinct bodies until done or the daemon is gone."""

    def __init__(self, d, nthreads, per_thread):
        self.d = d
        self.planned = nthreads * per_thread
        self.lock = threading.Lock()
        self.answered = 0
        self.acked = {}          # id -> body, for every 202
        self.other = []          # (status, body) of anything not 202
        self.errors = 0          # connections that broke
        self.reused_ids = []     # ids answered 202 for two bodies
        self.cond = threading.Condition(self.lock)
        self.threads = [threading.Thread(target=self._run, args=(per_thread,),
                                         daemon=True)
                        for _ in range(nthreads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def _run(self, n):
        conn = self.d.connection()
        try:
            for _ in range(n):
                body = unique_envelope()
                try:
                    r = self.d.post(body, conn=conn)
                except (OSError, http.client.HTTPException):
                    with self.lock:
                        self.errors += 1
                    return
                with self.cond:
                    self.answered += 1
                    if r.status == 202:
                        eid = r.json()["id"]
                        if eid in self.acked:
                            self.reused_ids.append(eid)
                        self.acked[eid] = body
                    else:
                        self.other.append((r.status, r.body))
                    self.cond.notify_all()
        finally:
            conn.close()

    def wait_answered(self, n, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.answered < n:
                left = deadline - time.monotonic()
                if left <= 0 or not any(t.is_alive() for t in self.threads):
                    return False
                self.cond.wait(min(left, 0.1))
            return True

    def join(self, timeout=30):
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self.threads)


class DurabilityTest(DaemonTestCase):

    def assertAllStored(self, d, acked):
        events = {e["id"]: e for e in d.events()}
        missing = [i for i in acked if i not in events]
        self.assertEqual(missing, [], "%d of %d acknowledged events lost"
                         % (len(missing), len(acked)))
        for eid, body in acked.items():
            self.assertEqual(events[eid]["body"].encode(), body, eid)
        self.assertEqual(d.query("PRAGMA integrity_check")[0][0], "ok")
        return events

    def test_every_202_survives_kill_9_in_mid_burst(self):
        d = self.daemon()
        b = Burst(d, nthreads=8, per_thread=64).start()
        self.assertTrue(b.wait_answered(200, timeout=30),
                        "only %d answers before the timeout" % b.answered)
        os.kill(d.pid, signal.SIGKILL)
        self.assertTrue(b.join(30), "client threads hang after kill -9")
        self.assertEqual(d.wait(10), -signal.SIGKILL)
        self.assertEqual(b.other, [], "non-202 answers in the burst")
        self.assertEqual(b.reused_ids, [])
        self.assertLess(b.answered, b.planned,
                        "the burst was over before the kill: not a mid-burst "
                        "kill")
        self.assertGreaterEqual(len(b.acked), 200)
        d.start()
        events = self.assertAllStored(d, b.acked)
        self.assertGreaterEqual(len(events), len(b.acked))
        # the store is usable and remembers what it acknowledged
        eid, body = next(iter(b.acked.items()))
        r = d.post(body)
        self.assertEqual((r.status, r.json()), (200, {"id": eid,
                                                      "status": "duplicate"}))
        self.assertQueued(d.post(unique_envelope()))
        self.assertEqual(d.stop(), 0)

    def test_every_202_survives_sigterm_in_mid_burst(self):
        d = self.daemon()
        b = Burst(d, nthreads=8, per_thread=64).start()
        self.assertTrue(b.wait_answered(100, timeout=30))
        d.signal(signal.SIGTERM)
        self.assertTrue(b.join(30), "client threads hang after SIGTERM")
        self.assertEqual(d.wait(10), 0)
        d.start()
        self.assertAllStored(d, b.acked)
        self.assertEqual(d.stop(), 0)

    def test_events_and_dedup_survive_sigterm_and_restart(self):
        d = self.daemon()
        bodies = [unique_envelope() for _ in range(3)]
        ids = [self.assertQueued(d.post(b)) for b in bodies]
        self.assertEqual(d.stop(), 0)
        d.start()
        rows = d.query("SELECT id, body FROM events ORDER BY id")
        self.assertEqual(len(rows), 3)
        self.assertEqual(sorted(ids), [r[0] for r in rows])
        self.assertEqual({r[0]: r[1].encode() for r in rows},
                         dict(zip(ids, bodies)))
        r = d.post(bodies[1])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"id": ids[1], "status": "duplicate"})
        self.assertEqual(d.query("SELECT count(*) FROM events")[0][0], 3)
        self.assertEqual(d.stop(), 0)

    def test_sigterm_while_idle_exits_0_promptly_and_logs_shutdown(self):
        d = self.daemon()
        mark = d.log_mark()
        t0 = time.monotonic()
        self.assertEqual(d.stop(timeout=5), 0)
        self.assertLess(time.monotonic() - t0, 5)
        after = "\n".join(d.lines()[mark:])
        self.assertRegex(after, r"msg=\S*(shut|stop|exit|terminat)",
                         "no shutdown line after SIGTERM")

    def test_store_locked_by_another_writer_is_503_and_recovers(self):
        d = self.daemon()
        self.assertQueued(d.post(unique_envelope()))
        body = unique_envelope()
        # another process holds the SQLite write lock: the daemon's commit
        # cannot get it (SQLITE_BUSY) and must say so, not hang or ack
        lock = sqlite3.connect(d.db_path, timeout=1, isolation_level=None)
        try:
            lock.execute("BEGIN IMMEDIATE")
            t0 = time.monotonic()
            r = d.post(body)
            self.assertLess(time.monotonic() - t0, 9)
            self.assertJSONError(r, 503, "unavailable")
            h = d.admin_get("/healthz")
            self.assertEqual(h.status, 503, h)
            self.assertEqual(h.json().get("status"), "unavailable", h)
            self.assertTrue(d.alive())
        finally:
            lock.rollback()
            lock.close()
        # the refused body was not remembered as seen: it is queued now
        eid = self.assertQueued(d.post(body))
        self.assertEqual(d.query("SELECT id FROM events WHERE body = ?",
                                 (body.decode(),)), [(eid,)])
        deadline = time.monotonic() + 10
        while d.admin_get("/healthz").status != 200:
            self.assertLess(time.monotonic(), deadline,
                            "healthz still failing after the store recovered")
            time.sleep(0.1)
        self.assertEqual(d.stop(), 0)

    def test_a_second_daemon_on_the_same_state_dir_refuses_to_start(self):
        d = self.daemon()
        r = run_cli(["serve", "-c", d.cfg_path], timeout=10)
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("in use by another psabridge", r.stderr)
        # the first one is unharmed
        self.assertQueued(d.post(unique_envelope()))
        self.assertEqual(d.stop(), 0)
        # and once it is gone, the state dir can be used again
        d.start()
        self.assertQueued(d.post(unique_envelope()))

    def test_the_store_is_readable_by_the_daemon_only(self):
        d = self.daemon()
        self.assertQueued(d.post(unique_envelope()))
        mode = os.stat(d.db_path).st_mode & 0o777
        self.assertEqual(mode & 0o077, 0, "psabridge.db mode %o" % mode)

    def test_sigterm_does_not_wait_for_idle_or_half_sent_clients(self):
        d = self.daemon()
        idle = d.connection()
        self.assertQueued(d.post(unique_envelope(), conn=idle))  # keep-alive
        half = socket.create_connection(("127.0.0.1", d.ingest_port))
        half.sendall(b"POST /hooks/defensx HTTP/1.1\r\nHost: x\r\n")
        silent = socket.create_connection(("127.0.0.1", d.ingest_port))
        try:
            time.sleep(0.1)
            t0 = time.monotonic()
            self.assertEqual(d.stop(timeout=8), 0)
            self.assertLess(time.monotonic() - t0, 5,
                            "shutdown waited for clients")
        finally:
            idle.close()
            half.close()
            silent.close()

    def test_200_concurrent_posts_all_get_202_and_distinct_stored_ids(self):
        d = self.daemon()
        n = 200
        barrier = threading.Barrier(n)
        bodies = [unique_envelope() for _ in range(n)]
        answers = [None] * n

        def worker(i):
            try:
                barrier.wait(10)
                answers[i] = d.post(bodies[i])
            except Exception as e:
                answers[i] = e

        ts = [threading.Thread(target=worker, args=(i,), daemon=True)
              for i in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        bad = [a for a in answers
               if not isinstance(a, harness.Response) or a.status != 202]
        self.assertEqual(bad, [], "%d of %d not answered 202" % (len(bad), n))
        acked = {a.json()["id"]: body for a, body in zip(answers, bodies)}
        self.assertEqual(len(acked), n, "ids are not distinct")
        self.assertAllStored(d, acked)
        self.assertEqual(d.query("SELECT count(*) FROM events")[0][0], n)


if __name__ == "__main__":
    unittest.main()
