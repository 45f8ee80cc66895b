#!/usr/bin/env python3
"""A fake PSA / webhook server for the integration tests and benchmarks.

Standard library only.  Listens on 127.0.0.1 only (port 0 = a free port),
HTTP/1.1 with keep-alive, any path, methods POST PUT PATCH GET DELETE.
Every request is recorded; answers are scripted per path prefix.

In-process use (the tests):

    from fakepsa import FakePSA
    with FakePSA() as psa:                      # start() ... stop()
        psa.script("/tickets", [{"status": 500, "count": 3}])
        ... point the daemon at psa.url + "/tickets" ...
        reqs = psa.wait_for(4, "/tickets", timeout=10)
        reqs[0].method, .path, .query, .headers, .body, .json(), .client_port

Answers (dicts; an int n is short for {"status": n}; a callable
f(request) -> answer|None is called when the request arrives):

    status   HTTP status, default 200
    reason   reason phrase, default the standard one
    body     str (text/plain), bytes (application/octet-stream), anything
             else JSON-encoded (application/json).  Absent or None: the
             automatic body {"ok": status < 400, "id": <counter>}.
    headers  dict or list of (name, value); a Content-Type or
             Content-Length given here replaces the automatic one
    delay    seconds to wait before answering (cut short by stop())
    hang     True: read the request, never answer; the connection stays
             open until release() or stop(), then it is closed
    reset    True: send a partial status line + headers, then close with
             SO_LINGER 0 (the peer gets an RST); bytes: send exactly
             those bytes (b"" = RST with no response at all)
    close    True: answer with "Connection: close" and close afterwards
    count    n: this answer n times in a row (script() only)

Every answer carries Content-Length, except 1xx/204/304 which have no
body.  Requests are recorded when fully read, before they are answered
(Request.outcome / .status are filled in when the answer is sent).

Script use (benchmarks):

    python3 fakepsa.py --port 0 [--script FILE] [--record FILE]

prints "listening 127.0.0.1:PORT" on stdout and serves until SIGTERM or
SIGINT.  The script file is JSON:

    {"default": {"status": 201},
     "scripts": {"/a": [{"status": 500, "count": 3}]}}

("scripts" may also be a list of {"path_prefix": ..., "answers": [...]}).
--record FILE writes every request as one JSON line at exit.
"""

import argparse
import collections
import http.server
import json
import os
import signal
import socket
import struct
import sys
import threading
import time

HOST = "127.0.0.1"
STOP_TIMEOUT_S = 5.0

ANSWER_KEYS = frozenset(["status", "reason", "body", "headers", "delay",
                         "hang", "reset", "close", "count"])

_NO_BODY = object()


class WaitTimeout(AssertionError):
    """wait_for() gave up.  An AssertionError so that unittest reports a
    failure, not an error."""


class Request:
    """One recorded request."""

    __slots__ = ("seq", "mono", "wall", "method", "target", "path", "query",
                 "version", "headers", "body", "body_len", "client_port",
                 "conn_id", "conn_index", "status", "outcome", "answered")

    def __init__(self):
        self.seq = 0            # 1, 2, ... in order of recording
        self.mono = 0.0         # time.monotonic() when the headers were read
        self.wall = 0.0         # time.time() at the same moment
        self.method = ""
        self.target = ""        # the request target as sent: path?query
        self.path = ""          # target before "?"
        self.query = ""         # target after "?" ("" when none)
        self.version = ""       # "HTTP/1.1"
        self.headers = []       # [(name, value)] in order, as sent
        self.body = b""         # None when the server keeps no bodies
        self.body_len = 0
        self.client_port = 0    # the peer's port: same port = same connection
        self.conn_id = 0        # 1, 2, ... per accepted connection
        self.conn_index = 0     # 1 for the first request on its connection
        self.status = None      # status sent, once answered
        self.outcome = "pending"  # answered hang reset stopped client-gone
        self.answered = None    # time.monotonic() when the answer (or the
                                # hang or reset) began

    def header(self, name, default=None):
        """The first header of that name (case-insensitive)."""
        n = name.lower()
        for k, v in self.headers:
            if k.lower() == n:
                return v
        return default

    def header_all(self, name):
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    @property
    def text(self):
        return (self.body or b"").decode("utf-8", "replace")

    def json(self):
        return json.loads((self.body or b"").decode("utf-8"))

    def params(self):
        """The query as {name: [values]}."""
        import urllib.parse
        return urllib.parse.parse_qs(self.query, keep_blank_values=True)

    def as_dict(self):
        d = {k: getattr(self, k) for k in self.__slots__
             if k not in ("body", "headers")}
        d["headers"] = [list(h) for h in self.headers]
        d["body"] = None if self.body is None else self.text
        return d

    def __repr__(self):
        return ("<Request #%d %s %s port=%d conn=%d/%d %s body=%r>"
                % (self.seq, self.method, self.target, self.client_port,
                   self.conn_id, self.conn_index, self.outcome,
                   (self.body or b"")[:200]))


def _normalize(answer):
    """Checks one answer; returns (answer, count)."""
    if callable(answer):
        return answer, 1
    if isinstance(answer, int) and not isinstance(answer, bool):
        answer = {"status": answer}
    if not isinstance(answer, dict):
        raise TypeError("an answer is a dict, an int status or a callable, "
                        "not %r" % (answer,))
    unknown = set(answer) - ANSWER_KEYS
    if unknown:
        raise ValueError("unknown answer keys %s (known: %s)"
                         % (sorted(unknown), sorted(ANSWER_KEYS)))
    a = dict(answer)
    count = a.pop("count", 1)
    if not isinstance(count, int) or count < 0:
        raise ValueError("count must be an int >= 0, not %r" % (count,))
    st = a.get("status", 200)
    if not isinstance(st, int) or not 100 <= st <= 999:
        raise ValueError("status must be an int 100..999, not %r" % (st,))
    h = a.get("headers")
    if h is not None and not isinstance(h, (dict, list, tuple)):
        raise TypeError("headers must be a dict or a list of pairs")
    return a, count


def _header_pairs(h):
    if not h:
        return []
    if isinstance(h, dict):
        return [(str(k), str(v)) for k, v in h.items()]
    return [(str(k), str(v)) for k, v in h]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakepsa/1"
    sys_version = ""

    def setup(self):
        fake = self.server.fake
        self.timeout = fake.keepalive_timeout
        super().setup()
        # Headers and body go out in two writes: without this, Nagle and
        # the peer's delayed ACK stall every answer by ~40 ms.
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY,
                                       1)
        except OSError:
            pass
        self.conn_id = fake._conn_opened(self.connection)
        self.conn_requests = 0

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.fake._conn_closed(self.connection)

    def log_message(self, fmt, *args):
        if self.server.fake.verbose:
            sys.stderr.write("fakepsa: %s:%d %s\n"
                             % (self.client_address[0],
                                self.client_address[1], fmt % args))

    # -- reading --

    def _read_exact(self, n):
        data = self.rfile.read(n) if n else b""
        if len(data) != n:
            raise ValueError("body ended after %d of %d bytes"
                             % (len(data), n))
        return data

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            parts = []
            while True:
                line = self.rfile.readline(65537)
                if not line.endswith(b"\n"):
                    raise ValueError("bad chunk size line %r" % line[:80])
                size = int(line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while True:  # trailers
                        t = self.rfile.readline(65537)
                        if t in (b"\r\n", b"\n"):
                            break
                        if not t.endswith(b"\n"):
                            raise ValueError("body ended in the trailers")
                    return b"".join(parts)
                parts.append(self._read_exact(size))
                if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                    raise ValueError("no CRLF after a chunk")
        cl = self.headers.get("Content-Length")
        if cl is None:
            return b""
        n = int(cl.strip())
        if n < 0:
            raise ValueError("negative Content-Length")
        return self._read_exact(n)

    # -- the request --

    def _handle(self):
        fake = self.server.fake
        mono, wall = time.monotonic(), time.time()
        try:
            body = self._read_body()
        except (ValueError, OSError) as e:
            self.close_connection = True
            try:
                self.send_error(400, "bad body: %s" % e)
            except OSError:
                pass
            return
        self.conn_requests += 1
        r = Request()
        r.mono, r.wall = mono, wall
        r.method = self.command
        r.target = self.path
        r.path, _, r.query = self.path.partition("?")
        r.version = self.request_version
        r.headers = list(self.headers.items())
        r.body = body if fake.keep_bodies else None
        r.body_len = len(body)
        r.client_port = self.client_address[1]
        r.conn_id = self.conn_id
        r.conn_index = self.conn_requests
        fake._record(r)
        self._answer(r, fake._answer_for(r))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def _answer(self, r, a):
        fake = self.server.fake
        delay = a.get("delay") or 0
        if delay > 0 and fake._stopping.wait(delay):
            r.outcome = "stopped"  # stop() came first
            self.close_connection = True
            return
        if a.get("hang"):
            r.outcome = "hang"
            r.answered = time.monotonic()
            fake._hang()
            self.close_connection = True
            return
        if a.get("reset") not in (None, False):
            self._reset(r, a)
            return
        status = a.get("status", 200)
        extra = _header_pairs(a.get("headers"))
        names = {k.lower() for k, _ in extra}
        bodyless = status < 200 or status in (204, 304)
        if bodyless:
            body = b""
        else:
            body, ctype = fake._encode_body(a, status)
        # Filled in before the bytes go out, so that whoever has read the
        # answer also sees it recorded.
        r.status = status
        r.answered = time.monotonic()
        r.outcome = "answered"
        try:
            self.send_response(status, a.get("reason"))
            for k, v in extra:
                self.send_header(k, v)
            if not bodyless:
                if body and "content-type" not in names:
                    self.send_header("Content-Type", ctype)
                if "content-length" not in names:
                    self.send_header("Content-Length", str(len(body)))
            if a.get("close"):
                self.send_header("Connection", "close")
            self.end_headers()
            if body:
                self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            r.outcome = "client-gone"
            self.close_connection = True

    def _reset(self, r, a):
        raw = a["reset"]
        if isinstance(raw, (bytes, bytearray)):
            data = bytes(raw)
        else:
            st = a.get("status", 200)
            data = ("HTTP/1.1 %d %s\r\nContent-Type: appl"
                    % (st, self.responses.get(st, ("X",))[0])).encode()
        r.outcome = "reset"
        r.answered = time.monotonic()
        sock = self.connection
        try:
            if data:
                sock.sendall(data)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.server.fake._conn_closed(sock)
        # close(2) now: socket.close() would wait for rfile/wfile to be
        # closed, and shutdown_request() would send a FIN first.
        try:
            os.close(sock.detach())
        except OSError:
            pass
        self.close_connection = True


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, fake, addr):
        self.fake = fake
        super().__init__(addr, _Handler)

    def process_request(self, request, client_address):
        t = threading.Thread(target=self._conn_main,
                             args=(request, client_address),
                             name="fakepsa-conn", daemon=True)
        with self.fake._lock:
            self.fake._threads.add(t)
        t.start()

    def _conn_main(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self.fake._lock:
                self.fake._threads.discard(threading.current_thread())

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], OSError) and not self.fake.verbose:
            return
        super().handle_error(request, client_address)


class FakePSA:
    """The fake server.  port=0 picks a free port (see .port after start).
    keepalive_timeout: seconds an idle connection is kept (None = until
    stop).  keep_bodies=False records only body_len (long benchmarks)."""

    def __init__(self, port=0, *, verbose=False, keepalive_timeout=None,
                 keep_bodies=True):
        self._want_port = port
        self.verbose = verbose
        self.keepalive_timeout = keepalive_timeout
        self.keep_bodies = keep_bodies
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._requests = []
        self._seq = 0
        self._scripts = collections.OrderedDict()  # prefix -> deque
        self._default = {"status": 200}
        self._next_id = 0
        self._conns = set()
        self._threads = set()
        self._hung = set()
        self._accepted = 0
        self._stopping = threading.Event()
        self._httpd = None
        self._serve_thread = None
        self._stopped = False
        self.port = None

    # -- life --

    def start(self):
        if self._httpd is not None:
            raise RuntimeError("already started")
        self._httpd = _Server(self, (HOST, self._want_port))
        self.port = self._httpd.server_address[1]
        self._serve_thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name="fakepsa-accept", daemon=True)
        self._serve_thread.start()
        return self

    def stop(self, timeout=STOP_TIMEOUT_S):
        """Stops accepting, closes every connection (hung ones too) and
        joins the threads, within `timeout` seconds.  Returns True when
        every thread ended.  Safe to call more than once."""
        if self._httpd is None or self._stopped:
            return True
        self._stopped = True
        deadline = time.monotonic() + timeout
        self._httpd.shutdown()
        with self._lock:
            self._stopping.set()
            hung = list(self._hung)
            self._hung.clear()
            conns = list(self._conns)
        for ev in hung:
            ev.set()
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()
        self._serve_thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in threads)

    def __enter__(self):
        if self._httpd is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    @property
    def url(self):
        return "http://%s:%d" % (HOST, self.port)

    # -- scripting --

    def script(self, path_prefix, answers):
        """Queues answers for requests whose path (without the query)
        starts with path_prefix, consumed one per request in order.  A
        prefix scripted again gets the new answers appended.  When several
        prefixes with answers left match, the longest wins."""
        expanded = []
        for a in answers:
            a, n = _normalize(a)
            expanded.extend([a] * n)
        with self._lock:
            self._scripts.setdefault(path_prefix, collections.deque()) \
                .extend(expanded)

    def default(self, answer):
        """The answer when no script matches (initially 200 with
        {"ok": true, "id": <counter>})."""
        a, _ = _normalize(answer)
        with self._lock:
            self._default = a

    def release(self):
        """Ends the requests hung so far: their connections are closed
        without an answer."""
        with self._lock:
            hung = list(self._hung)
            self._hung.clear()
        for ev in hung:
            ev.set()

    def load(self, obj):
        """Applies a script object (the --script file format)."""
        if "default" in obj:
            self.default(obj["default"])
        sc = obj.get("scripts") or {}
        if isinstance(sc, dict):
            for prefix, answers in sc.items():
                self.script(prefix, answers)
        else:
            for s in sc:
                self.script(s["path_prefix"], s["answers"])
        unknown = set(obj) - {"default", "scripts"}
        if unknown:
            raise ValueError("unknown script keys %s" % sorted(unknown))

    def pending(self, path_prefix=None):
        """How many scripted answers are left (for that prefix exactly, or
        all)."""
        with self._lock:
            if path_prefix is not None:
                return len(self._scripts.get(path_prefix, ()))
            return sum(len(q) for q in self._scripts.values())

    # -- records --

    def requests(self, path_prefix=None):
        with self._lock:
            return [r for r in self._requests
                    if path_prefix is None or r.path.startswith(path_prefix)]

    def wait_for(self, count, path_prefix=None, timeout=10):
        """Waits until at least count requests (under path_prefix) are
        recorded; returns them.  Raises WaitTimeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [r for r in self._requests
                       if path_prefix is None or
                       r.path.startswith(path_prefix)]
                if len(got) >= count:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WaitTimeout(
                        "fakepsa: %d of %d requests%s within %.1f s; all "
                        "recorded: %r"
                        % (len(got), count,
                           "" if path_prefix is None else
                           " under %r" % path_prefix, timeout,
                           self._requests[-20:]))
                self._cond.wait(left)

    def clear(self, scripts=False):
        """Forgets the recorded requests (and the scripts if asked)."""
        with self._lock:
            self._requests = []
            if scripts:
                self._scripts.clear()

    @property
    def accepted(self):
        """Connections accepted so far."""
        with self._lock:
            return self._accepted

    def open_connections(self):
        with self._lock:
            return len(self._conns)

    # -- internals (handler side) --

    def _conn_opened(self, sock):
        with self._lock:
            self._accepted += 1
            n = self._accepted
            self._conns.add(sock)
            stopping = self._stopping.is_set()
        if stopping:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return n

    def _conn_closed(self, sock):
        with self._lock:
            self._conns.discard(sock)

    def _record(self, r):
        with self._cond:
            self._seq += 1
            r.seq = self._seq
            self._requests.append(r)
            self._cond.notify_all()
        if self.verbose:
            sys.stderr.write("fakepsa: %r\n" % (r,))

    def _answer_for(self, r):
        with self._lock:
            best = None
            for prefix, q in self._scripts.items():
                if q and r.path.startswith(prefix) and \
                        (best is None or len(prefix) > len(best)):
                    best = prefix
            a = self._scripts[best].popleft() if best is not None \
                else self._default
        if callable(a):
            got = a(r)
            if got is None:
                with self._lock:
                    a = self._default
                if callable(a):
                    got = a(r)
            a = _normalize(got)[0] if got is not None else {"status": 200}
        return a

    def _encode_body(self, a, status):
        body = a.get("body")
        if body is None:
            with self._lock:
                self._next_id += 1
                n = self._next_id
            return (json.dumps({"ok": status < 400, "id": n}).encode(),
                    "application/json")
        if isinstance(body, (bytes, bytearray)):
            return bytes(body), "application/octet-stream"
        if isinstance(body, str):
            return body.encode("utf-8"), "text/plain; charset=utf-8"
        return json.dumps(body).encode("utf-8"), "application/json"

    def _hang(self):
        ev = threading.Event()
        with self._lock:
            if self._stopping.is_set():
                return
            self._hung.add(ev)
        ev.wait()


def main(argv=None):
    p = argparse.ArgumentParser(
        description="Fake PSA / webhook server on 127.0.0.1.")
    p.add_argument("--port", type=int, default=0,
                   help="port to listen on (0 = a free one)")
    p.add_argument("--script", metavar="FILE",
                   help='JSON: {"default": {...}, "scripts": '
                        '{"/prefix": [answers]}}')
    p.add_argument("--record", metavar="FILE",
                   help="at exit, write every request as a JSON line")
    p.add_argument("--no-bodies", action="store_true",
                   help="record body lengths only")
    p.add_argument("--keepalive-timeout", type=float, default=None,
                   metavar="S", help="close idle connections after S s")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)

    srv = FakePSA(args.port, verbose=args.verbose,
                  keepalive_timeout=args.keepalive_timeout,
                  keep_bodies=not args.no_bodies)
    if args.script:
        with open(args.script) as f:
            srv.load(json.load(f))

    done = threading.Event()

    def on_signal(signum, frame):
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    srv.start()
    sys.stdout.write("listening %s:%d\n" % (HOST, srv.port))
    sys.stdout.flush()
    while not done.wait(0.2):
        pass
    srv.stop()
    reqs = srv.requests()
    if args.record:
        with open(args.record, "w") as f:
            for r in reqs:
                f.write(json.dumps(r.as_dict()) + "\n")
    sys.stderr.write("fakepsa: %d requests on %d connections\n"
                     % (len(reqs), srv.accepted))
    return 0


if __name__ == "__main__":
    sys.exit(main())
