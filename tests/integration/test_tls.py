#!/usr/bin/env python3
"""listen_tls: callbacks over TLS, with certificates this test makes with
the openssl command line tool and requests sent with curl --cacert."""

import http.client
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import unittest
import warnings

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DaemonTestCase, run_cli, unique_envelope  # noqa: E402

harness.check_env()
for tool in ("openssl", "curl"):
    if shutil.which(tool) is None:
        sys.stderr.write("integration tests: %s is not installed "
                         "(scripts/deps test)\n" % tool)
        sys.exit(1)

RELOAD_TIMEOUT_S = 5.0

OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def openssl(*args, cwd):
    p = subprocess.run(["openssl"] + list(args), cwd=cwd,
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=60)
    if p.returncode != 0:
        raise AssertionError("openssl %s failed:\n%s"
                             % (" ".join(args), p.stderr.decode()))


def newkey_args(kind):
    if kind == "rsa":
        return ["-newkey", "rsa:2048"]
    return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]


class PKI:
    """A CA and a server certificate for IP 127.0.0.1 it signed, made in
    dir: <name>-ca.pem, <name>-server.pem and <name>-server.key."""

    def __init__(self, dir, name, kind="ec"):
        self.dir = dir
        self.name = name
        cnf = os.path.join(dir, "openssl.cnf")
        with open(cnf, "w") as f:
            f.write(OPENSSL_CNF)
        self.ca = os.path.join(dir, name + "-ca.pem")
        self.cert = os.path.join(dir, name + "-server.pem")
        self.key = os.path.join(dir, name + "-server.key")
        self.subject = "CN=psabridge test server " + name
        ca_key = name + "-ca.key"
        openssl("req", "-x509", "-config", cnf, "-extensions", "ca_ext",
                *newkey_args(kind), "-nodes", "-keyout", ca_key,
                "-out", self.ca, "-days", "2",
                "-subj", "/CN=psabridge test CA " + name, cwd=dir)
        openssl("req", "-new", "-config", cnf, *newkey_args(kind), "-nodes",
                "-keyout", self.key, "-out", name + ".csr",
                "-subj", "/" + self.subject, cwd=dir)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", self.ca,
                "-CAkey", ca_key, "-set_serial",
                "0x" + os.urandom(8).hex(), "-days", "2",
                "-extfile", cnf, "-extensions", "server_ext",
                "-out", self.cert, cwd=dir)
        os.chmod(self.key, 0o600)


def install(src, dst):
    """Replaces dst the way a renewal does: a new file renamed over it."""
    tmp = dst + ".new"
    shutil.copyfile(src, tmp)
    os.chmod(tmp, os.stat(src).st_mode & 0o777)
    os.replace(tmp, dst)


def client_context(cafile=None, *, min_version=None, max_version=None,
                   ciphers=None):
    if cafile is not None:
        ctx = ssl.create_default_context(cafile=cafile)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if ciphers is not None:
        ctx.set_ciphers(ciphers)
    # TLS 1.0 and 1.1 are deprecated in Python's ssl module too; the test
    # offers them on purpose, to see the daemon refuse them
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if min_version is not None:
            ctx.minimum_version = min_version
        if max_version is not None:
            ctx.maximum_version = max_version
    return ctx


def handshake(port, ctx):
    """(version, cipher) of a handshake with ctx, or raises ssl.SSLError
    (or OSError when the server just closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return s.version(), s.cipher()[0]


class TLSTest(DaemonTestCase):

    def tls_daemon(self, start=True, kind="ec", **kw):
        d = self.daemon(start=False, **kw)
        tls_dir = os.path.join(d.etc, "tls")
        os.makedirs(tls_dir)
        d.pki = PKI(d.tmp, "one", kind)
        d.tls_cert = os.path.join(tls_dir, "server.pem")
        d.tls_key = os.path.join(tls_dir, "server.key")
        install(d.pki.cert, d.tls_cert)
        install(d.pki.key, d.tls_key)
        d.tls_text = ('listen_tls = {\n'
                      '  address = "127.0.0.1:0";\n'
                      '  cert = "file:tls/server.pem";\n'
                      '  key = "file:tls/server.key";\n'
                      '};\n')
        d.write_config(d.config_text() + d.tls_text)
        if start:
            d.start()
            self.assertTrue(d.ingest_tls_port, "no listener=ingest-tls line")
            self.assertNotEqual(d.ingest_tls_port, d.ingest_port)
        return d

    def curl(self, d, ca, body=None, token=None):
        """POSTs the agent-create fixture (or body, a file) with curl;
        returns (exit code, HTTP status as text, body, stderr)."""
        if body is None:
            body = os.path.join(harness.data_dir(), "defensx",
                                "agent-create.json")
        args = ["curl", "-sS", "--noproxy", "*", "--max-time", "10",
                "--cacert", ca, "-o", "-", "-w", "\n%{http_code}",
                "-H", "Content-Type: application/json",
                "-H", "Authorization: Bearer " + (token or d.hook_token),
                "--data-binary", "@" + body,
                "https://127.0.0.1:%d%s" % (d.ingest_tls_port,
                                            d.source_path)]
        p = subprocess.run(args, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=30)
        out = p.stdout.decode("utf-8", "replace")
        text, _, code = out.rpartition("\n")
        return p.returncode, code, text, p.stderr.decode("utf-8", "replace")

    def assertCurlQueued(self, d, ca, body=None):
        rc, code, text, err = self.curl(d, ca, body)
        self.assertEqual((rc, code), (0, "202"), (text, err))
        self.assertIn('"status":"queued"', text)

    def post_file(self, d, body):
        path = os.path.join(d.tmp, "body-%d.json" % time.monotonic_ns())
        with open(path, "wb") as f:
            f.write(body)
        return path

    # -- the endpoint over TLS --

    def test_curl_with_the_ca_posts_a_fixture_and_gets_202(self):
        d = self.tls_daemon()
        self.assertCurlQueued(d, d.pki.ca)
        rows = d.query("SELECT source, event_type FROM events")
        self.assertEqual(rows, [("defensx", "Agent.Create")])
        # the same answers as the plain listener: a wrong token is a 401
        rc, code, text, err = self.curl(d, d.pki.ca, token="nope")
        self.assertEqual(code, "401", (text, err))
        # and the plain listener keeps working beside it
        self.assertQueued(d.post(unique_envelope()))
        d.wait_for_log(r'msg="tls certificate" listener=ingest-tls '
                       r'subject="CN=psabridge test server one" '
                       r'not_after=\d{4}-\d\d-\d\dT')
        self.assertTokenNotLogged(d, d.hook_token)
        self.assertEqual(d.stop(), 0)

    def test_a_keep_alive_connection_carries_several_callbacks(self):
        d = self.tls_daemon()
        conn = http.client.HTTPSConnection(
            "127.0.0.1", d.ingest_tls_port, timeout=10,
            context=client_context(d.pki.ca))
        try:
            for _ in range(3):
                r = d.post(unique_envelope(), conn=conn)
                self.assertQueued(r)
            self.assertEqual(conn.sock.version(), "TLSv1.3")
        finally:
            conn.close()
        self.assertEqual(d.query("SELECT count(*) FROM events"), [(3,)])

    def test_curl_without_the_ca_does_not_trust_the_server(self):
        d = self.tls_daemon()
        other = PKI(d.tmp, "stranger")
        rc, code, text, err = self.curl(d, other.ca)
        self.assertEqual(rc, 60, (code, text, err))  # peer verification
        self.assertEqual(d.query("SELECT count(*) FROM events"), [(0,)])

    # -- protocol versions and ciphers --

    def test_tls_1_1_is_refused_and_1_2_and_1_3_are_accepted(self):
        d = self.tls_daemon()
        port = d.ingest_tls_port
        # SECLEVEL=0 lets this client offer TLS 1.0 and 1.1 at all, so the
        # refusal below is the server's: its protocol_version alert
        old = client_context(min_version=ssl.TLSVersion.TLSv1,
                             max_version=ssl.TLSVersion.TLSv1_1,
                             ciphers="DEFAULT:@SECLEVEL=0")
        with self.assertRaises(ssl.SSLError) as cm:
            handshake(port, old)
        self.assertIn("ALERT_PROTOCOL_VERSION", str(cm.exception))
        d.wait_for_log(r'msg="tls error" listener=ingest-tls '
                       r'peer=127\.0\.0\.1 error=".*unsupported protocol')
        v12 = client_context(d.pki.ca, max_version=ssl.TLSVersion.TLSv1_2)
        version, cipher = handshake(port, v12)
        self.assertEqual(version, "TLSv1.2")
        self.assertRegex(cipher, r"^ECDHE-")
        version, _ = handshake(port, client_context(d.pki.ca))
        self.assertEqual(version, "TLSv1.3")

    def test_tls_1_2_ciphers_without_forward_secrecy_are_refused(self):
        d = self.tls_daemon(kind="rsa")
        port = d.ingest_tls_port
        for weak in ("AES128-SHA", "AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA"):
            with self.subTest(cipher=weak):
                ctx = client_context(max_version=ssl.TLSVersion.TLSv1_2,
                                     ciphers=weak)
                with self.assertRaises(ssl.SSLError):
                    handshake(port, ctx)
        good = client_context(d.pki.ca, max_version=ssl.TLSVersion.TLSv1_2,
                              ciphers="ECDHE-RSA-AES128-GCM-SHA256")
        self.assertEqual(handshake(port, good),
                         ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"))

    def test_plain_http_to_the_tls_port_gets_no_answer(self):
        d = self.tls_daemon()
        body = unique_envelope()
        req = ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: "
               "application/json\r\nAuthorization: Bearer %s\r\n"
               "Content-Length: %d\r\n\r\n"
               % (d.source_path, d.hook_token, len(body))).encode() + body
        r, closed = harness.raw_exchange(d.ingest_tls_port, req,
                                         read_until_close=True)
        self.assertIsNone(r.status, r)
        self.assertNotIn(b"HTTP/1.", r.raw)
        self.assertTrue(closed)
        d.wait_for_log(r'msg="tls error" listener=ingest-tls '
                       r'peer=127\.0\.0\.1 error=".*http request"')
        self.assertEqual(d.query("SELECT count(*) FROM events"), [(0,)])
        self.assertQueued(d.post(unique_envelope()))

    # -- reload --

    def test_sighup_switches_new_connections_to_a_renewed_certificate(self):
        d = self.tls_daemon()
        old = d.pki
        kept = http.client.HTTPSConnection(
            "127.0.0.1", d.ingest_tls_port, timeout=10,
            context=client_context(old.ca))
        self.addCleanup(kept.close)
        self.assertQueued(d.post(unique_envelope(), conn=kept))
        new = PKI(d.tmp, "two", kind="rsa")
        install(new.cert, d.tls_cert)
        install(new.key, d.tls_key)
        # the files alone change nothing until the signal
        self.assertCurlQueued(d, old.ca,
                              self.post_file(d, unique_envelope()))
        mark = d.log_mark()
        d.signal(signal.SIGHUP)
        d.wait_for_log(r'msg="tls certificate reloaded" '
                       r'listener=ingest-tls '
                       r'subject="CN=psabridge test server two"',
                       timeout=RELOAD_TIMEOUT_S, since=mark)
        d.wait_for_log(r"msg=reloaded", timeout=RELOAD_TIMEOUT_S,
                       since=mark)
        self.assertCurlQueued(d, new.ca, self.post_file(d, unique_envelope()))
        rc, code, text, err = self.curl(
            d, old.ca, self.post_file(d, unique_envelope()))
        self.assertEqual(rc, 60, (code, text, err))
        # a connection opened before the reload keeps its certificate
        self.assertQueued(d.post(unique_envelope(), conn=kept))
        self.assertEqual(kept.sock.getpeercert()["subject"],
                         ((("commonName", "psabridge test server one"),),))
        self.assertQueued(d.post(unique_envelope()))
        self.assertEqual(d.stop(), 0)

    def test_sighup_with_a_key_that_does_not_match_keeps_the_old_pair(self):
        d = self.tls_daemon()
        other = PKI(d.tmp, "other")
        install(other.key, d.tls_key)  # the old certificate, a new key
        mark = d.log_mark()
        d.signal(signal.SIGHUP)
        m = d.wait_for_log(r'msg="configuration error" problem=".*'
                           + re.escape(d.cfg_path) + r':(\d+): '
                           r'listen_tls\.key: private key .* does not match',
                           timeout=RELOAD_TIMEOUT_S, since=mark)
        self.assertEqual(int(m.group(1)), self.key_line(d))
        d.wait_for_log(r"reload rejected", timeout=RELOAD_TIMEOUT_S,
                       since=mark)
        self.assertTrue(d.alive())
        self.assertCurlQueued(d, d.pki.ca)

    def test_a_changed_tls_address_waits_for_a_restart(self):
        d = self.tls_daemon()
        port = d.ingest_tls_port
        d.write_config(d.config_text() +
                       d.tls_text.replace("127.0.0.1:0", "127.0.0.2:0"))
        mark = d.log_mark()
        d.signal(signal.SIGHUP)
        d.wait_for_log(r"listen_tls\.address .*take effect at the next "
                       r"restart", timeout=RELOAD_TIMEOUT_S, since=mark)
        self.assertEqual(d.ingest_tls_port, port)
        self.assertCurlQueued(d, d.pki.ca)

    # -- psabridge check --

    def key_line(self, d):
        with open(d.cfg_path) as f:
            for n, line in enumerate(f, 1):
                if "key = " in line and "file:tls/" in line:
                    return n
        self.fail("no listen_tls key line in the config")

    def check(self, d):
        return run_cli(["check", "-c", d.cfg_path], cwd=d.cwd)

    def test_check_accepts_the_pair_and_rejects_a_key_that_does_not_match(
            self):
        d = self.tls_daemon(start=False)
        p = self.check(d)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("configuration OK", p.stdout)
        other = PKI(d.tmp, "other")
        install(other.key, d.tls_key)
        p = self.check(d)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertRegex(
            p.stderr, r"(?m)^" + re.escape(d.cfg_path) + r":%d: listen_tls"
            r"\.key: private key \".*server\.key\" does not match "
            r"certificate \".*server\.pem\" \(error:[0-9A-F]+:"
            % self.key_line(d))
        # serve refuses to start with it as well
        with self.assertRaises(harness.DaemonError):
            d.start(timeout=5)
        self.assertEqual(d.wait(), 1)

    def test_check_reports_every_listen_tls_problem_at_its_line(self):
        d = self.tls_daemon(start=False)
        with open(os.path.join(d.etc, "tls", "notpem.pem"), "w") as f:
            f.write("not a certificate\n")
        cases = {
            "missing file": (
                'cert = "file:tls/nope.pem";',
                r'listen_tls\.cert: cannot open ".*tls/nope\.pem": '
                r'No such file or directory'),
            "not PEM": (
                'cert = "file:tls/notpem.pem";',
                r'listen_tls\.cert: cannot load certificate chain '
                r'".*notpem\.pem" \(error:[0-9A-F]+:PEM routines::no start '
                r'line\)'),
            "not a reference": (
                'cert = "tls/server.pem";',
                r'listen_tls\.cert: "tls/server\.pem" is not a file '
                r'reference: expected "file:PATH" or "cred:NAME"'),
            "unknown key": (
                'cert = "file:tls/server.pem"; certs = "x";',
                r'unknown key "certs" in listen_tls'),
            "a directory": (
                'cert = "file:tls";',
                r'listen_tls\.cert: ".*tls" is not a regular file'),
            "no CREDENTIALS_DIRECTORY": (
                'cert = "cred:tls-cert";',
                r'listen_tls\.cert: "cred:tls-cert" needs '
                r'CREDENTIALS_DIRECTORY'),
        }
        for name, (line, want) in cases.items():
            with self.subTest(case=name):
                text = d.config_text() + d.tls_text.replace(
                    'cert = "file:tls/server.pem";', line)
                d.write_config(text)
                lineno = text.splitlines().index("  " + line) + 1
                p = run_cli(["check", "-c", d.cfg_path], cwd=d.cwd,
                            env={"CREDENTIALS_DIRECTORY": None})
                self.assertEqual(p.returncode, 1, p.stdout)
                self.assertRegex(p.stderr, r"(?m)^" + re.escape(d.cfg_path)
                                 + r":%d: " % lineno + want)
        # a missing key and a bad address, both at once
        text = d.config_text() + ('listen_tls = { address = "127.0.0.1"; '
                                  'cert = "file:tls/server.pem"; };\n')
        d.write_config(text)
        p = self.check(d)
        self.assertEqual(p.returncode, 1)
        self.assertIn('missing required key "key" in listen_tls', p.stderr)
        self.assertIn('listen_tls.address: "127.0.0.1" is not an address',
                      p.stderr)

    def test_cred_references_read_the_credentials_directory(self):
        d = self.tls_daemon(start=False)
        creds = os.path.join(d.tmp, "creds")
        os.makedirs(creds)
        install(d.pki.cert, os.path.join(creds, "tls-cert"))
        install(d.pki.key, os.path.join(creds, "tls-key"))
        d.tls_text = d.tls_text.replace("file:tls/server.pem",
                                        "cred:tls-cert").replace(
            "file:tls/server.key", "cred:tls-key")
        d.write_config(d.config_text() + d.tls_text)
        d.extra_env["CREDENTIALS_DIRECTORY"] = creds
        d.start()
        self.assertCurlQueued(d, d.pki.ca)

    # -- limits on the TLS listener --

    def test_a_client_that_never_completes_the_handshake_is_cut_off(self):
        d = self.tls_daemon(request_timeout_s=2)
        s = socket.create_connection(("127.0.0.1", d.ingest_tls_port),
                                     timeout=6)
        start = time.monotonic()
        try:
            s.sendall(b"\x16\x03\x01")  # the start of a ClientHello
            data = s.recv(1)
        except (ConnectionResetError, socket.timeout) as e:
            data = e
        finally:
            s.close()
        took = time.monotonic() - start
        self.assertEqual(data, b"", "not closed by the server: %r" % data)
        self.assertGreaterEqual(took, 1.5)
        self.assertLess(took, 5)

    def test_a_tls_sender_trickling_bytes_is_cut_off_after_the_timeout(self):
        d = self.tls_daemon(request_timeout_s=2)
        raw = socket.create_connection(("127.0.0.1", d.ingest_tls_port),
                                       timeout=5)
        s = client_context(d.pki.ca).wrap_socket(
            raw, server_hostname="127.0.0.1")
        data = b"POST %s HTTP/1.1\r\nHost: x\r\n" % d.source_path.encode()
        start = time.monotonic()
        cut = None
        try:
            for i in range(len(data)):
                if time.monotonic() - start > 8:
                    break
                try:
                    s.sendall(data[i:i + 1])
                    s.settimeout(0.05)
                    if s.recv(1) == b"":
                        cut = time.monotonic() - start
                        break
                except (socket.timeout, ssl.SSLWantReadError):
                    pass
                except (OSError, ssl.SSLError):
                    cut = time.monotonic() - start
                    break
                time.sleep(0.3)
        finally:
            s.close()
        self.assertIsNotNone(cut, "a trickling TLS sender was never cut off")
        self.assertGreaterEqual(cut, 1.5)
        self.assertLess(cut, 5)
        self.assertCurlQueued(d, d.pki.ca)

    def test_tls_connections_over_the_limit_wait_until_one_closes(self):
        d = self.tls_daemon(max_connections=3, request_timeout_s=30)
        idle = [socket.create_connection(("127.0.0.1", d.ingest_tls_port))
                for _ in range(3)]
        try:
            d.wait_for_log(r"connection limit reached, not accepting\" "
                           r"listener=ingest-tls", timeout=5)
            # the plain listener counts its own connections
            self.assertQueued(d.post(unique_envelope()))
        finally:
            for s in idle:
                s.close()
        d.wait_for_log(r"accepting again\" listener=ingest-tls", timeout=5)
        self.assertCurlQueued(d, d.pki.ca)


if __name__ == "__main__":
    unittest.main()
