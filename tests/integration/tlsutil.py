"""Helpers for the TLS and SASL integration tests (test_tls*.py, test_sasl.py):
a raw POP3 line client that can switch to TLS, TLS client contexts, an
RFC 5802/7677 SCRAM-SHA-256 client, and small waiting helpers."""
import base64
import hashlib
import hmac
import os
import re
import select
import socket
import ssl
import subprocess
import time

import conftest

PASSWORD = conftest.PASSWORD

# A message that exercises the transfer: dot-stuffing, an empty body line,
# a lone dot, 8-bit text, trailing blanks.  Stored with LF line ends.  It
# has a Return-Path so that getmail does not add one.
MESSAGE = (b"Return-Path: <sender@example.org>\n"
           b"From: Sender <sender@example.org>\n"
           b"To: ptalice@mail.test\n"
           b"Subject: postern TLS test\n"
           b"Message-ID: <tls-test-1@example.org>\n"
           b"MIME-Version: 1.0\n"
           b"Content-Type: text/plain; charset=utf-8\n"
           b"Content-Transfer-Encoding: 8bit\n"
           b"\n"
           b"first line\n"
           b".a line that starts with a dot\n"
           b"..two dots\n"
           b".\n"
           b"\n"
           b"caf\xc3\xa9 \xe2\x82\xac 8-bit text\n"
           b"trailing blanks   \n"
           b"last line\n")


def lf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


def tls_server(server_factory, test_ca, extra_conf="", names=("mail.test",), **kw):
    """A Server with the given certificates (first is the default); not
    started."""
    return server_factory(extra_conf=extra_conf, tls=[test_ca[n] for n in names], **kw)


def client_ctx(ca, check_hostname=True, minv=None, maxv=None):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = check_hostname
    if minv:
        ctx.minimum_version = minv
    if maxv:
        ctx.maximum_version = maxv
    return ctx


def wait_for(pred, timeout=10.0, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def wait_log(server, pattern, timeout=10.0, start=0):
    """Wait until the server log (from offset start) matches pattern;
    returns the match."""
    rx = re.compile(pattern)
    return wait_for(lambda: rx.search(server.logtext()[start:]), timeout,
                    f"log line matching {pattern!r}")


def sessions_gone(server, timeout=15.0):
    """Wait until the standalone master has no session processes left."""
    wait_for(lambda: not server.children(), timeout, "session processes to end")


def cert_der(pem_path):
    with open(pem_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


class Pop:
    """A minimal POP3 client on a raw socket, so tests control every byte.
    tls_ctx: start with implicit TLS."""

    def __init__(self, port, tls_ctx=None, server_hostname="mail.test", host="127.0.0.1",
                 timeout=10.0, greeting=True):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.tls = False
        if tls_ctx is not None:
            self.wrap(tls_ctx, server_hostname)
        self.greeting = self.line() if greeting else None

    def wrap(self, ctx, server_hostname="mail.test"):
        assert self.buf == b"", f"bytes before the TLS handshake: {self.buf!r}"
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)
        self.tls = True

    def send(self, data: bytes):
        self.sock.sendall(data)

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError("connection closed by the server")
        self.buf += d

    def line(self) -> str:
        while b"\n" not in self.buf:
            self._fill()
        ln, self.buf = self.buf.split(b"\n", 1)
        return ln.rstrip(b"\r").decode("utf-8", "replace")

    def cmd(self, text: str) -> str:
        self.send(text.encode() + b"\r\n")
        return self.line()

    def multi_raw(self) -> bytes:
        """The body of a multi-line answer, dot-unstuffed, CRLF kept."""
        while b"\r\n.\r\n" not in b"\r\n" + self.buf:
            self._fill()
        if self.buf.startswith(b".\r\n"):
            body, self.buf = b"", self.buf[3:]
        else:
            body, self.buf = self.buf.split(b"\r\n.\r\n", 1)
            body += b"\r\n"
        return b"".join(l[1:] if l.startswith(b".") else l
                        for l in body.splitlines(keepends=True))

    def multi(self):
        return [l.decode("utf-8", "replace") for l in self.multi_raw().split(b"\r\n")[:-1]]

    def capa(self):
        r = self.cmd("CAPA")
        assert r.startswith("+OK"), r
        return self.multi()

    def login(self, user="ptalice", password=PASSWORD):
        r = self.cmd(f"USER {user}")
        assert r.startswith("+OK"), r
        r = self.cmd(f"PASS {password}")
        assert r.startswith("+OK"), r
        return r

    def retr(self, n) -> bytes:
        r = self.cmd(f"RETR {n}")
        assert r.startswith("+OK"), r
        return self.multi_raw()

    def stls(self, ctx, server_hostname="mail.test"):
        r = self.cmd("STLS")
        assert r.startswith("+OK"), r
        self.wrap(ctx, server_hostname)

    def quiet(self, seconds=0.5) -> bytes:
        """Whatever arrives within `seconds` (b"" if nothing)."""
        got = self.buf
        self.buf = b""
        end = time.time() + seconds
        while True:
            left = end - time.time()
            if left <= 0:
                break
            if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
                pass
            elif not select.select([self.sock], [], [], left)[0]:
                break
            try:
                self.sock.settimeout(left)
                d = self.sock.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            finally:
                self.sock.settimeout(10)
            if not d:
                break
            got += d
        return got

    def closed_by_server(self, timeout=5.0) -> bool:
        """True if the server closes the connection within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                d = self.sock.recv(65536)
                if not d:
                    return True
        except (socket.timeout, TimeoutError):
            return False
        except (ConnectionResetError, ssl.SSLError, OSError):
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---- SCRAM-SHA-256 (RFC 5802, RFC 7677), client side ----

def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def scram_keys(password, salt, iterations):
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    ckey = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    skey = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return ckey, hashlib.sha256(ckey).digest(), skey


class ScramClient:
    def __init__(self, user, password, gs2="n,,", cbdata=b"", nonce=None):
        self.user, self.password = user, password
        self.gs2, self.cbdata = gs2, cbdata
        self.cnonce = nonce or b64(os.urandom(18))
        name = user.replace("=", "=3D").replace(",", "=2C")
        self.first_bare = f"n={name},r={self.cnonce}"
        self.server_signature = None

    def first(self) -> bytes:
        return (self.gs2 + self.first_bare).encode()

    def parse_server_first(self, sf: bytes):
        attrs = dict(kv.split("=", 1) for kv in sf.decode().split(","))
        return attrs["r"], base64.b64decode(attrs["s"], validate=True), int(attrs["i"])

    def final(self, server_first: bytes, password=None, cbind_override=None) -> bytes:
        self.server_first = server_first.decode()
        nonce, salt, it = self.parse_server_first(server_first)
        assert nonce.startswith(self.cnonce) and len(nonce) > len(self.cnonce), nonce
        ckey, stored, skey = scram_keys(password or self.password, salt, it)
        cbind = cbind_override if cbind_override is not None else \
            b64(self.gs2.encode() + self.cbdata)
        without = f"c={cbind},r={nonce}"
        am = f"{self.first_bare},{self.server_first},{without}".encode()
        csig = hmac.new(stored, am, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(ckey, csig))
        self.server_signature = hmac.new(skey, am, hashlib.sha256).digest()
        return f"{without},p={b64(proof)}".encode()

    def verify(self, server_final: bytes) -> bool:
        return server_final.decode() == "v=" + b64(self.server_signature)


def scram_auth(pop, user, password, mech="SCRAM-SHA-256", gs2="n,,", cbdata=b"",
               wrong_password=None, cbind_override=None, initial=True):
    """Run AUTH SCRAM on a Pop.  Returns (result, scram client, server_first)
    where result is the final status line; on a server-final it is checked
    and answered."""
    sc = ScramClient(user, password, gs2=gs2, cbdata=cbdata)
    if initial:
        r = pop.cmd(f"AUTH {mech} {b64(sc.first())}")
    else:
        r = pop.cmd(f"AUTH {mech}")
        assert r == "+ " or r == "+", r
        r = pop.cmd(b64(sc.first()))
    if not r.startswith("+ "):
        return r, sc, None
    sf = base64.b64decode(r[2:], validate=True)
    r = pop.cmd(b64(sc.final(sf, password=wrong_password, cbind_override=cbind_override)))
    if r.startswith("+ "):
        final = base64.b64decode(r[2:], validate=True)
        assert sc.verify(final), f"bad server signature {final!r}"
        r = pop.cmd("")
    return r, sc, sf


def set_password_field(server, user, secret):
    """Replace user's password field in the server's passwd file."""
    with open(server.passwd) as f:
        lines = f.read().splitlines()
    out = []
    for l in lines:
        f = l.split(":")
        if f[0] == user:
            f[1] = secret
            l = ":".join(f)
        out.append(l)
    with open(server.passwd, "w") as f:
        f.write("\n".join(out) + "\n")


def run_tool(args, timeout=60, env=None, input=None):
    return subprocess.run(args, capture_output=True, timeout=timeout, env=env, input=input)


def make_cert(test_ca, name, outdir, tag="b", rsa=False):
    """A fresh ECDSA P-256 (or RSA-2048) key and certificate for `name`,
    signed by the test CA (a different key and serial from test_ca[name]).
    Returns (cert, key)."""
    cadir = os.path.dirname(test_ca["ca"])
    key = os.path.join(outdir, f"{name}.{tag}.key")
    csr = os.path.join(outdir, f"{name}.{tag}.csr")
    ext = os.path.join(outdir, f"{name}.{tag}.ext")
    crt = os.path.join(outdir, f"{name}.{tag}.pem")
    with open(ext, "w") as f:
        f.write(f"subjectAltName=DNS:{name}\n")
    genkey = (["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key]
              if rsa else ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key])
    for cmd in (genkey,
                ["req", "-new", "-key", key, "-subj", f"/CN={name}", "-out", csr],
                ["x509", "-req", "-in", csr, "-CA", test_ca["ca"],
                 "-CAkey", os.path.join(cadir, "ca.key"), "-CAserial",
                 os.path.join(outdir, "serial"), "-CAcreateserial", "-days", "30",
                 "-extfile", ext, "-out", crt]):
        subprocess.run(["openssl", *cmd], check=True, capture_output=True)
    return crt, key


def s_client(args, input=b"", timeout=20):
    """openssl s_client with the given extra arguments; stdin `input`."""
    return subprocess.run(["openssl", "s_client", *args], input=input, capture_output=True,
                          timeout=timeout)
