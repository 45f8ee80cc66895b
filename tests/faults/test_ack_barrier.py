#!/usr/bin/env python3
"""Fault: a slow disk.  No 202 leaves before the commit's fsync returns.

The daemon runs with tests/faults/fsync_delay.c preloaded: every fsync or
fdatasync of the store (a path ending in "-wal" or ".db") returns
DELAY_MS late, and each call's start and return times (CLOCK_REALTIME) are
appended to a log.  The daemon has no targets, so the commit thread is the
only writer of the store.

For every 202, taken at the client with time.time() (the same clock):
  - it arrived at least DELAY_MS after the request was sent, and
  - some fsync of the WAL started after the request was sent and returned
    before the 202 arrived: the event cannot be in an earlier fsync, and a
    202 sent before its own fsync returned would find none.

Requests go one at a time and in waves of concurrent connections (group
commit: one fsync for many events).  The shim's path comes from
PSABRIDGE_FSYNC_SHIM (set by CMake).

ASan: an instrumented daemon refuses to start unless the ASan runtime is
the first preloaded object, so when the binary links libasan its path (from
ldd) goes first in LD_PRELOAD, then the shim.  The shim itself is built
without sanitizers so that it loads into either build.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import harness  # noqa: E402
from harness import DaemonTestCase, unique_envelope  # noqa: E402

harness.check_env()

DELAY_MS = 300
SEQUENTIAL = 5
WAVES = 3
WAVE_SIZE = 12


def shim_path():
    p = os.environ.get("PSABRIDGE_FSYNC_SHIM")
    if not p or not os.path.isfile(p):
        sys.stderr.write("ack_barrier: PSABRIDGE_FSYNC_SHIM is not set or "
                         "not a file: %r (the fsync_delay library)\n" % p)
        sys.exit(1)
    return os.path.abspath(p)


def preload_list(binary, shim):
    """LD_PRELOAD for the binary: libasan first when it links it."""
    out = subprocess.run(["ldd", binary], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, timeout=20,
                         text=True).stdout
    m = re.search(r"^\s*libasan\.so[^\s]*\s+=>\s+(\S+)", out, re.M)
    return ([m.group(1)] if m else []) + [shim]


def read_fsyncs(path):
    """[(start_s, end_s, tid, delayed, rc, path)] from the shim's log."""
    out = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for ln in f:
            parts = ln.rstrip("\n").split(" ", 5)
            if len(parts) != 6:
                continue
            out.append((int(parts[0]) / 1e9, int(parts[1]) / 1e9,
                        int(parts[2]), parts[3] == "1", int(parts[4]),
                        parts[5]))
    return out


class AckBarrierTest(DaemonTestCase):

    def test_no_202_before_the_commits_fsync_returns(self):
        tmp = tempfile.mkdtemp(prefix="psabridge-fsync-")
        self.addCleanup(shutil.rmtree, tmp, True)
        log = os.path.join(tmp, "fsync.log")
        preload = preload_list(harness.binary(), shim_path())
        d = self.daemon(start=False, extra_env={
            "LD_PRELOAD": ":".join(preload),
            "PSABRIDGE_FSYNC_LOG": log,
            "PSABRIDGE_FSYNC_DELAY_MS": str(DELAY_MS)})
        d.start(timeout=20)

        with open("/proc/%d/maps" % d.pid) as f:
            self.assertIn(os.path.realpath(preload[-1]), f.read(),
                          "the shim is not loaded: LD_PRELOAD=%r"
                          % ":".join(preload))

        answers = []  # (sent, arrived, response)
        lock = threading.Lock()

        def post_one(conn=None):
            body = unique_envelope()
            t0 = time.time()
            r = d.post(body, conn=conn)
            t1 = time.time()
            with lock:
                answers.append((t0, t1, r))

        conn = d.connection()
        try:
            for _ in range(SEQUENTIAL):
                post_one(conn)
        finally:
            conn.close()
        wave_fsyncs = []
        for _ in range(WAVES):
            before = len(read_fsyncs(log))
            barrier = threading.Barrier(WAVE_SIZE)

            def worker():
                barrier.wait(10)
                post_one()

            ts = [threading.Thread(target=worker, daemon=True)
                  for _ in range(WAVE_SIZE)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(30)
            self.assertFalse(any(t.is_alive() for t in ts), "posts hang")
            wave_fsyncs.append(len([f for f in read_fsyncs(log)[before:]
                                    if f[5].endswith("-wal")]))

        self.assertEqual(len(answers), SEQUENTIAL + WAVES * WAVE_SIZE)
        bad = [r for _, _, r in answers if r.status != 202]
        self.assertEqual(bad, [], "not every post was acknowledged")
        wal = [f for f in read_fsyncs(log) if f[5].endswith("-wal")]
        self.assertTrue(all(f[4] == 0 for f in wal), "an fsync failed")
        self.assertTrue(all(f[3] and f[1] - f[0] >= DELAY_MS / 1000.0 - 0.005
                            for f in wal), "a WAL fsync was not delayed")
        early = []
        for sent, arrived, r in answers:
            covering = [f for f in wal if f[0] >= sent and f[1] <= arrived]
            if arrived - sent < DELAY_MS / 1000.0 or not covering:
                early.append("id=%s sent=%.6f arrived=%.6f (+%.3f s) "
                             "covering fsyncs=%d"
                             % (r.json().get("id"), sent, arrived,
                                arrived - sent, len(covering)))
        self.assertFalse(early, "%d of %d 202s answered before an fsync of "
                         "the WAL that began after the request was sent had "
                         "returned:\n%s" % (len(early), len(answers),
                                            "\n".join(early[:10])))
        # group commit: a wave shares fsyncs
        for n in wave_fsyncs:
            self.assertLess(n, WAVE_SIZE, "a wave of %d concurrent posts "
                            "took %r WAL fsyncs" % (WAVE_SIZE, wave_fsyncs))
        ids = [r.json()["id"] for _, _, r in answers]
        self.assertEqual(d.stop(timeout=20), 0)
        self.assertEqual(sorted(e["id"] for e in d.events()), sorted(ids))
        sys.stderr.write("ack_barrier: %d acknowledged, %d WAL fsyncs of "
                         "%d ms, per wave of %d: %r, 202 latency %.3f-%.3f "
                         "s\n"
                         % (len(answers), len(wal), DELAY_MS, WAVE_SIZE,
                            wave_fsyncs,
                            min(b - a for a, b, _ in answers),
                            max(b - a for a, b, _ in answers)))


if __name__ == "__main__":
    unittest.main()
