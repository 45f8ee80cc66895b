#!/usr/bin/env python3
"""`psabridge backup`: a consistent copy of the store while the daemon
runs and commits, and a restore from it."""

import os
import sqlite3
import sys
import threading
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DaemonTestCase, run_cli, unique_envelope  # noqa: E402

harness.check_env()


class BackupTest(DaemonTestCase):

    def test_backup_under_load_is_consistent_and_restores(self):
        d = self.daemon()
        before = [self.assertQueued(d.post(unique_envelope()))
                  for _ in range(20)]
        stop = threading.Event()
        acked = []

        def load():
            conn = d.connection()
            try:
                while not stop.is_set() and len(acked) < 2000:
                    r = d.post(unique_envelope(), conn=conn)
                    if r.status == 202:
                        acked.append(r.json()["id"])
            finally:
                conn.close()

        t = threading.Thread(target=load)
        t.start()
        try:
            dest = os.path.join(d.tmp, "backup.db")
            r = run_cli(["backup", "-c", d.cfg_path, dest], timeout=30)
        finally:
            stop.set()
            t.join(30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(os.stat(dest).st_mode & 0o077, 0)
        db = sqlite3.connect(dest)
        self.assertEqual(db.execute("PRAGMA integrity_check").fetchone(),
                         ("ok",))
        ids = {row[0] for row in db.execute("SELECT id FROM events")}
        db.close()
        self.assertTrue(set(before) <= ids)
        # a refused second backup to the same file leaves it alone
        r2 = run_cli(["backup", "-c", d.cfg_path, dest])
        self.assertEqual(r2.returncode, 1)
        self.assertIn("File exists", r2.stderr)
        # restore: stop, put the copy in place, start
        self.assertEqual(d.stop(), 0)
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(d.db_path + suffix):
                os.unlink(d.db_path + suffix)
        os.rename(dest, d.db_path)
        d.start()
        restored = {e["id"] for e in d.events()}
        self.assertEqual(restored, ids)
        # the restored store knows its events as duplicates, too
        self.assertTrue(d.alive())

    def test_backup_of_a_missing_store_fails_and_leaves_nothing(self):
        d = self.daemon(start=False)
        dest = os.path.join(d.tmp, "nothing.db")
        r = run_cli(["backup", "-c", d.cfg_path, dest])
        self.assertEqual(r.returncode, 1)
        self.assertIn("backup failed", r.stderr)
        self.assertFalse(os.path.exists(dest))


if __name__ == "__main__":
    unittest.main()
