"""Integration test harness for psabridge: start the real binary, talk HTTP
to it on loopback, read its SQLite store read-only, collect its log.

Standard library only.  Environment:
  PSABRIDGE_BIN        path of the psabridge binary (required)
  PSABRIDGE_TEST_DATA  the tests/data directory (required)
  PSABRIDGE_KEEP_TMP   if set, temp directories are left behind

Every process started here is ended by its pid: by the test (stop/kill),
by Daemon.close() in a cleanup, and as a last resort by an atexit hook.
On Linux the child also gets PR_SET_PDEATHSIG=SIGKILL so that it dies if
the test runner is killed outright (e.g. by a ctest timeout).
"""

import atexit
import ctypes
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0

# PSABRIDGE_VALGRIND=DIR runs every psabridge process under valgrind
# memcheck, its report in DIR/vg.PID.log; a process that ends on its own
# (not by SIGKILL) must report 0 errors and nothing definitely or
# indirectly lost.  Slower: the time limits grow.
VALGRIND_DIR = os.environ.get("PSABRIDGE_VALGRIND")
if VALGRIND_DIR:
    START_TIMEOUT_S *= 6
    STOP_TIMEOUT_S *= 6


def command(args):
    """The command line that runs psabridge with args (under valgrind when
    asked)."""
    if not VALGRIND_DIR:
        return [binary()] + list(args)
    os.makedirs(VALGRIND_DIR, exist_ok=True)
    return ["valgrind", "--quiet", "--error-exitcode=99",
            "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
            "--show-leak-kinds=definite,indirect",
            "--log-file=%s/vg.%%p.log" % VALGRIND_DIR, binary()] + list(args)


def valgrind_check(pid):
    """Raises when valgrind's report for pid shows errors or leaks."""
    if not VALGRIND_DIR:
        return
    path = os.path.join(VALGRIND_DIR, "vg.%d.log" % pid)
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return  # valgrind writes nothing with --quiet when all is well
    if "ERROR SUMMARY" in text or "definitely lost" in text or \
            "indirectly lost" in text or "Invalid" in text:
        raise AssertionError("valgrind found problems in pid %d:\n%s"
                             % (pid, text[-4000:]))
HTTP_TIMEOUT_S = 10.0

UUID7_RE = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

_live = {}  # pid -> Popen, everything started and not yet reaped
_live_lock = threading.Lock()


def _reap_all():
    with _live_lock:
        procs = list(_live.values())
        _live.clear()
    for p in procs:
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


atexit.register(_reap_all)


def _track(p):
    with _live_lock:
        _live[p.pid] = p


def _untrack(p):
    with _live_lock:
        _live.pop(p.pid, None)


def _pdeathsig():
    # Runs in the child between fork and exec.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def binary():
    b = os.environ.get("PSABRIDGE_BIN")
    if not b:
        raise RuntimeError("PSABRIDGE_BIN is not set (path of the psabridge "
                           "binary)")
    if not os.access(b, os.X_OK):
        raise RuntimeError("PSABRIDGE_BIN=%s is not an executable" % b)
    return b


def data_dir():
    d = os.environ.get("PSABRIDGE_TEST_DATA")
    if not d or not os.path.isdir(d):
        raise RuntimeError("PSABRIDGE_TEST_DATA is not set or not a "
                           "directory: %r" % d)
    return d


def fixture(name):
    """Raw bytes of tests/data/defensx/<name>.json, exactly as on disk."""
    with open(os.path.join(data_dir(), "defensx", name + ".json"), "rb") as f:
        return f.read()


FIXTURES = ["agent-create", "agent-uninstall", "agent-reinstall",
            "agent-delete", "userrequest-create"]


def envelope(event="Agent.Create", time_=1677237885, payload=None, **extra):
    """A valid DefensX envelope as compact JSON bytes."""
    if payload is None:
        payload = {"type": "Agent", "id": "fdceb72a-c274-4844-8b74-"
                   "a0c74a8018e5", "hostname": "WIN10-4"}
    obj = {"event": event, "time": time_, "payload": payload}
    obj.update(extra)
    return json.dumps(obj, separators=(",", ":")).encode()


_seq = [0]
_seq_lock = threading.Lock()
_run_salt = secrets.token_hex(4)


def unique_envelope(event="Agent.Create"):
    """A valid envelope no other call in this process returns."""
    with _seq_lock:
        _seq[0] += 1
        n = _seq[0]
    return envelope(event=event, time_=1700000000 + n,
                    payload={"type": "Agent", "id": "%s-%d" % (_run_salt, n),
                             "hostname": "HOST-%d" % n})


def padded_envelope(size, seq=0):
    """A valid envelope of exactly `size` bytes (padding in payload)."""
    head = b'{"event":"Agent.Create","time":%d,"payload":{"type":"Agent",' \
           b'"pad":"' % (1677237885 + seq)
    tail = b'"}}'
    n = size - len(head) - len(tail)
    if n < 0:
        raise ValueError("size too small")
    body = head + b"a" * n + tail
    assert len(body) == size
    json.loads(body)
    return body


def free_port():
    """A loopback port free right now (for a server the test starts)."""
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def write_secret(path, value):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)
    os.chmod(path, 0o600)


def new_token():
    return secrets.token_hex(20)


# --- log parsing ---------------------------------------------------------

_KV_RE = re.compile(r'([A-Za-z0-9_.-]+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_log_line(line):
    """key=value pairs of one log line; quoted values are unquoted."""
    out = {}
    for k, v in _KV_RE.findall(line):
        if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
            v = re.sub(r"\\(.)", r"\1", v[1:-1])
        out[k] = v
    return out


def split_address(addr):
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


# --- HTTP ----------------------------------------------------------------

class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value)
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<Response %s %r headers=%r>" % (self.status, self.body[:300],
                                                self.headers)


def http_request(port, method, path, body=None, headers=None, conn=None,
                 host="127.0.0.1", timeout=HTTP_TIMEOUT_S):
    """One request with http.client.  If conn is given it is used (and left
    open, keep-alive); otherwise a connection is opened and closed."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        hdrs = dict(headers or {})
        for k, v in hdrs.items():
            conn.putheader(k, v)
        if body is not None and not any(k.lower() == "content-length"
                                        for k in hdrs):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, r.reason, r.getheaders(), data)
    finally:
        if own:
            conn.close()


class RawResponse:
    def __init__(self, data):
        self.raw = data
        self.status = None
        self.headers = []
        self.body = b""
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            return
        lines = head.split(b"\r\n")
        m = re.match(rb"HTTP/1\.[01] (\d{3})", lines[0])
        if not m:
            return
        self.status = int(m.group(1))
        for ln in lines[1:]:
            k, _, v = ln.partition(b":")
            self.headers.append((k.decode("latin-1").strip(),
                                 v.decode("latin-1").strip()))
        self.body = rest

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<RawResponse %r>" % self.raw[:400]


def send_and_read(port, data, timeout=5.0, done=None, shutdown_write=False):
    """Sends raw bytes on a new loopback connection, then reads until the
    peer closes, the timeout expires or done(bytes read so far) is true.
    Returns (bytes, closed by the peer)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    buf = b""
    closed = False
    try:
        try:
            s.sendall(data)
            if shutdown_write:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            buf += chunk
            if done is not None and done(buf):
                break
    finally:
        s.close()
    return buf, closed


def _one_response(buf):
    r = RawResponse(buf)
    if r.status is None:
        return False
    cl = r.header("Content-Length")
    return cl is not None and len(r.body) >= int(cl)


def raw_exchange(port, data, timeout=5.0, read_until_close=False,
                 shutdown_write=False):
    """Sends raw bytes, reads one response (by Content-Length) or until the
    peer closes or the timeout expires.  Returns (RawResponse, closed)."""
    buf, closed = send_and_read(
        port, data, timeout, None if read_until_close else _one_response,
        shutdown_write)
    return RawResponse(buf), closed


# --- the daemon ----------------------------------------------------------

class DaemonError(Exception):
    pass


class Daemon:
    """One psabridge instance in its own temp dir.

    The layout: <tmp>/etc/psabridge.cfg, token files beside it,
    <tmp>/etc/var (state_dir, relative in the config) and <tmp>/cwd, the
    working directory of the process, so that a path resolved against the
    cwd instead of the config dir shows up as a missing store."""

    def __init__(self, *, max_body_bytes=65536, max_header_bytes=8192,
                 request_timeout_s=10, max_connections=1024,
                 dedup_window="24h", admin=True, verbose=False,
                 extra_env=None, source_token=None, config_text=None,
                 wrapper=None):
        self.tmp = tempfile.mkdtemp(prefix="psabridge-it-")
        self.etc = os.path.join(self.tmp, "etc")
        self.cwd = os.path.join(self.tmp, "cwd")
        os.makedirs(self.etc)
        os.makedirs(self.cwd)
        self.cfg_path = os.path.join(self.etc, "psabridge.cfg")
        self.state_dir = os.path.join(self.etc, "var")
        os.makedirs(self.state_dir, mode=0o700)
        self.db_path = os.path.join(self.state_dir, "psabridge.db")
        self.log_path = os.path.join(self.tmp, "stderr.log")
        self.stdout_path = os.path.join(self.tmp, "stdout.log")
        self.hook_token = new_token()
        self.admin_token = new_token()
        write_secret(os.path.join(self.etc, "hook.token"), self.hook_token)
        write_secret(os.path.join(self.etc, "admin.token"), self.admin_token)
        self.source_path = "/hooks/defensx"
        self.limits = dict(max_body_bytes=max_body_bytes,
                           max_header_bytes=max_header_bytes,
                           request_timeout_s=request_timeout_s,
                           max_connections=max_connections)
        self.dedup_window = dedup_window
        self.admin = admin
        self.source_token = source_token or "file:hook.token"
        self.verbose = verbose
        self.extra_env = dict(extra_env or {})
        self.wrapper = list(wrapper or [])  # e.g. ["prlimit", "--nofile=..."]
        self.proc = None
        self.returncode = None
        self.ingest_port = None
        self.admin_port = None
        self.ingest_tls_port = None  # with listen_tls in the config
        self._lines = []        # every stderr line of every run
        self._run_start = 0     # index in _lines where the current run began
        self._cond = threading.Condition()
        self._reader = None
        self._logf = open(self.log_path, "ab")
        self.write_config(config_text)

    # -- configuration --

    def config_text(self):
        lim = self.limits
        s = ('listen    = "127.0.0.1:0";\n'
             'state_dir = "var";\n'
             'limits = { max_body_bytes = %d; max_header_bytes = %d; '
             'request_timeout_s = %d; max_connections = %d; };\n'
             % (lim["max_body_bytes"], lim["max_header_bytes"],
                lim["request_timeout_s"], lim["max_connections"]))
        if self.admin:
            s += ('admin  = { listen = "127.0.0.1:0"; '
                  'token = "file:admin.token"; };\n')
        s += ('sources = ( { name = "defensx"; path = "%s"; token = "%s"; '
              'dedup_window = "%s"; } );\n'
              % (self.source_path, self.source_token, self.dedup_window))
        return s

    def write_config(self, text=None):
        with open(self.cfg_path, "w") as f:
            f.write(text if text is not None else self.config_text())

    def set_hook_token(self, value):
        self.hook_token = value
        write_secret(os.path.join(self.etc, "hook.token"), value)

    # -- process control --

    def start(self, timeout=START_TIMEOUT_S):
        if self.proc is not None and self.proc.poll() is None:
            raise DaemonError("already running")
        args = self.wrapper + command(["serve", "-c", self.cfg_path])
        if self.verbose:
            args.append("-v")
        env = dict(os.environ)
        env.update(self.extra_env)
        with self._cond:
            self._run_start = len(self._lines)
        self.ingest_port = self.admin_port = self.ingest_tls_port = None
        self.returncode = None
        out = open(self.stdout_path, "ab")
        try:
            self.proc = subprocess.Popen(
                args, cwd=self.cwd, env=env, stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.PIPE,
                preexec_fn=_pdeathsig if sys.platform.startswith("linux")
                else None)
        finally:
            out.close()
        _track(self.proc)
        self._reader = threading.Thread(target=self._read_stderr,
                                        args=(self.proc,), daemon=True)
        self._reader.start()
        try:
            self.wait_for_log(r"\bmsg=ready\b", timeout=timeout)
        except DaemonError:
            raise DaemonError("daemon did not become ready within %.0f s "
                              "(exit code %r)\n--- log ---\n%s"
                              % (timeout, self.proc.poll(), self.run_log()))
        for ln in self.run_lines():
            kv = parse_log_line(ln)
            if kv.get("msg") != "listening":
                continue
            if kv.get("listener") == "ingest" and "address" in kv:
                self.ingest_port = split_address(kv["address"])[1]
            elif kv.get("listener") == "admin" and "address" in kv:
                self.admin_port = split_address(kv["address"])[1]
            elif kv.get("listener") == "ingest-tls" and "address" in kv:
                self.ingest_tls_port = split_address(kv["address"])[1]
        if not self.ingest_port:
            raise DaemonError("no 'msg=listening listener=ingest address=' "
                              "line before ready\n" + self.run_log())
        if self.admin and not self.admin_port:
            raise DaemonError("no 'msg=listening listener=admin address=' "
                              "line before ready\n" + self.run_log())
        return self

    def _read_stderr(self, proc):
        f = proc.stderr
        for line in iter(f.readline, b""):
            self._logf.write(line)
            self._logf.flush()
            with self._cond:
                self._lines.append(line.decode("utf-8", "replace")
                                   .rstrip("\n"))
                self._cond.notify_all()
        f.close()
        with self._cond:
            self._cond.notify_all()

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def wait(self, timeout=STOP_TIMEOUT_S):
        """Waits for the process to exit; returns its exit code or raises
        subprocess.TimeoutExpired (the process is then still running)."""
        rc = self.proc.wait(timeout=timeout)
        if rc != -signal.SIGKILL:
            valgrind_check(self.proc.pid)
        if self._reader is not None:
            self._reader.join(timeout=5)
        _untrack(self.proc)
        self.returncode = rc
        return rc

    def stop(self, timeout=STOP_TIMEOUT_S):
        """SIGTERM and a bounded wait.  Returns the exit code; if the
        process does not exit in time it is killed and DaemonError raised."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise DaemonError("daemon did not exit within %.0f s of SIGTERM"
                              % timeout)

    def kill(self):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return self.wait(10)

    def restart(self, timeout=START_TIMEOUT_S):
        if self.alive():
            self.stop()
        return self.start(timeout)

    def close(self):
        """Ends the process (SIGKILL if still running) and removes the temp
        dir.  Safe to call more than once."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.kill()
        finally:
            if self._logf and not self._logf.closed:
                self._logf.close()
            if not os.environ.get("PSABRIDGE_KEEP_TMP"):
                shutil.rmtree(self.tmp, ignore_errors=True)

    # -- log --

    def lines(self):
        with self._cond:
            return list(self._lines)

    def run_lines(self):
        with self._cond:
            return list(self._lines[self._run_start:])

    def log_text(self):
        """Everything the daemon wrote on stderr, over all its runs."""
        return "\n".join(self.lines())

    def run_log(self):
        return "\n".join(self.run_lines())

    def log_mark(self):
        with self._cond:
            return len(self._lines)

    def wait_for_log(self, pattern, timeout=5.0, since=None):
        """Waits until a stderr line (from index `since`, default the start
        of the current run) matches pattern; returns the match.  Raises
        DaemonError on timeout or when the process has exited and its
        stderr is drained."""
        rx = re.compile(pattern)
        start = self._run_start if since is None else since
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for ln in self._lines[start:]:
                    m = rx.search(ln)
                    if m:
                        return m
                start = len(self._lines)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DaemonError("no log line matching %r within "
                                      "%.1f s" % (pattern, timeout))
                if (self.proc.poll() is not None and
                        (self._reader is None or
                         not self._reader.is_alive())):
                    raise DaemonError("process exited (code %r) before a "
                                      "log line matched %r"
                                      % (self.proc.poll(), pattern))
                self._cond.wait(min(left, 0.1))

    # -- HTTP --

    def auth(self, token):
        return {"Authorization": "Bearer " + token}

    def post(self, body, *, token=None, token_in="header",
             content_type="application/json", path=None, headers=None,
             conn=None, method="POST"):
        """POSTs body to the source path.  token defaults to the hook token;
        token_in is "header", "query" or None (no token at all)."""
        if token is None:
            token = self.hook_token
        path = path or self.source_path
        hdrs = {}
        if content_type is not None:
            hdrs["Content-Type"] = content_type
        if token_in == "header":
            hdrs.update(self.auth(token))
        elif token_in == "query":
            sep = "&" if "?" in path else "?"
            path = path + sep + "token=" + urllib.parse.quote(token, safe="")
        hdrs.update(headers or {})
        return http_request(self.ingest_port, method, path, body, hdrs,
                            conn=conn)

    def connection(self, port=None):
        return http.client.HTTPConnection("127.0.0.1",
                                          port or self.ingest_port,
                                          timeout=HTTP_TIMEOUT_S)

    def admin_get(self, path, token=None):
        hdrs = self.auth(token) if token else {}
        return http_request(self.admin_port, "GET", path, None, hdrs)

    def raw(self, data, port=None, **kw):
        return raw_exchange(port or self.ingest_port, data, **kw)

    # -- store --

    def db(self):
        """A read-only connection to the store (caller closes)."""
        if not os.path.exists(self.db_path):
            raise DaemonError("no store at %s; state_dir contains %r"
                              % (self.db_path, os.listdir(self.state_dir)))
        uri = "file:%s?mode=ro" % urllib.parse.quote(self.db_path)
        return sqlite3.connect(uri, uri=True, timeout=10)

    def query(self, sql, params=()):
        c = self.db()
        try:
            return c.execute(sql, params).fetchall()
        finally:
            c.close()

    def events(self):
        c = self.db()
        try:
            c.row_factory = sqlite3.Row
            return [dict(r) for r in c.execute(
                "SELECT id, source, event_type, vendor_time, received_at, "
                "body, body_hash, state FROM events ORDER BY id")]
        finally:
            c.close()


def run_cli(args, *, env=None, cwd=None, timeout=15):
    """Runs the binary to completion; returns CompletedProcess (text)."""
    e = dict(os.environ)
    if env:
        for k, v in env.items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
    p = subprocess.Popen(command(args), cwd=cwd, env=e,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE,
                         preexec_fn=_pdeathsig if sys.platform.startswith(
                             "linux") else None)
    _track(p)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(p.pid, signal.SIGKILL)
        out, err = p.communicate(timeout=5)
        raise AssertionError("%r did not finish within %d s; stderr:\n%s"
                             % (args, timeout, err.decode("utf-8",
                                                          "replace")))
    finally:
        _untrack(p)
    if p.returncode != -signal.SIGKILL:
        valgrind_check(p.pid)
    return subprocess.CompletedProcess(
        args, p.returncode, out.decode("utf-8", "replace"),
        err.decode("utf-8", "replace"))


class DaemonTestCase(unittest.TestCase):
    """Base class: self.daemons are closed after each test, and on failure
    the daemons' logs are printed to stderr."""

    shared_daemons = ()  # class-level daemons, set by setUpClass

    def setUp(self):
        self._daemons = []

    def daemon(self, start=True, **kw):
        d = Daemon(**kw)
        self._daemons.append(d)
        self.addCleanup(d.close)
        if start:
            d.start()
        return d

    def run(self, result=None):
        before = (len(result.failures) + len(result.errors)) if result else 0
        out = super().run(result)
        if result is not None and \
                len(result.failures) + len(result.errors) > before:
            for d in list(self.shared_daemons) + getattr(self, "_daemons",
                                                          []):
                tail = [re.sub(r"[\x00-\x08\x0b-\x1f\x7f]",
                               lambda m: "\\x%02x" % ord(m.group()), ln)
                        for ln in d.lines()[-60:]]
                sys.stderr.write("\n--- %s: daemon log (last %d lines) ---\n"
                                 "%s\n--- end ---\n"
                                 % (self.id(), len(tail), "\n".join(tail)))
        return out

    def assertJSONError(self, r, status, code):
        self.assertEqual(r.status, status, r)
        ct = r.header("Content-Type") or ""
        self.assertTrue(ct.startswith("application/json"),
                        "Content-Type %r for %r" % (ct, r))
        try:
            obj = r.json()
        except ValueError:
            self.fail("error answer is not JSON: %r" % r)
        self.assertIsInstance(obj, dict, r)
        self.assertEqual(obj.get("error"), code, r)
        self.assertIsInstance(obj.get("detail"), str, r)
        self.assertTrue(obj["detail"], "empty detail in %r" % r)
        self.assertEqual(set(obj), {"error", "detail"}, r)
        return obj

    def assertQueued(self, r):
        self.assertEqual(r.status, 202, r)
        obj = r.json()
        self.assertEqual(obj.get("status"), "queued", r)
        self.assertRegex(obj.get("id", ""), UUID7_RE)
        return obj["id"]

    def assertTokenNotLogged(self, d, *tokens):
        text = d.log_text()
        for t in tokens:
            self.assertTrue(t)
            self.assertNotIn(t, text, "secret found in the daemon's log")
            # also not in its URL-encoded or partially cut form
            self.assertNotIn(t[:16], text, "secret prefix in the log")


class SharedDaemonTestCase(DaemonTestCase):
    """One daemon for the whole class, cls.d, started once; its Daemon()
    keyword arguments come from daemon_kwargs()."""

    @classmethod
    def daemon_kwargs(cls):
        return {}

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(**cls.daemon_kwargs())
        try:
            cls.d.start()
        except Exception:
            cls.d.close()
            raise
        cls.shared_daemons = (cls.d,)

    @classmethod
    def tearDownClass(cls):
        cls.d.close()


def check_env():
    """Fails loudly (not skip) when the environment is not set up."""
    try:
        binary()
        data_dir()
    except RuntimeError as e:
        sys.stderr.write("integration tests: %s\n" % e)
        sys.exit(1)
