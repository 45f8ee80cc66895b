#!/usr/bin/env python3
"""Hostile callback bodies, and the daemon's memory under 10 MB bodies.

docs/ingest.md answers 400 for "not JSON, invalid UTF-8, a NUL byte, nested
deeper than 64, trailing data, not an object, ..., a member given twice",
413 over limits.max_body_bytes, and a plain 413 from libevent over twice
that.  Pass: a hostile body gets 400, 413 or 415, never a 5xx, a crash or
a sanitizer report, and is not stored.
tests/integration/test_ingest.py already has the common malformed bodies,
depth 10,000, the envelope's member types, 1e999 as time and one byte over
the limit; this adds what it does not: bodies that are not JSON by RFC 8259
but that lenient parsers take (raw control characters, leading zeros, lone
surrogate escapes), more invalid UTF-8, the depth boundary, 1,001 and
100,000 levels, \\u0000 anywhere, and JSON that is valid but odd
(1e999 in the payload, duplicate names below the envelope), which must
then be routed and rendered without a crash and without the rules and the
templates reading different members.

Memory: VmRSS before and after 50 bodies of 10 MB, against the default
limit (64 KiB, so libevent cuts them off), a limit the body is between
(read whole, answered 413) and a limit it fits in (parsed, 400).  Every
request holds at most about twice max_body_bytes, so the growth must stay
well below the 500 MB sent.
"""

import json
import os
import socket
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import asan_env, vmrss_kb  # noqa: E402
import harness  # noqa: E402
from harness import DaemonTestCase  # noqa: E402

harness.check_env()

E = b'{"event":"Agent.Create","time":1700000000,"payload":%s}'

# Not JSON (RFC 8259) or refused by docs/ingest.md: 400 every one.
MUST_400 = {
    # UTF-16 escapes that are no character
    "lone_high_surrogate": E % b'{"h":"\\ud800"}',
    "lone_low_surrogate": E % b'{"h":"\\udc00"}',
    "two_high_surrogates": E % b'{"h":"\\ud800\\ud800"}',
    "reversed_pair": E % b'{"h":"\\udc00\\ud800"}',
    "high_then_letter": E % b'{"h":"\\ud800x"}',
    "high_then_escape": E % b'{"h":"\\ud800\\u0041"}',
    "lone_surrogate_in_key": E % b'{"\\udfff":"x"}',
    "short_u_escape": E % b'{"h":"\\u12"}',
    "bad_hex_u_escape": E % b'{"h":"\\u12G4"}',
    "unknown_escape": E % b'{"h":"\\x41"}',
    "upper_u_escape": E % b'{"h":"\\U0041"}',
    # cJSON reads a \u escape with a non-hex digit as U+0000 and ends the
    # string there: "Agent.Create\u00zzEvil" would be routed as
    # "Agent.Create" while the stored body says otherwise
    "non_hex_escape_in_event": b'{"event":"Agent.Create\\u00zzEvil",'
                               b'"time":1700000000,"payload":{}}',
    "non_hex_escape_in_value": E % b'{"h":"good.example\\uZZZZ.evil"}',
    # NUL, escaped, anywhere (docs: a NUL byte is refused; cJSON would
    # cut the string there)
    "nul_escape_in_payload": E % b'{"h":"a\\u0000b"}',
    "nul_escape_in_key": E % b'{"a\\u0000b":"x"}',
    "nul_escape_deep": E % b'{"a":[{"b":"\\u0000"}]}',
    "raw_nul_in_key": E % b'{"a\x00":"x"}',
    # control characters must be escaped inside strings (RFC 8259 7)
    "raw_ctrl_01_in_string": E % b'{"h":"a\x01b"}',
    "raw_ctrl_1f_in_string": E % b'{"h":"a\x1fb"}',
    "raw_tab_in_string": E % b'{"h":"a\tb"}',
    "raw_newline_in_string": E % b'{"h":"a\nb"}',
    "raw_cr_in_event": b'{"event":"Agent.\rCreate","time":1,"payload":{}}',
    # numbers outside the grammar
    "leading_zero_time": b'{"event":"a","time":01,"payload":{}}',
    "leading_zero_payload": E % b'{"n":007}',
    "plus_sign": E % b'{"n":+1}',
    "dot_no_fraction": E % b'{"n":1.}',
    "dot_no_integer": E % b'{"n":.5}',
    "dot_exponent": E % b'{"n":1.e5}',
    "hex_number": E % b'{"n":0x10}',
    "nan": E % b'{"n":NaN}',
    "infinity": E % b'{"n":-Infinity}',
    # other non-JSON
    "single_quotes": b"{'event':'a','time':1,'payload':{}}",
    "comment": b'{"event":"a",/*x*/"time":1,"payload":{}}',
    "trailing_comma": b'{"event":"a","time":1,"payload":{},}',
    "bare_word": E % b'{"n":tru}',
    "trailing_bracket": b'{"event":"a","time":1,"payload":{}}]',
    "trailing_line_comment": b'{"event":"a","time":1,"payload":{}} //',
    # invalid UTF-8 beyond test_ingest's four
    "utf8_lone_continuation": E % b'{"h":"\x80"}',
    "utf8_overlong_3_byte": E % b'{"h":"\xe0\x80\xaf"}',
    "utf8_5_byte_form": E % b'{"h":"\xf8\x88\x80\x80\x80"}',
    "utf8_f5_lead": E % b'{"h":"\xf5\x80\x80\x80"}',
    "utf8_over_10ffff": E % b'{"h":"\xf4\x90\x80\x80"}',
    "utf8_in_key": E % b'{"\xff":"x"}',
    "utf8_in_event": b'{"event":"Agent\xc3","time":1,"payload":{}}',
    "utf8_cut_at_end": b'{"event":"a","time":1,"payload":{"h":"\xe2',
    # nesting past 64 (the envelope itself is level 1)
    "depth_65": E % (b'{"a":' * 64 + b"1" + b"}" * 64),
    "depth_1001_arrays": E % (b"[" * 1000 + b"]" * 1000),
    "depth_1001_objects": E % (b'{"a":' * 1000 + b"1" + b"}" * 1000),
    "depth_100000_arrays": E % (b"[" * 100000 + b"]" * 100000),
    "depth_100000_unclosed": b"[" * 100000,
    "depth_100000_mixed": E % (b'[{"a":' * 50000 + b"1" + b"}]" * 50000),
    # the envelope
    "event_over_128_bytes": b'{"event":"' + b"A" * 129 +
                            b'","time":1,"payload":{}}',
    "time_1e999_negative": b'{"event":"a","time":-1e999,"payload":{}}',
}

# Valid JSON, odd: accepted (and then routed and rendered) or refused
# with 400.
ODD = {
    "number_1e999": E % b'{"n":1e999,"hostname":"h1"}',
    "number_minus_1e999": E % b'{"n":-1e999,"hostname":"h2"}',
    "number_1e_minus_999": E % b'{"n":1e-999,"hostname":"h3"}',
    "number_huge_int": E % (b'{"n":' + b"9" * 400 + b',"hostname":"h4"}'),
    "depth_64_exactly": E % (b'{"a":' * 63 + b"1" + b"}" * 63),
    "brackets_inside_a_string": E % (b'{"a":"' + b"[" * 100000 + b'"}'),
    "valid_surrogate_pair": E % b'{"h":"\\ud83d\\ude00"}',
    "noncharacter_uffff": E % b'{"h":"\xef\xbf\xbf"}',
    "duplicate_member_in_extra": b'{"event":"Agent.Create","time":1700000'
                                 b'003,"payload":{},"x":1,"x":2}',
}

PROBE_TICKET = """\
Summary: probe {{payload.hostname}}
Priority: normal

n={{payload.n}} host={{payload.hostname}} all={{payload}}
"""

CONFIG_TAIL = '''
templates_dir = "templates";
targets = ( { name = "file"; type = "file"; path = "var/out.jsonl"; } );
rules = (
  { name = "dup"; match = [ "payload.hostname = dupA" ];
    actions = ( { target = "file"; action = "create";
                  template = "probe"; } ); },
  { name = "all"; match = [];
    actions = ( { target = "file"; action = "create";
                  template = "probe"; } ); }
);
'''


class HostileBodyTest(DaemonTestCase):

    def bridge(self, **kw):
        d = self.daemon(start=False, max_body_bytes=1 << 20, **kw)
        os.makedirs(os.path.join(d.etc, "templates"))
        with open(os.path.join(d.etc, "templates", "probe.ticket"),
                  "w") as f:
            f.write(PROBE_TICKET)
        d.write_config(d.config_text() + CONFIG_TAIL)
        d.start()
        return d

    def assertClean(self, d):
        """Still serving; exits 0 on SIGTERM (LeakSanitizer would make it
        non-zero); no sanitizer report in the log."""
        self.assertTrue(d.alive(), "the daemon died")
        self.assertQueued(d.post(harness.unique_envelope()))
        self.assertEqual(d.stop(), 0, "exit status after SIGTERM")
        text = d.log_text()
        for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                    "level=error"):
            self.assertNotIn(bad, text)

    def out_lines(self, d):
        path = os.path.join(d.state_dir, "out.jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(ln) for ln in f.read().splitlines()]

    def wait_line(self, d, eid, timeout=8.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = [ln for ln in self.out_lines(d) if ln["event"] == eid]
            if got:
                return got
            time.sleep(0.1)
        jobs = d.query("SELECT state, last_error FROM jobs WHERE "
                       "event_id = ?", (eid,))
        self.fail("no line for event %s in the file target; jobs: %r"
                  % (eid, jobs))

    def test_bodies_that_are_not_json_or_refused_by_the_docs_are_400(self):
        d = self.bridge()
        before = d.query("SELECT count(*) FROM events")[0][0]
        for name, body in MUST_400.items():
            with self.subTest(case=name):
                r = d.post(body)
                self.assertJSONError(r, 400, "bad_request")
        self.assertEqual(d.query("SELECT count(*) FROM events")[0][0],
                         before, "a refused body was stored")
        self.assertClean(d)

    def test_valid_but_odd_json_is_stored_and_rendered_or_refused(self):
        d = self.bridge()
        for name, body in ODD.items():
            with self.subTest(case=name):
                r = d.post(body)
                self.assertIn(r.status, (202, 400), r)
                if r.status == 400:
                    self.assertJSONError(r, 400, "bad_request")
                    continue
                eid = self.assertQueued(r)
                [line] = self.wait_line(d, eid)
                desc = line["ticket"]["description"]
                self.assertTrue(desc.startswith("n="), line)
                # {{payload}} prints the payload as JSON text
                alltext = desc.split(" all=", 1)[1].rstrip("\n")
                json.loads(alltext)
        self.assertClean(d)

    def test_duplicate_names_below_the_envelope_are_read_alike(self):
        # The rule tests payload.hostname; the template prints it.  Both
        # must read the same member, or a rule could be steered by one
        # copy while the ticket shows the other.
        d = self.bridge()
        body = E % b'{"hostname":"dupA","hostname":"dupB","n":1}'
        r = d.post(body)
        self.assertIn(r.status, (202, 400), r)
        if r.status == 202:
            eid = self.assertQueued(r)
            [line] = self.wait_line(d, eid)
            desc = line["ticket"]["description"]
            if line["rule"] == "dup":
                self.assertIn("host=dupA ", desc,
                              "the rule read dupA, the template not")
            else:
                self.assertEqual(line["rule"], "all")
                self.assertIn("host=dupB ", desc,
                              "the rule did not read dupA, yet the "
                              "template did")
        else:
            self.assertJSONError(r, 400, "bad_request")
        self.assertClean(d)

    def test_body_of_10_mb_is_413_at_every_limit_below_it(self):
        body = harness.padded_envelope(10 * 1024 * 1024)
        for limit in (65536, 4 * 1024 * 1024, 8 * 1024 * 1024):
            with self.subTest(max_body_bytes=limit):
                d = self.daemon(max_body_bytes=limit)
                r, closed = send_body(d, body)
                self.assertEqual(r.status, 413, r)
                self.assertTrue(closed, "connection open after 413")
                self.assertEqual(d.query("SELECT count(*) FROM events"),
                                 [(0,)])
                self.assertClean(d)


def send_body(d, body, chunk=None):
    """POSTs body on a raw socket (chunked in pieces of `chunk` bytes when
    given), reads the answer and whether the daemon closed.  The body is
    sent whole unless the daemon closes first."""
    s = socket.create_connection(("127.0.0.1", d.ingest_port), timeout=20)
    head = (b"POST /hooks/defensx HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nAuthorization: Bearer " +
            d.hook_token.encode() + b"\r\n")
    if chunk:
        data = head + b"Transfer-Encoding: chunked\r\n\r\n" + \
            common.chunked(body, chunk)
    else:
        data = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    buf, closed = b"", False
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        s.settimeout(10)
        while True:
            try:
                c = s.recv(65536)
            except ConnectionResetError:
                closed = True
                break
            except socket.timeout:
                break
            if not c:
                closed = True
                break
            buf += c
            if common.complete(buf):
                # a close follows at once when the daemon means it
                s.settimeout(1.0)
    finally:
        s.close()
    return harness.RawResponse(buf), closed


@unittest.skipIf(os.environ.get("PSABRIDGE_VALGRIND"),
                 "VmRSS of a process under valgrind says nothing")
class MemoryTest(DaemonTestCase):
    """50 x 10 MB.  The bound, 32 MB of growth after a warm-up of 5, is
    far above what a request may hold (2 x max_body_bytes, one at a time)
    and far below the 500 MB sent: a body kept after its answer shows."""

    N = 50
    WARMUP = 5
    BODY = 10 * 1024 * 1024
    BOUND_KB = 32 * 1024

    def measure(self, limit, body, expect, chunk=None):
        d = self.daemon(max_body_bytes=limit,
                        extra_env=asan_env(quarantine_size_mb=16))
        statuses = set()
        for _ in range(self.WARMUP):
            statuses.add(send_body(d, body, chunk)[0].status)
        time.sleep(0.5)
        before = vmrss_kb(d.pid)
        peak = before
        for _ in range(self.N):
            statuses.add(send_body(d, body, chunk)[0].status)
            peak = max(peak, vmrss_kb(d.pid))
        time.sleep(0.5)
        after = vmrss_kb(d.pid)
        self.assertEqual(statuses, {expect})
        self.assertTrue(d.alive())
        self.assertLess(peak - before, self.BOUND_KB,
                        "VmRSS grew from %d kB to a peak of %d kB (%d kB "
                        "after) over %d bodies of %d bytes, max_body_bytes "
                        "%d" % (before, peak, after, self.N, len(body),
                                limit))
        self.assertEqual(d.stop(), 0)

    def test_10_mb_bodies_over_the_default_limit(self):
        # libevent's hard cap (2 x 64 KiB) answers 413 after the headers:
        # the rest of each body must not be read into memory.
        self.measure(65536, harness.padded_envelope(self.BODY), 413)

    def test_10_mb_chunked_bodies_over_the_default_limit(self):
        self.measure(65536, harness.padded_envelope(self.BODY), 413,
                     chunk=1 << 20)

    def test_10_mb_bodies_between_the_limit_and_the_cap(self):
        # read whole (under 2 x 8 MiB), answered with psabridge's 413
        self.measure(8 * 1024 * 1024, harness.padded_envelope(self.BODY),
                     413)

    def test_10_mb_malformed_bodies_within_the_limit(self):
        body = harness.padded_envelope(self.BODY)[:-1]  # unterminated
        self.measure(16 * 1024 * 1024, body, 400)


if __name__ == "__main__":
    unittest.main()
