"""TLS behaviour of postern: protocol versions and ciphers, plaintext on the
TLS port, STLS correctness (twice, after login, pipelined input), CAPA after
STLS, SNI, session resumption, close_notify, certificate reload under live
sessions, bad keys, logging, and clients that vanish mid-session."""
import os
import select
import shutil
import signal
import socket
import ssl
import subprocess
import time
import warnings

import pytest

from tlsutil import (MESSAGE, PASSWORD, Pop, cert_der, client_ctx, make_cert,
                     s_client, sessions_gone, tls_server, wait_for, wait_log)
from pop3util import slow_retr
import conftest

TLS12 = ssl.TLSVersion.TLSv1_2
TLS13 = ssl.TLSVersion.TLSv1_3
MODES = ["stls", "implicit"]


def connect(srv, test_ca, mode, name="mail.test", ctx=None, **kw):
    """A Pop in TLS by either route; ctx defaults to a verifying one."""
    ctx = ctx or client_ctx(test_ca["ca"], **kw)
    if mode == "implicit":
        return Pop(srv.tls_port, tls_ctx=ctx, server_hostname=name)
    p = Pop(srv.port)
    assert p.greeting.startswith("+OK")
    p.stls(ctx, name)
    return p


def s_client_args(srv, mode):
    if mode == "implicit":
        return ["-connect", f"127.0.0.1:{srv.tls_port}"]
    return ["-connect", f"127.0.0.1:{srv.port}", "-starttls", "pop3"]


# ---- protocol versions and ciphers ----

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("old", ["-tls1", "-tls1_1"])
def test_old_tls_versions_refused(srv, test_ca, mode, old):
    # SECLEVEL=0 lets Debian's OpenSSL offer TLS 1.0/1.1, so a refusal is
    # the server's: it answers with a protocol_version alert.
    r = s_client(s_client_args(srv, mode) + [old, "-cipher", "DEFAULT:@SECLEVEL=0"],
                 input=b"QUIT\n")
    out = (r.stdout + r.stderr).decode(errors="replace")
    assert r.returncode != 0, out
    assert "alert protocol version" in out, out
    assert "no protocols available" not in out
    wait_log(srv, r"TLS handshake failed: rip=127\.0\.0\.1 reason=.*"
                  r"(unsupported protocol|version too low|wrong version)")
    # the same client with TLS 1.2 gets in: the refusal was about the version
    r = s_client(s_client_args(srv, mode) + ["-tls1_2", "-cipher", "DEFAULT:@SECLEVEL=0",
                                             "-CAfile", test_ca["ca"], "-verify_return_error"],
                 input=b"QUIT\n")
    assert r.returncode == 0, r.stderr
    assert b"Protocol  : TLSv1.2" in r.stdout or b"TLSv1.2" in r.stdout


def test_python_tls10_refused(srv, test_ca):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    with socket.create_connection(("127.0.0.1", srv.tls_port), timeout=10) as s:
        with pytest.raises(ssl.SSLError) as ei:
            ctx.wrap_socket(s, server_hostname="mail.test")
    assert "PROTOCOL_VERSION" in str(ei.value).upper() or "VERSION" in str(ei.value).upper()


def test_min_protocol_tls13(server_factory, test_ca):
    s = tls_server(server_factory, test_ca, extra_conf="ssl_min_protocol = TLSv1.3\n").start()
    with pytest.raises(ssl.SSLError):
        connect(s, test_ca, "implicit", maxv=TLS12)
    p = connect(s, test_ca, "implicit")
    assert p.sock.version() == "TLSv1.3"
    p.close()


@pytest.mark.parametrize("cipher", ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA",
                                    "AES128-SHA256", "AES256-GCM-SHA384",
                                    "ECDHE-ECDSA-NULL-SHA", "ECDHE-ECDSA-AES128-SHA256",
                                    "ECDHE-ECDSA-AES256-SHA384"])
def test_weak_tls12_ciphers_refused(srv, cipher):
    """The default policy: ECDHE/DHE with AEAD only; no CBC-SHA1, NULL,
    static RSA key exchange, CBC-SHA2.  (This OpenSSL has no 3DES or RC4 to
    offer at all; testssl.sh covers those.)"""
    r = s_client(["-connect", f"127.0.0.1:{srv.tls_port}", "-tls1_2",
                  "-cipher", cipher + ":@SECLEVEL=0"], input=b"QUIT\n")
    out = (r.stdout + r.stderr).decode(errors="replace")
    assert r.returncode != 0, out
    # the refusal is the server's: a handshake_failure alert from it
    assert "alert handshake failure" in out, out


def test_tls13_ccm_refused(srv):
    r = s_client(["-connect", f"127.0.0.1:{srv.tls_port}", "-tls1_3",
                  "-ciphersuites", "TLS_AES_128_CCM_SHA256"], input=b"QUIT\n")
    assert r.returncode != 0


@pytest.mark.parametrize("prefer,expect", [("yes", "ECDHE-ECDSA-AES256-GCM-SHA384"),
                                           ("no", "ECDHE-ECDSA-CHACHA20-POLY1305")])
def test_server_cipher_preference(server_factory, test_ca, prefer, expect):
    s = tls_server(server_factory, test_ca,
                   extra_conf=f"ssl_prefer_server_ciphers = {prefer}\n").start()
    ctx = client_ctx(test_ca["ca"], maxv=TLS12)
    ctx.set_ciphers("ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384")
    p = Pop(s.tls_port, tls_ctx=ctx)
    assert p.sock.cipher()[0] == expect
    p.close()


def test_configured_ciphers(server_factory, test_ca):
    s = tls_server(server_factory, test_ca, extra_conf=(
        "ssl_ciphers = ECDHE+CHACHA20\nssl_ciphersuites = TLS_CHACHA20_POLY1305_SHA256\n")).start()
    p = Pop(s.tls_port, tls_ctx=client_ctx(test_ca["ca"], maxv=TLS12))
    assert p.sock.cipher()[0] == "ECDHE-ECDSA-CHACHA20-POLY1305"
    p.close()
    p = Pop(s.tls_port, tls_ctx=client_ctx(test_ca["ca"]))
    assert p.sock.cipher()[0] == "TLS_CHACHA20_POLY1305_SHA256"
    p.login()
    p.cmd("QUIT")
    wait_log(s, r"login: user=<ptalice> .* tls=TLSv1\.3/TLS_CHACHA20_POLY1305_SHA256 ")


# ---- plaintext and garbage on the TLS port ----

@pytest.mark.parametrize("junk", [b"USER ptalice\r\n", b"CAPA\r\n",
                                  b"\x16\x03\x01\x00\x05hello", b"\x00" * 300 + b"\r\n"])
def test_plaintext_to_tls_port(srv, test_ca, junk):
    with socket.create_connection(("127.0.0.1", srv.tls_port), timeout=10) as s:
        s.sendall(junk)
        s.settimeout(5)
        got = b""
        try:
            while True:
                d = s.recv(4096)
                if not d:
                    break
                got += d
        except ConnectionResetError:
            pass
    # No POP3 in the clear; at most a TLS alert record.
    assert b"+OK" not in got and b"-ERR" not in got
    assert got == b"" or got[0] == 0x15, got
    wait_log(srv, r"TLS handshake failed: rip=127\.0\.0\.1 ")
    # the server is fine: the next TLS client logs in
    p = connect(srv, test_ca, "implicit")
    p.login()
    assert p.cmd("QUIT").startswith("+OK")
    sessions_gone(srv)
    assert srv.proc.poll() is None


def test_silent_client_on_tls_port_times_out(server_factory, test_ca):
    """A client that connects and says nothing (or half a ClientHello) is
    dropped at the login timeout, not held forever."""
    s = tls_server(server_factory, test_ca, extra_conf="login_timeout = 2s\n").start()
    t0 = time.time()
    socks = [socket.create_connection(("127.0.0.1", s.tls_port), timeout=10)
             for _ in range(2)]
    socks[1].sendall(b"\x16\x03\x01\x02\x00\x01")
    for c in socks:
        c.settimeout(10)       # a socket.timeout here fails the test
        try:
            got = c.recv(4096)
            assert got == b"" or got[0] == 0x15, got     # EOF or a TLS alert
        except ConnectionResetError:
            pass
    assert time.time() - t0 < 8
    wait_log(s, r"TLS handshake failed: rip=127\.0\.0\.1 ")
    for c in socks:
        c.close()
    sessions_gone(s)


def test_failed_handshakes_logged_with_rip(srv):
    start = len(srv.logtext())
    r = s_client(["-connect", f"127.0.0.1:{srv.tls_port}", "-tls1",
                  "-cipher", "DEFAULT:@SECLEVEL=0"])
    assert r.returncode != 0
    m = wait_log(srv, r"TLS handshake failed: rip=(\S+) reason=(.+)", start=start)
    assert m.group(1) == "127.0.0.1"


def test_failed_handshakes_rate_limited(srv, test_ca):
    """Issue 3: handshake failures are logged with the source address,
    rate-limited: a burst from one source must not write a line each."""
    n = 40
    for _ in range(n):
        with socket.create_connection(("127.0.0.1", srv.tls_port), timeout=10) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            s.settimeout(5)
            try:
                while s.recv(4096):
                    pass
            except ConnectionResetError:
                pass
    sessions_gone(srv)
    lines = [l for l in srv.logtext().splitlines() if "TLS handshake failed" in l]
    assert 1 <= len(lines) < n, f"{len(lines)} log lines for {n} failed handshakes"
    p = connect(srv, test_ca, "implicit")
    p.close()


# ---- STLS correctness ----

def test_capa_before_and_after_stls(srv, test_ca):
    p = Pop(srv.port)
    before = p.capa()
    assert "STLS" in before
    assert not any(l.startswith("SASL") and "PLUS" in l for l in before)
    p.stls(client_ctx(test_ca["ca"]))
    after = p.capa()
    assert "STLS" not in after
    assert "USER" in after
    sasl = [l for l in after if l.startswith("SASL ")][0].split()[1:]
    # auth_mechanisms' default: no SCRAM (test_sasl.py lists it).
    assert sasl == ["PLAIN", "LOGIN"]
    p.login()
    # After the login the same USER and SASL lines, through the relay.
    logged = p.capa()
    assert "USER" in logged and "STLS" not in logged
    assert [l for l in logged if l.startswith("SASL ")][0].split()[1:] == sasl
    assert p.retr(1).replace(b"\r\n", b"\n") == MESSAGE
    p.cmd("QUIT")


def test_implicit_tls_capa_has_no_stls(srv, test_ca):
    p = connect(srv, test_ca, "implicit")
    assert "STLS" not in p.capa()
    r = p.cmd("STLS")
    assert r.startswith("-ERR"), r
    p.login()
    p.cmd("QUIT")


def test_stls_twice(srv, test_ca):
    p = Pop(srv.port)
    p.stls(client_ctx(test_ca["ca"]))
    r = p.cmd("STLS")
    assert r.startswith("-ERR"), r
    # still a working TLS session
    p.login()
    assert p.cmd("STAT").startswith("+OK 1 ")
    assert p.cmd("QUIT").startswith("+OK")


@pytest.mark.parametrize("route", ["plain", "stls", "implicit"])
def test_stls_after_login(srv, test_ca, route):
    if route == "plain":
        p = Pop(srv.port)    # loopback: plaintext login allowed by default
    else:
        p = connect(srv, test_ca, route)
    p.login()
    r = p.cmd("STLS")
    assert r.startswith("-ERR"), r
    assert p.cmd("STAT").startswith("+OK 1 ")
    assert p.cmd("QUIT").startswith("+OK")


@pytest.mark.parametrize("junk", [b"CAPA\r\n", b"USER ptalice\r\n",
                                  b"USER ptalice\r\nPASS " + PASSWORD.encode() + b"\r\n",
                                  b"CAPA\r\nQUIT\r\n"])
def test_stls_pipelined_junk_discarded(srv, test_ca, junk):
    """Bytes sent in the clear after STLS, in the same packet, must never
    run inside the TLS session (the STARTTLS injection class)."""
    p = Pop(srv.port)
    p.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    p.send(b"STLS\r\n" + junk)
    r = p.line()
    assert r.startswith("+OK"), r
    assert p.buf == b""
    p.wrap(client_ctx(test_ca["ca"]))
    # nothing is answered for the injected commands
    assert p.quiet(0.7) == b""
    # and no state leaked from them: PASS without USER in the TLS session
    r = p.cmd("PASS " + PASSWORD)
    assert r.startswith("-ERR"), r
    assert "STLS" not in p.capa()
    p.login()
    assert p.cmd("QUIT").startswith("+OK")


def test_stls_junk_in_separate_packet_breaks_handshake(srv, test_ca):
    """Clear bytes that arrive after the +OK are part of the TLS stream: the
    handshake fails and the server stays up."""
    p = Pop(srv.port)
    assert p.cmd("STLS").startswith("+OK")
    p.send(b"CAPA\r\n")
    with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
        p.wrap(client_ctx(test_ca["ca"]))
    p.close()
    wait_log(srv, r"TLS handshake failed: rip=127\.0\.0\.1")
    q = connect(srv, test_ca, "stls")
    q.login()
    q.cmd("QUIT")


def test_stls_unavailable_when_ssl_off(server_factory, test_ca):
    s = tls_server(server_factory, test_ca, extra_conf="ssl = off\n")
    # ssl = off: no TLS at all, so no TLS listener either
    s.write_conf(open(s.conf).read().replace(f"listen_tls = 127.0.0.1:{s.tls_port}\n", ""))
    s.start()
    p = Pop(s.port)
    assert "STLS" not in p.capa()
    assert p.cmd("STLS").startswith("-ERR")
    p.login()
    p.cmd("QUIT")


# ---- SNI ----

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("maxv", [TLS12, TLS13])
def test_sni(srv, test_ca, mode, maxv):
    for name, want in [("other.test", "other.test"), ("OTHER.TEST", "other.test"),
                       ("mail.test", "mail.test"), ("unknown.test", "mail.test"),
                       (None, "mail.test")]:
        verify = name is not None and name.lower() == want
        ctx = client_ctx(test_ca["ca"], check_hostname=verify, maxv=maxv)
        p = connect(srv, test_ca, mode, name=name, ctx=ctx)
        assert p.sock.getpeercert(binary_form=True) == cert_der(test_ca[want][0]), name
        if name == "other.test":
            p.login()
            assert p.retr(1).replace(b"\r\n", b"\n") == MESSAGE
            p.cmd("QUIT")
        p.close()


def test_sni_session_resumption(srv, test_ca):
    """Resumption also works for the SNI certificate's name (TLS 1.3: TLS
    1.2 gets no tickets, see test_no_tls12_ticket)."""
    ctx = client_ctx(test_ca["ca"], maxv=TLS13)
    p = Pop(srv.tls_port, tls_ctx=ctx, server_hostname="other.test")
    p.capa()
    sess = p.sock.session
    p.cmd("QUIT")
    p.close()
    s = socket.create_connection(("127.0.0.1", srv.tls_port), timeout=10)
    s = ctx.wrap_socket(s, server_hostname="other.test", session=sess)
    assert s.session_reused
    assert s.recv(100).startswith(b"+OK")
    s.close()


# ---- session resumption and close_notify ----

def test_session_resumption(srv, test_ca):
    ctx = client_ctx(test_ca["ca"], maxv=TLS13)
    p = Pop(srv.tls_port, tls_ctx=ctx)
    p.capa()                                  # TLS 1.3 tickets arrive after the handshake
    sess = p.sock.session
    assert p.cmd("QUIT").startswith("+OK")
    p.close()
    assert sess is not None and sess.has_ticket
    s = socket.create_connection(("127.0.0.1", srv.tls_port), timeout=10)
    s = ctx.wrap_socket(s, server_hostname="mail.test", session=sess)
    assert s.session_reused, "the session was not resumed"
    s.close()


@pytest.mark.parametrize("name", ["mail.test", "other.test"])
def test_no_tls12_ticket(srv, test_ca, name):
    """A TLS 1.2 ticket would carry the session's master secret under a key
    every pre-auth process holds: none is issued, so a TLS 1.2 session is
    never resumed (TLS 1.3 resumption stays, test_session_resumption)."""
    ctx = client_ctx(test_ca["ca"], maxv=TLS12)
    p = Pop(srv.tls_port, tls_ctx=ctx, server_hostname=name)
    assert p.sock.version() == "TLSv1.2"
    p.capa()
    sess = p.sock.session
    assert p.cmd("QUIT").startswith("+OK")
    p.close()
    assert sess is not None and not sess.has_ticket
    s = socket.create_connection(("127.0.0.1", srv.tls_port), timeout=10)
    s = ctx.wrap_socket(s, server_hostname=name, session=sess)
    assert not s.session_reused
    assert s.recv(100).startswith(b"+OK")
    s.close()


def test_ticket_not_accepted_after_reload(server_factory, test_ca):
    """The ticket key is made anew with each load of the certificates: a
    reload (SIGHUP) retires the tickets issued under the old key."""
    s = tls_server(server_factory, test_ca).start()
    ctx = client_ctx(test_ca["ca"], maxv=TLS13)
    p = Pop(s.tls_port, tls_ctx=ctx)
    p.capa()
    sess = p.sock.session
    p.cmd("QUIT")
    p.close()
    assert sess.has_ticket
    c = ctx.wrap_socket(socket.create_connection(("127.0.0.1", s.tls_port), timeout=10),
                        server_hostname="mail.test", session=sess)
    assert c.session_reused
    c.close()
    sighup(s, r"configuration reloaded")
    c = ctx.wrap_socket(socket.create_connection(("127.0.0.1", s.tls_port), timeout=10),
                        server_hostname="mail.test", session=sess)
    assert not c.session_reused
    assert c.recv(100).startswith(b"+OK")
    c.close()


@pytest.mark.parametrize("login", [False, True])
def test_close_notify_after_quit(srv, test_ca, login):
    ctx = client_ctx(test_ca["ca"])
    raw = socket.create_connection(("127.0.0.1", srv.tls_port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname="mail.test", suppress_ragged_eofs=False)
    f = s.makefile("rb")
    assert f.readline().startswith(b"+OK")
    if login:
        s.sendall(f"USER ptalice\r\nPASS {PASSWORD}\r\n".encode())
        assert f.readline().startswith(b"+OK")
        assert f.readline().startswith(b"+OK")
    s.sendall(b"QUIT\r\n")
    assert f.readline().startswith(b"+OK")
    # a clean TLS end: close_notify, not a bare TCP close
    assert s.recv(100) == b""
    s.close()


@pytest.mark.parametrize("mode", MODES)
def test_pipelined_login_and_commands_in_one_record(srv, test_ca, mode):
    """Commands pipelined behind PASS in the same TLS record reach the mail
    process (the pre-auth process hands its buffered input over)."""
    p = connect(srv, test_ca, mode)
    p.send(f"USER ptalice\r\nPASS {PASSWORD}\r\nSTAT\r\nLIST\r\nRETR 1\r\n"
           f"NOOP\r\nQUIT\r\n".encode())
    assert p.line().startswith("+OK")
    assert p.line().startswith("+OK")
    assert p.line().startswith("+OK 1 ")
    assert p.line().startswith("+OK")
    assert len(p.multi()) == 1
    assert p.line().startswith("+OK")
    assert p.multi_raw().replace(b"\r\n", b"\n") == MESSAGE
    assert p.line().startswith("+OK")
    assert p.line().startswith("+OK")
    assert p.closed_by_server()


def test_no_tls_configured(server):
    """Without certificates there is no STLS to offer."""
    p = Pop(server.port)
    assert "STLS" not in p.capa()
    assert p.cmd("STLS").startswith("-ERR")
    p.login()
    p.cmd("QUIT")


# ---- the login log line ----

def test_login_log_lines(srv, test_ca):
    p = connect(srv, test_ca, "implicit")
    p.login()
    p.cmd("QUIT")
    wait_log(srv, r"login: user=<ptalice> rip=127\.0\.0\.1 lport=\d+ "
                  r"tls=TLSv1\.3/TLS_AES_256_GCM_SHA384 method=USER")
    p = connect(srv, test_ca, "stls", maxv=TLS12)
    p.login()
    p.cmd("QUIT")
    wait_log(srv, r"login: user=<ptalice> rip=127\.0\.0\.1 lport=\d+ "
                  r"tls=TLSv1\.2/ECDHE-ECDSA-AES256-GCM-SHA384 method=USER")
    p = Pop(srv.port)
    p.login()
    p.cmd("QUIT")
    wait_log(srv, r"login: user=<ptalice> rip=127\.0\.0\.1 lport=\d+ tls=plaintext method=USER")


# ---- a client that vanishes mid-session ----

@pytest.mark.parametrize("how", ["tcp-close", "tcp-reset", "close-notify"])
@pytest.mark.parametrize("mode", MODES)
def test_vanish_after_dele_deletes_nothing(srv, test_ca, mode, how):
    srv.maildirs["ptalice"].add(b"Subject: two\n\nsecond\n")
    before = srv.maildirs["ptalice"].contents()
    p = connect(srv, test_ca, mode)
    p.login()
    assert p.cmd("DELE 1").startswith("+OK")
    assert p.cmd("DELE 2").startswith("+OK")
    assert p.cmd("STAT").startswith("+OK 0 0")
    if how == "close-notify":
        p.sock.unwrap().close()
    elif how == "tcp-reset":
        p.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        p.sock.close()
    else:
        p.sock.close()
    sessions_gone(srv)
    assert srv.maildirs["ptalice"].contents() == before
    q = connect(srv, test_ca, mode)
    q.login()
    assert q.cmd("STAT").startswith("+OK 2 ")
    q.cmd("QUIT")


def test_quit_after_dele_over_tls_deletes(srv, test_ca):
    """The control for the test above: with QUIT the deletion happens."""
    p = connect(srv, test_ca, "implicit")
    p.login()
    assert p.cmd("DELE 1").startswith("+OK")
    assert p.cmd("QUIT").startswith("+OK")
    sessions_gone(srv)
    assert srv.maildirs["ptalice"].contents() == []


# ---- certificate reload (SIGHUP) ----

def reload_server(server_factory, test_ca):
    """A server whose certificate and key are copies it may overwrite."""
    s = server_factory()
    d = os.path.join(s.tmp, "tls")
    os.makedirs(d)
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    shutil.copy(test_ca["mail.test"][0], cert)
    shutil.copy(test_ca["mail.test"][1], key)
    os.chmod(key, 0o600)
    s.tls_port = conftest.free_port(s.port)
    s.write_conf(open(s.conf).read() + f"listen_tls = 127.0.0.1:{s.tls_port}\n"
                 f"ssl_cert = {cert}\nssl_key = {key}\n")
    s.cert, s.key, s.certdir = cert, key, d
    s.start()
    s.maildirs["ptalice"].add(MESSAGE)
    s.maildirs["ptbob"].add(MESSAGE)
    return s


def peer_der(s, test_ca, mode="implicit"):
    p = connect(s, test_ca, mode)
    der = p.sock.getpeercert(binary_form=True)
    p.login("ptcarol")
    assert p.cmd("QUIT").startswith("+OK")
    p.close()
    return der


def sighup(s, expect, timeout=10):
    start = len(s.logtext())
    s.proc.send_signal(signal.SIGHUP)
    return wait_log(s, expect, timeout, start=start)


def test_reload_certificate_keeps_live_sessions(server_factory, test_ca):
    s = reload_server(server_factory, test_ca)
    old = cert_der(s.cert)
    assert peer_der(s, test_ca) == old
    # live sessions: one logged in (relaying), one still in AUTHORIZATION
    live = connect(s, test_ca, "implicit")
    live.login()
    assert live.retr(1).replace(b"\r\n", b"\n") == MESSAGE
    pre = connect(s, test_ca, "stls")
    newcert, newkey = make_cert(test_ca, "mail.test", s.certdir)
    shutil.copy(newcert, s.cert)
    shutil.copy(newkey, s.key)
    sighup(s, r"configuration reloaded")
    assert s.proc.poll() is None
    new = cert_der(s.cert)
    assert new != old
    # the live sessions go on as if nothing happened
    assert live.retr(1).replace(b"\r\n", b"\n") == MESSAGE
    assert live.cmd("NOOP").startswith("+OK")
    assert live.cmd("QUIT").startswith("+OK")
    assert pre.sock.getpeercert(binary_form=True) == old
    pre.login("ptbob")
    assert pre.retr(1).replace(b"\r\n", b"\n") == MESSAGE
    assert pre.cmd("QUIT").startswith("+OK")
    # new connections get the new certificate, by both routes
    assert peer_der(s, test_ca, "implicit") == new
    assert peer_der(s, test_ca, "stls") == new


@pytest.mark.parametrize("breakage", ["garbage", "mismatch", "missing", "empty", "cert-garbage"])
def test_reload_with_broken_key_keeps_old_certificate(server_factory, test_ca, breakage):
    s = reload_server(server_factory, test_ca)
    old = cert_der(s.cert)
    live = connect(s, test_ca, "implicit")
    live.login()
    if breakage == "garbage":
        open(s.key, "w").write("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    elif breakage == "mismatch":
        shutil.copy(test_ca["other.test"][1], s.key)
    elif breakage == "missing":
        os.unlink(s.key)
    elif breakage == "empty":
        open(s.key, "w").close()
    else:
        open(s.cert, "w").write("garbage\n")
    sighup(s, r"reload failed")
    text = s.logtext()
    assert "reload failed" in text, text
    assert s.key in text or s.cert in text or "does not match" in text, text
    assert s.proc.poll() is None
    # old certificate still served; logins work; the live session too
    assert peer_der(s, test_ca) == old
    assert live.retr(1).replace(b"\r\n", b"\n") == MESSAGE
    assert live.cmd("QUIT").startswith("+OK")
    # repaired files are picked up by the next reload
    newcert, newkey = make_cert(test_ca, "mail.test", s.certdir)
    shutil.copy(newkey, s.key)
    shutil.copy(newcert, s.cert)
    sighup(s, r"configuration reloaded")
    assert peer_der(s, test_ca) == cert_der(newcert)


def test_reload_adds_sni_certificate(server_factory, test_ca):
    """A config change on SIGHUP: a second certificate pair becomes
    available by SNI without a restart."""
    s = reload_server(server_factory, test_ca)
    ctx = client_ctx(test_ca["ca"], check_hostname=False)
    p = connect(s, test_ca, "implicit", name="other.test", ctx=ctx)
    assert p.sock.getpeercert(binary_form=True) == cert_der(test_ca["mail.test"][0])
    p.close()
    cert, key = test_ca["other.test"]
    s.write_conf(open(s.conf).read() + f"ssl_cert = {cert}\nssl_key = {key}\n")
    sighup(s, r"configuration reloaded")
    p = connect(s, test_ca, "implicit", name="other.test")
    assert p.sock.getpeercert(binary_form=True) == cert_der(cert)
    p.close()


# ---- bad keys at startup ----

def bad_key_conf(server_factory, test_ca, breakage):
    s = server_factory(tls=[test_ca["mail.test"]])
    d = os.path.join(s.tmp, "bad")
    os.makedirs(d)
    cert, key = test_ca["mail.test"]
    if breakage == "garbage":
        key = os.path.join(d, "key.pem")
        open(key, "w").write("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")
    elif breakage == "missing":
        key = os.path.join(d, "nonexistent.key")
    elif breakage == "directory":
        key = d
    elif breakage == "mismatch":
        key = test_ca["other.test"][1]
    elif breakage == "cert-missing":
        cert = os.path.join(d, "nonexistent.pem")
    elif breakage == "too-big":
        # A valid key after 70 KB of text: over the 64 KiB a key file may be.
        key = os.path.join(d, "key.pem")
        open(key, "w").write("# padding\n" * 7000 + open(test_ca["mail.test"][1]).read())
    conf = open(s.conf).read().replace(f"ssl_key = {test_ca['mail.test'][1]}",
                                       f"ssl_key = {key}")
    conf = conf.replace(f"ssl_cert = {test_ca['mail.test'][0]}", f"ssl_cert = {cert}")
    s.write_conf(conf)
    return s, cert, key


BREAKAGES = ["garbage", "missing", "directory", "mismatch", "cert-missing", "too-big"]


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_bad_key_check_mode(server_factory, test_ca, breakage):
    s, cert, key = bad_key_conf(server_factory, test_ca, breakage)
    r = subprocess.run([conftest.POSTERN, "-t", "-f", s.conf], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("postern: TLS: "), r.stderr
    if breakage == "mismatch":
        assert key in r.stderr and "mismatch" in r.stderr, r.stderr
    elif breakage == "cert-missing":
        assert cert in r.stderr
    else:
        assert key in r.stderr, r.stderr
    assert len(r.stderr.splitlines()) == 1


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_bad_key_daemon_start(server_factory, test_ca, breakage):
    s, cert, key = bad_key_conf(server_factory, test_ca, breakage)
    r = subprocess.run([conftest.POSTERN, "-f", s.conf, "-d"], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 1, (r.returncode, r.stderr)     # an exit, not a crash
    assert "TLS: ssl_" in r.stderr, r.stderr
    assert (cert if breakage == "cert-missing" else key) in r.stderr, r.stderr
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", s.port), timeout=2).close()
    # inetd mode: the same clear error, exit 1
    a, b = socket.socketpair()
    try:
        r = subprocess.run([conftest.POSTERN, "-f", s.conf, "-d", "-i", "-S"],
                           stdin=b.fileno(), stdout=b.fileno(), stderr=subprocess.PIPE,
                           text=True, timeout=20)
    finally:
        a.close()
        b.close()
    assert r.returncode == 1 and "TLS: ssl_" in r.stderr, r.stderr


# ---- stalled TLS clients: every wait is bounded ----

def raw_send(pop, data):
    """Bytes straight onto the TCP socket under a TLS session."""
    r = socket.socket(fileno=os.dup(pop.sock.fileno()))
    try:
        r.sendall(data)
    finally:
        r.close()


PARTIAL_RECORD = b"\x17\x03\x03\x00\x40" + b"x" * 10    # header says 64 bytes, 10 follow


def test_partial_tls_record_before_login_times_out(server_factory, test_ca):
    """A client that sends half a TLS record after the handshake cannot hold
    the pre-auth process past login_timeout."""
    s = tls_server(server_factory, test_ca, extra_conf="login_timeout = 2s\n").start()
    for mode in MODES:
        p = connect(s, test_ca, mode)
        raw_send(p, PARTIAL_RECORD)
        t0 = time.time()
        assert p.closed_by_server(10), f"{mode}: still open 10 s after a 2 s login_timeout"
        assert time.time() - t0 < 6
        p.close()
    sessions_gone(s)


def test_partial_tls_record_after_login_times_out(server_factory, test_ca):
    """The same after login: the mail process times out, and the TLS relay
    must not stay blocked in a read of a record that never completes."""
    s = tls_server(server_factory, test_ca, extra_conf="timeout = 2s\n").start()
    s.maildirs["ptalice"].add(MESSAGE)
    p = connect(s, test_ca, "implicit")
    p.login()
    raw_send(p, PARTIAL_RECORD)
    assert p.closed_by_server(12), "TLS relay still open 12 s after a 2 s timeout"
    p.close()
    sessions_gone(s)
    wait_log(s, r"logout: user=<ptalice> .*reason=timeout")
    assert "killed by signal" not in s.logtext()
    assert s.maildirs["ptalice"].contents() == [MESSAGE]


def test_client_that_stops_reading_is_dropped(server_factory, test_ca):
    """RETR of a large message to a client that never reads: the mail
    process and the TLS relay both give up after `timeout`."""
    s = tls_server(server_factory, test_ca, extra_conf="timeout = 2s\n").start()
    s.maildirs["ptalice"].add(b"Subject: big\n\n" + (b"y" * 999 + b"\n") * 40000)
    p = connect(s, test_ca, "implicit")
    p.login()
    p.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    p.send(b"RETR 1\r\n")
    time.sleep(1)
    sessions_gone(s, timeout=20)
    p.close()
    wait_log(s, r"logout: user=<ptalice> ")
    assert "killed by signal" not in s.logtext()


def test_slow_reader_of_a_long_retr_is_not_idle_over_tls(server_factory, test_ca):
    """As test_hostile's plaintext test, through the TLS relay, which keeps
    little unsent data of its own (TCP_NOTSENT_LOWAT) so what waits stays
    where the mail process sees it move; timeout = 2s for the part it
    cannot see (the relay's one record buffer and the client's socket)."""
    s = tls_server(server_factory, test_ca, extra_conf="timeout = 2s\n").start()
    s.maildirs["ptalice"].add(b"Subject: big\n\n" + (b"y" * 99 + b"\n") * 30000)
    p = connect(s, test_ca, "implicit")
    try:
        p.login()
        body = slow_retr(p)
        assert body.startswith(b"+OK ") and len(body) > 3000000
        assert p.buf == b"", p.buf
        assert p.cmd("DELE 1").startswith("+OK")
        assert p.cmd("QUIT").startswith("+OK")
    finally:
        p.close()
    wait_for(lambda: s.maildirs["ptalice"].files() == [], 5, "the message deleted")


@pytest.mark.parametrize("mode", ["plain", "implicit", "stls"])
def test_a_long_pipeline_through_the_relay_does_not_deadlock(server_factory, test_ca, mode):
    """60000 pipelined LISTs (360 KB, more than the socket between the
    relay and the mail process holds), sent while the replies (about 30 MB)
    are read as they come: the relay must keep taking the mail process's
    output while that process is not reading, and stop reading the client
    while it has input the mail process has not taken, or each waits on the
    other until the timeout ends the session.  One thread, non-blocking
    (an SSL object is not for two threads at once); plain, without the
    relay, for comparison."""
    s = tls_server(server_factory, test_ca, extra_conf="timeout = 5s\n").start()
    for i in range(50):
        s.maildirs["ptalice"].add(b"Subject: %d\n\nbody\n" % i)
    p = Pop(s.port) if mode == "plain" else connect(s, test_ca, mode)
    n = 60000
    try:
        p.login()
        got = bytearray(p.buf)
        p.buf = b""
        out = memoryview(b"LIST\r\n" * n)
        p.sock.setblocking(False)
        ends = 0
        deadline = time.time() + 60
        while ends < n and time.time() < deadline:
            select.select([p.sock], [p.sock] if out else [], [], 1)
            if out:
                try:
                    out = out[p.sock.send(out[:16384]):]
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                    pass
            while True:
                try:
                    d = p.sock.recv(1 << 16)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                    break
                assert d, "closed after %d bytes" % len(got)
                # a terminator may straddle two reads, never the old data
                start = max(0, len(got) - 4)
                got.extend(d)
                ends += got.count(b"\r\n.\r\n", start)
        assert not out, "%d bytes of the pipeline not sent" % len(out)
        assert got.count(b"\r\n.\r\n") == n, len(got)
        assert got.startswith(b"+OK 50 messages")
        p.sock.setblocking(True)
        p.sock.settimeout(10)
        assert p.cmd("QUIT").startswith("+OK")
    finally:
        p.close()
    assert "reason=quit" in s.logtext() or wait_log(s, r"reason=quit")


@pytest.mark.parametrize("state", ["authorization", "transaction"])
def test_input_behind_quit_over_tls_ends_with_close_notify(server_factory, test_ca, state):
    """As test_hostile's plaintext test, over implicit TLS: after login
    the extra input goes through the relay to the mail process, which
    shuts its socket to the relay; the relay then sends close_notify and
    drains the client's socket, so the end is clean, not a reset."""
    s = tls_server(server_factory, test_ca).start()
    s.maildirs["ptalice"].add(b"Subject: x\n\nhi\n")
    p = connect(s, test_ca, "implicit")
    try:
        if state == "transaction":
            p.login()
            assert p.cmd("DELE 1").startswith("+OK")
        p.send(b"QUIT\r\n" + b"x" * 65536)
        p.sock.settimeout(10)
        data, end = p.buf, None
        while end is None:
            try:
                d = p.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError) as e:
                end = repr(e)
                break
            if not d:
                end = "close_notify"
            data += d
    finally:
        p.close()
    assert data.startswith(b"+OK"), data[:200]
    assert end == "close_notify"
    if state == "transaction":
        wait_for(lambda: s.maildirs["ptalice"].files() == [], 5, "the message deleted")
    sessions_gone(s, timeout=5)


def test_over_the_limit_on_the_tls_port_is_closed_without_plaintext(server_factory, test_ca):
    """A plaintext -ERR on port 995 would be a TLS error to the client:
    over a limit, the implicit-TLS port just closes."""
    s = tls_server(server_factory, test_ca, extra_conf="max_sessions = 1\n").start()
    wait_for(lambda: s.children() == [], 5, "the start-up probe to end")
    held = Pop(s.port)
    try:
        assert held.greeting.startswith("+OK")
        # logged in: a session that has not could be closed to admit
        # another (max_preauth_sessions)
        held.login()
        raw = socket.create_connection(("127.0.0.1", s.tls_port), timeout=10)
        try:
            assert raw.recv(100) == b""
        finally:
            raw.close()
        plain = Pop(s.port)
        try:
            assert plain.greeting.startswith("-ERR [SYS/TEMP] too many connections")
        finally:
            plain.close()
    finally:
        held.close()


# ---- the TLS keys never reach a mail process ----

def key_needles(key_path):
    """Byte strings that give the private key away: its scalar (as bytes
    and as OpenSSL keeps a BIGNUM on this machine, least significant limb
    first), the start of its DER and a base64 line of its PEM."""
    import base64
    import re
    txt = subprocess.run(["openssl", "pkey", "-in", key_path, "-text", "-noout"],
                         capture_output=True, text=True, check=True).stdout
    def number(label):
        hexval = re.search(label + r":\s*\n((?:\s+[0-9a-f:]+\n)+)", txt).group(1)
        return bytes.fromhex(re.sub(r"[\s:]", "", hexval)).lstrip(b"\0")
    pem = open(key_path).read().splitlines()
    der = base64.b64decode("".join(l for l in pem if not l.startswith("-----")))
    out = {"der": der[:48], "pem": pem[1].encode()}
    # RSA: the primes (either gives the key away with the public modulus)
    # and the private exponent; EC: the private scalar.
    for name, label in ([("p", "prime1"), ("q", "prime2"), ("d", "privateExponent")]
                        if "prime1:" in txt else [("scalar", "priv")]):
        out[name] = number(label)
        out[name + "-limbs"] = out[name][::-1]
    return out


def memory_hits(pid, needles):
    """Which needles occur anywhere in the readable memory of pid."""
    from pop3util import memory_regions
    hits = set()
    for data in memory_regions(pid):
        hits |= {k for k, n in needles.items() if n in data}
    return hits


@pytest.mark.memory_scan
@pytest.mark.parametrize("mode", ["plain", "stls", "implicit"])
def test_mail_process_holds_no_tls_key(srv, test_ca, mode):
    from pop3util import procs_by_uid, user_uid, status
    needles = key_needles(test_ca["mail.test"][1])
    p = Pop(srv.port) if mode == "plain" else connect(srv, test_ca, mode)
    p.login()
    assert p.cmd("STAT").startswith("+OK 1 ")
    mail = procs_by_uid(srv, user_uid("ptalice"))
    assert len(mail) == 1
    # The mail process is the session's monitor after its privilege drop:
    # a child of the master, which still holds the key.
    assert int(status(mail[0])["PPid"]) == srv.proc.pid
    # The search works: the master (root) has the key...
    assert memory_hits(srv.proc.pid, needles) >= {"scalar-limbs"}
    # ...and the mail process, run as the user, has none of it.
    assert memory_hits(mail[0], needles) == set()
    assert p.cmd("QUIT").startswith("+OK")
    p.close()


@pytest.mark.memory_scan
@pytest.mark.parametrize("mode", ["plain", "implicit"])
def test_mail_process_holds_no_rsa_primes(server_factory, test_ca, tmp_path, mode):
    """An RSA signature caches Montgomery contexts of p and q in the
    ordinary heap, out of reach of tls_keys_discard: the master's warm-up
    handshake must not sign with the real key, or every mail process
    inherits the primes."""
    from pop3util import procs_by_uid, user_uid
    pair = make_cert(test_ca, "mail.test", str(tmp_path), tag="rsa", rsa=True)
    needles = key_needles(pair[1])
    s = server_factory(tls=[pair]).start()
    s.maildirs["ptalice"].add(MESSAGE)
    # a handshake (in the pre-auth process) signs with the key
    p = Pop(s.port) if mode == "plain" else connect(s, test_ca, mode)
    p.login()
    assert p.cmd("STAT").startswith("+OK 1 ")
    mail = procs_by_uid(s, user_uid("ptalice"))
    assert len(mail) == 1
    # The master holds the key (in its secure heap)...
    assert memory_hits(s.proc.pid, needles) >= {"p-limbs", "q-limbs", "d-limbs"}
    # ...the mail process none of it.
    assert memory_hits(mail[0], needles) == set()
    assert p.cmd("QUIT").startswith("+OK")
    p.close()
