"""Shared pieces of the security tests (tests/security/test_*.py).

They reuse the integration harness (tests/integration/harness.py: the real
binary, its store read-only, its log) and the fake PSA; this module only
adds what several security scripts need: raw requests built byte by byte,
counting the answers in a raw stream, VmRSS, and a unique marker to find
an event in the store.  Standard library only.
"""

import os
import re
import secrets
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
INTEGRATION = os.path.join(os.path.dirname(HERE), "integration")
sys.path.insert(0, INTEGRATION)
import harness  # noqa: E402

TOP = os.path.dirname(os.path.dirname(HERE))


def marker(tag="m"):
    """A string no other test run sends: find an event by it in the store."""
    return "%s-%s" % (tag, secrets.token_hex(8))


def marked_envelope(mark, time_=None):
    """A valid envelope whose payload carries mark (compact JSON bytes)."""
    return harness.envelope(
        payload={"type": "Agent", "id": mark, "hostname": "H-" + mark},
        time_=time_ if time_ is not None else 1700000000 +
        secrets.randbelow(10 ** 8))


def request(d, body=b"", *, path=None, headers=None, token=True,
            content_length=True, content_type=True, eol=b"\r\n",
            method=b"POST"):
    """The bytes of one request to d's source path.  headers: extra raw
    header lines (bytes, without line end), appended last; content_length
    True adds the right one, False none."""
    path = path if path is not None else d.source_path.encode()
    lines = [method + b" " + path + b" HTTP/1.1", b"Host: 127.0.0.1"]
    if content_type:
        lines.append(b"Content-Type: application/json")
    if token:
        lines.append(b"Authorization: Bearer " + d.hook_token.encode())
    if content_length:
        lines.append(b"Content-Length: %d" % len(body))
    lines += list(headers or [])
    return eol.join(lines) + eol + eol + body


def chunked(body, size=None):
    """body in chunked transfer coding (one chunk unless size is given)."""
    size = size or max(1, len(body))
    out = b""
    for i in range(0, len(body), size):
        part = body[i:i + size]
        out += b"%x\r\n" % len(part) + part + b"\r\n"
    return out + b"0\r\n\r\n"


def responses(raw):
    """The status codes of the HTTP responses in a raw byte stream, read one
    after the other by their Content-Length (as a client would)."""
    out = []
    while raw:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        m = re.match(rb"HTTP/1\.[01] (\d{3}) ", head)
        if not sep or not m:
            break
        out.append(int(m.group(1)))
        cl = re.search(rb"\r\ncontent-length:[ \t]*(\d+)", head, re.I)
        raw = rest[int(cl.group(1)):] if cl else b""
    return out


def complete(raw):
    """True when raw holds at least one whole response."""
    head, sep, rest = raw.partition(b"\r\n\r\n")
    cl = re.search(rb"\r\ncontent-length:[ \t]*(\d+)", head, re.I)
    return bool(sep) and cl is not None and len(rest) >= int(cl.group(1))


def exchange(port, data, timeout=3.0, one=False):
    """Sends data, reads until the peer closes or timeout (or, with one,
    until a whole response is in).  Returns (raw bytes read, closed by
    peer)."""
    return harness.send_and_read(port, data, timeout,
                                 complete if one else None)


def vmrss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


def asan_env(**opts):
    """ASAN_OPTIONS for a daemon whose memory is measured: a small
    quarantine, so that freed memory is not held back by the sanitizer
    (harmless for a build without sanitizers)."""
    base = os.environ.get("ASAN_OPTIONS", "")
    extra = ":".join("%s=%s" % kv for kv in sorted(opts.items()))
    return {"ASAN_OPTIONS": (base + ":" if base else "") + extra}


def count_marked(d, mark):
    """Events in d's store whose body contains mark."""
    return d.query("SELECT count(*) FROM events WHERE instr(body, ?) > 0",
                   (mark,))[0][0]
