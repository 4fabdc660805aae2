"""Authentication: the plaintext policy (ssl, plaintext_auth, the
loopback_is_local setting), APOP, AUTH PLAIN / LOGIN (RFC 5034) and
SCRAM-SHA-256 / SCRAM-SHA-256-PLUS (RFC 5802, 7677, channel binding with
tls-exporter, RFC 9266: on TLS 1.3, and on TLS 1.2 with the extended master
secret)."""
import base64
import hashlib
import os
import pwd
import queue
import re
import subprocess
import threading

import pytest

import conftest
import realclients
from realclients import TLS
from tlsutil import (MESSAGE, PASSWORD, Pop, ScramClient, b64, cert_der, client_ctx, lf,
                     scram_auth, scram_keys, sessions_gone, set_password_field, tls_server,
                     wait_log)

TLS12 = __import__("ssl").TLSVersion.TLSv1_2
# SSL_OP_NO_EXTENDED_MASTER_SECRET (OpenSSL 3; the ssl module has no name for it)
OP_NO_EMS = 0x1
AUTH_FAILED = "-ERR [AUTH] authentication failed"


def plain_ir(user="ptalice", password=PASSWORD, authz=""):
    return b64(f"{authz}\0{user}\0{password}".encode())


def mk(server_factory, test_ca, extra=""):
    # Every mechanism, SCRAM too (auth_mechanisms leaves it out by default).
    s = tls_server(server_factory, test_ca, extra_conf="max_login_commands = 100\n"
                   "auth_mechanisms = plain login scram-sha-256 scram-sha-256-plus\n" + extra)
    s.start()
    s.maildirs["ptalice"].add(MESSAGE)
    return s


@pytest.fixture
def srv(server_factory, test_ca):
    return mk(server_factory, test_ca)


@pytest.fixture
def remote(server_factory, test_ca):
    """Loopback clients count as remote for the plaintext policy."""
    return mk(server_factory, test_ca, "loopback_is_local = no\n")


def tls(p, test_ca, **kw):
    p.stls(client_ctx(test_ca["ca"], **kw))
    return p


def sasl_line(capa):
    """The SASL mechanisms in a CAPA answer ([] when there is no SASL line)."""
    found = [l for l in capa if l.split()[0] == "SASL"]
    assert len(found) <= 1, capa
    return found[0].split()[1:] if found else []


def auth_list(p):
    r = p.cmd("AUTH")
    assert r.startswith("+OK"), r
    return p.multi()


def logged_in(p):
    r = p.cmd("STAT")
    assert r.startswith("+OK 1 "), r
    assert lf(p.retr(1)) == MESSAGE
    assert p.cmd("QUIT").startswith("+OK")


def assert_tls_refusal(r):
    assert r.startswith("-ERR [AUTH] "), r
    assert "TLS" in r or "STLS" in r, r


# ---- plaintext policy ----

def test_loopback_plaintext_allowed_by_default(srv):
    p = Pop(srv.port)
    capa = p.capa()
    assert "USER" in capa and "STLS" in capa
    assert sasl_line(capa) == ["PLAIN", "LOGIN", "SCRAM-SHA-256"]
    p.login()
    logged_in(p)
    wait_log(srv, r"login: user=<ptalice> .* tls=plaintext method=USER")


def test_remote_plaintext_capa(remote):
    p = Pop(remote.port)
    capa = p.capa()
    assert "USER" not in capa
    assert "STLS" in capa
    assert sasl_line(capa) == ["SCRAM-SHA-256"]
    assert auth_list(p) == ["SCRAM-SHA-256"]
    p.cmd("QUIT")


def test_remote_plaintext_logins_refused(remote):
    p = Pop(remote.port)
    assert_tls_refusal(p.cmd("USER ptalice"))
    assert_tls_refusal(p.cmd("PASS " + PASSWORD))
    assert_tls_refusal(p.cmd("AUTH PLAIN " + plain_ir()))
    assert_tls_refusal(p.cmd("AUTH PLAIN"))        # no continuation offered
    assert_tls_refusal(p.cmd("AUTH LOGIN"))
    assert_tls_refusal(p.cmd("auth login " + b64(b"ptalice")))
    # the refusals are not counted as failed logins (no lockout), nothing
    # was checked and nobody logged in
    assert p.capa()
    assert p.cmd("QUIT").startswith("+OK")
    sessions_gone(remote)
    text = remote.logtext()
    assert "login:" not in text and PASSWORD not in text


def test_refusal_names_the_real_implicit_tls_port(remote):
    """The refusal names the port listen_tls really is, not 995."""
    assert remote.tls_port != 995
    r = Pop(remote.port).cmd("USER ptalice")
    assert r == ("-ERR [AUTH] plaintext authentication is not allowed on this "
                 f"connection; use STLS or port {remote.tls_port} (TLS) first"), r


def test_refusal_without_implicit_tls_names_stls_only(server_factory, test_ca):
    """No listen_tls: only STLS is named, no port."""
    s = mk(server_factory, test_ca, "loopback_is_local = no\nlisten_tls =\n")
    r = Pop(s.port).cmd("USER ptalice")
    assert r == ("-ERR [AUTH] plaintext authentication is not allowed on this "
                 "connection; use STLS first"), r


def test_refusal_with_ssl_off_names_no_way_to_tls(server_factory):
    """ssl = off: there is no TLS to point to."""
    s = server_factory(extra_conf="loopback_is_local = no\nssl = off\n").start()
    r = Pop(s.port).cmd("USER ptalice")
    assert r == "-ERR [AUTH] plaintext authentication is not allowed on this connection", r


@pytest.mark.parametrize("method", ["USER", "PLAIN", "PLAIN-continuation", "LOGIN"])
def test_remote_logins_work_after_stls(remote, test_ca, method):
    p = Pop(remote.port)
    assert_tls_refusal(p.cmd("USER ptalice"))
    tls(p, test_ca)
    capa = p.capa()
    assert "USER" in capa and "STLS" not in capa
    assert sasl_line(capa) == ["PLAIN", "LOGIN", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"]
    if method == "USER":
        p.login()
    elif method == "PLAIN":
        assert p.cmd("AUTH PLAIN " + plain_ir()).startswith("+OK")
    elif method == "PLAIN-continuation":
        assert p.cmd("AUTH PLAIN").rstrip() == "+"
        assert p.cmd(plain_ir()).startswith("+OK")
    else:
        assert p.cmd("AUTH LOGIN") == "+ VXNlcm5hbWU6"
        assert p.cmd(b64(b"ptalice")) == "+ UGFzc3dvcmQ6"
        assert p.cmd(b64(PASSWORD.encode())).startswith("+OK")
    logged_in(p)
    wait_log(remote, r"login: user=<ptalice> rip=127\.0\.0\.1 .*tls=TLSv1\.3/")


def test_remote_implicit_tls_allows_plaintext_mechanisms(remote, test_ca):
    p = Pop(remote.tls_port, tls_ctx=client_ctx(test_ca["ca"]))
    assert "USER" in p.capa()
    assert p.cmd("AUTH PLAIN " + plain_ir()).startswith("+OK")
    logged_in(p)


def test_plaintext_auth_always(server_factory, test_ca):
    s = mk(server_factory, test_ca, "loopback_is_local = no\nplaintext_auth = always\n")
    p = Pop(s.port)
    capa = p.capa()
    assert "USER" in capa
    assert sasl_line(capa) == ["PLAIN", "LOGIN", "SCRAM-SHA-256"]
    p.login()
    logged_in(p)
    p = Pop(s.port)
    assert p.cmd("AUTH PLAIN " + plain_ir()).startswith("+OK")
    logged_in(p)
    wait_log(s, r"login: user=<ptalice> .* tls=plaintext method=PLAIN")


@pytest.mark.parametrize("extra", ["", "plaintext_auth = always\n"])
def test_ssl_required_refuses_plaintext_even_on_loopback(server_factory, test_ca, extra):
    s = mk(server_factory, test_ca, "ssl = required\n" + extra)
    p = Pop(s.port)
    capa = p.capa()
    assert "USER" not in capa and "STLS" in capa
    # nothing logs in before TLS, not even SCRAM (no password on the wire,
    # but ssl = required means what it says)
    assert sasl_line(capa) == []
    assert auth_list(p) == []
    assert_tls_refusal(p.cmd("USER ptalice"))
    assert_tls_refusal(p.cmd("AUTH PLAIN " + plain_ir()))
    assert_tls_refusal(p.cmd("AUTH LOGIN"))
    assert_tls_refusal(p.cmd("AUTH SCRAM-SHA-256 " + b64(ScramClient("ptalice", PASSWORD).first())))
    tls(p, test_ca)
    assert sasl_line(p.capa()) == ["PLAIN", "LOGIN", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"]
    p.login()
    logged_in(p)


# ---- APOP ----

def apop_user(s, name="apopuser", secret="apop secret"):
    """A user with a {PLAIN} secret sharing ptcarol's mailbox."""
    pw = pwd.getpwnam("ptcarol")
    s.add_user_line(f"{name}:{{PLAIN}}{secret}:{pw.pw_uid}:{pw.pw_gid}::"
                    f"{os.path.join(s.home, 'ptcarol')}::")
    s.maildirs["ptcarol"].add(MESSAGE)
    return name, secret


def apop_digest(greeting, secret):
    ts = re.search(r"<[^>]+>", greeting).group(0)
    return hashlib.md5((ts + secret).encode()).hexdigest()


def test_apop_off_by_default(srv):
    name, secret = apop_user(srv)
    p = Pop(srv.port)
    assert "<" not in p.greeting
    r = p.cmd(f"APOP {name} {hashlib.md5(secret.encode()).hexdigest()}")
    assert r.startswith("-ERR"), r
    assert "APOP" not in p.capa()
    p.cmd("QUIT")


@pytest.mark.parametrize("mode", ["plain", "implicit"])
def test_apop_enabled(server_factory, test_ca, mode):
    s = mk(server_factory, test_ca, "apop = yes\n")
    name, secret = apop_user(s)
    ctx = client_ctx(test_ca["ca"])
    p = Pop(s.port) if mode == "plain" else Pop(s.tls_port, tls_ctx=ctx)
    assert re.fullmatch(r"\+OK .*<[^<>@\s]+@[^<>\s]+>", p.greeting), p.greeting
    # wrong digest, and a crypt-hash user (APOP needs a {PLAIN} secret)
    assert p.cmd(f"APOP {name} {apop_digest(p.greeting, 'wrong')}") == AUTH_FAILED
    assert p.cmd(f"APOP ptalice {apop_digest(p.greeting, PASSWORD)}") == AUTH_FAILED
    # the log says why (issue 13 finding 10)
    wait_log(s, r"auth failed: user=<ptalice> .* method=APOP .*"
                r"reason=no \{PLAIN\} secret for APOP")
    r = p.cmd(f"APOP {name} {apop_digest(p.greeting, secret)}")
    assert r.startswith("+OK"), r
    assert p.cmd("STAT").startswith("+OK 1 ")
    assert lf(p.retr(1)) == MESSAGE
    p.cmd("QUIT")
    wait_log(s, rf"login: user=<{name}> .* method=APOP")
    # each connection has its own timestamp
    q = Pop(s.port)
    assert re.search(r"<[^>]+>", q.greeting).group(0) != re.search(r"<[^>]+>", p.greeting).group(0)
    q.close()


# ---- AUTH (RFC 5034): listing, PLAIN, LOGIN ----

def test_auth_without_argument_lists_mechanisms(srv, test_ca):
    p = Pop(srv.port)
    assert auth_list(p) == ["PLAIN", "LOGIN", "SCRAM-SHA-256"]
    tls(p, test_ca)
    assert auth_list(p) == ["PLAIN", "LOGIN", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"]
    p.login()
    logged_in(p)


def test_auth_unknown_mechanism(srv):
    p = Pop(srv.port)
    for mech in ("CRAM-MD5", "GSSAPI", "SCRAM-SHA-1", "SCRAM-SHA-256-PLUS", "XOAUTH2"):
        r = p.cmd(f"AUTH {mech}")
        assert r.startswith("-ERR"), (mech, r)
    p.login()
    logged_in(p)


@pytest.mark.parametrize("variant", ["ir", "continuation", "lowercase", "authzid"])
def test_auth_plain_success(srv, variant):
    p = Pop(srv.port)
    if variant == "ir":
        r = p.cmd("AUTH PLAIN " + plain_ir())
    elif variant == "lowercase":
        r = p.cmd("auth plain " + plain_ir())
    elif variant == "authzid":
        r = p.cmd("AUTH PLAIN " + plain_ir(authz="ptalice"))
    else:
        assert p.cmd("AUTH PLAIN") in ("+ ", "+")
        r = p.cmd(plain_ir())
    assert r.startswith("+OK"), r
    logged_in(p)
    wait_log(srv, r"login: user=<ptalice> .* method=PLAIN")


def test_auth_plain_failures(srv):
    p = Pop(srv.port)
    assert p.cmd("AUTH PLAIN " + plain_ir(password="wrong")) == AUTH_FAILED
    assert p.cmd("AUTH PLAIN " + plain_ir(user="nosuchuser")) == AUTH_FAILED
    p.close()
    wait_log(srv, r"auth failed: user=<nosuchuser> rip=127\.0\.0\.1 method=PLAIN")
    wait_log(srv, r"auth failed: user=<ptalice> rip=127\.0\.0\.1 method=PLAIN .*wrong password")


def test_auth_plain_largest_response_in_continuation(srv):
    """RFC 5034 section 4: the largest PLAIN response (255-octet authzid and
    authcid, 511-byte password: 1023 octets, 1364 base64 characters, over
    the command line limit) is taken; one longer than that is refused with
    a clear -ERR and the session goes on."""
    user, pw = "u" * 255, "p" * 511
    big = base64.b64encode(f"{user}\0{user}\0{pw}".encode()).decode()
    assert len(big) == 1364
    p = Pop(srv.port)
    assert p.cmd("AUTH PLAIN") in ("+ ", "+")
    assert p.cmd(big) == AUTH_FAILED          # no such user: checked, not cut
    assert p.cmd("AUTH PLAIN") in ("+ ", "+")
    assert p.cmd("A" * 1500) == "-ERR SASL response too long"
    assert p.cmd("AUTH PLAIN") in ("+ ", "+")
    assert p.cmd(plain_ir()).startswith("+OK")
    logged_in(p)


def test_auth_plain_too_many_failures_closes(srv):
    p = Pop(srv.port)
    assert p.cmd("AUTH PLAIN " + plain_ir(password="x1")) == AUTH_FAILED
    assert p.cmd("AUTH PLAIN " + plain_ir(password="x2")) == AUTH_FAILED
    r = p.cmd("AUTH PLAIN " + plain_ir(password="x3"))
    assert r.startswith("-ERR [AUTH]"), r
    assert p.closed_by_server()


@pytest.mark.parametrize("bad", [
    "abc",                      # length not a multiple of 4
    "****",                     # not base64
    "YWJj=",                    # stray padding
    "YQ==YQ==",                 # padding in the middle
    "YR==",                     # non-canonical low bits
    "AHB0YWxpY2UAczNjcmV0IHBhc3M=X",
])
@pytest.mark.parametrize("where", ["ir", "continuation"])
def test_auth_plain_malformed_base64(srv, bad, where):
    p = Pop(srv.port)
    if where == "ir":
        r = p.cmd(f"AUTH PLAIN {bad}")
    else:
        assert p.cmd("AUTH PLAIN").startswith("+")
        r = p.cmd(bad)
    # A protocol error, not a credentials problem: no [AUTH] (RFC 3206).
    assert r == "-ERR invalid base64", r
    # the session goes on, and a malformed response is not a password guess
    assert p.cmd("AUTH PLAIN " + plain_ir()).startswith("+OK")
    logged_in(p)


MALFORMED = "-ERR malformed PLAIN response"


@pytest.mark.parametrize("payload,reply", [
    (b"ptalice\0" + PASSWORD.encode(), MALFORMED),                     # one NUL
    (b"\0ptalice\0", MALFORMED),                                      # no password
    (b"\0\0" + PASSWORD.encode(), MALFORMED),                         # no user
    (b"\0ptalice\0pa\0ss", MALFORMED),
    # asking to act as another user is about the credentials: [AUTH]
    (b"ptbob\0ptalice\0" + PASSWORD.encode(),
     "-ERR [AUTH] authorization identity differs from the authentication identity")])
def test_auth_plain_malformed_message(srv, payload, reply):
    p = Pop(srv.port)
    r = p.cmd("AUTH PLAIN " + b64(payload))
    assert r == reply, r
    assert p.cmd("AUTH PLAIN =") == MALFORMED    # empty initial response
    assert p.cmd("AUTH PLAIN " + plain_ir()).startswith("+OK")
    logged_in(p)


def test_auth_plain_cancel(srv):
    p = Pop(srv.port)
    assert p.cmd("AUTH PLAIN").startswith("+")
    r = p.cmd("*")
    assert r.startswith("-ERR"), r
    assert p.capa()
    assert p.cmd("AUTH PLAIN " + plain_ir()).startswith("+OK")
    logged_in(p)


@pytest.mark.parametrize("size", [1100, 5000, 20000])
def test_auth_overlong_response(srv, size):
    """An over-long SASL response gets -ERR; its tail is never read as a
    command and the session continues."""
    p = Pop(srv.port)
    assert p.cmd("AUTH PLAIN").startswith("+")
    p.send(b"A" * size + b"QUIT\r\n")
    r = p.line()
    assert r.startswith("-ERR"), r
    assert p.quiet(0.3) == b""
    # same for an over-long initial response on the AUTH line itself
    p.send(b"AUTH PLAIN " + b"A" * size + b"QUIT\r\n")
    r = p.line()
    assert r.startswith("-ERR"), r
    assert p.quiet(0.3) == b""
    assert p.cmd("AUTH PLAIN " + plain_ir()).startswith("+OK")
    logged_in(p)


def test_overlong_sasl_names_are_failed_logins(srv):
    """A name longer than any account's (255) fits in a SASL line but not
    in the monitor's message: a failed login like any other (counted,
    logged with the reason), and the session goes on."""
    p = Pop(srv.port)
    long_name = "a" * 300
    assert p.cmd("AUTH PLAIN " + plain_ir(user=long_name)) == AUTH_FAILED
    assert p.cmd("AUTH LOGIN " + b64(long_name.encode())) == "+ UGFzc3dvcmQ6"
    assert p.cmd(b64(PASSWORD.encode())) == AUTH_FAILED
    wait_log(srv, r"auth failed: user=<a+.*> rip=127\.0\.0\.1 method=LOGIN "
                  r"reason=user name too long")
    assert p.cmd("AUTH PLAIN " + plain_ir()).startswith("+OK")
    logged_in(p)


def test_auth_login_flows(srv):
    p = Pop(srv.port)
    # cancel at the user name, then at the password
    assert p.cmd("AUTH LOGIN") == "+ VXNlcm5hbWU6"
    assert p.cmd("*").startswith("-ERR")
    assert p.cmd("AUTH LOGIN") == "+ VXNlcm5hbWU6"
    assert p.cmd(b64(b"ptalice")) == "+ UGFzc3dvcmQ6"
    assert p.cmd("*").startswith("-ERR")
    # bad base64 in either step
    assert p.cmd("AUTH LOGIN") == "+ VXNlcm5hbWU6"
    assert p.cmd("!!!!") == "-ERR invalid base64"
    assert p.cmd("AUTH LOGIN " + b64(b"ptalice")) == "+ UGFzc3dvcmQ6"
    assert p.cmd("cGFzc3dvcmQ") == "-ERR invalid base64"
    # wrong password
    assert p.cmd("AUTH LOGIN " + b64(b"ptalice")) == "+ UGFzc3dvcmQ6"
    assert p.cmd(b64(b"wrong")) == AUTH_FAILED
    # initial response, then success
    assert p.cmd("AUTH LOGIN " + b64(b"ptalice")) == "+ UGFzc3dvcmQ6"
    assert p.cmd(b64(PASSWORD.encode())).startswith("+OK")
    logged_in(p)
    wait_log(srv, r"login: user=<ptalice> .* method=LOGIN")


def test_auth_login_continuation_success(srv, test_ca):
    p = tls(Pop(srv.port), test_ca)
    assert p.cmd("AUTH LOGIN") == "+ VXNlcm5hbWU6"
    assert p.cmd(b64(b"ptalice")) == "+ UGFzc3dvcmQ6"
    assert p.cmd(b64(PASSWORD.encode())).startswith("+OK")
    logged_in(p)


def test_auth_after_login_not_allowed(srv):
    p = Pop(srv.port)
    p.login()
    assert p.cmd("AUTH PLAIN " + plain_ir()).startswith("-ERR")
    assert p.cmd("USER ptalice").startswith("-ERR")
    logged_in(p)


# ---- SCRAM-SHA-256 ----

SCRAM_RX = re.compile(r"\{SCRAM-SHA-256\}(\d+),([A-Za-z0-9+/=]+),([A-Za-z0-9+/=]{44}),"
                      r"([A-Za-z0-9+/=]{44})")


def scram_secret(password=PASSWORD):
    r = subprocess.run([conftest.PASSWD_TOOL, "hash", "-s", "scram-sha-256", "--stdin"],
                       input=password + "\n", capture_output=True, text=True, check=True)
    return r.stdout.strip()


@pytest.fixture
def scram_srv(server_factory, test_ca):
    """ptbob has a SCRAM secret from `postern-passwd hash`; scramuser (on
    ptcarol's mailbox) is added by `postern-passwd add`."""
    s = mk(server_factory, test_ca)
    set_password_field(s, "ptbob", scram_secret())
    s.maildirs["ptbob"].add(MESSAGE)
    pw = pwd.getpwnam("ptcarol")
    subprocess.run([conftest.PASSWD_TOOL, "-f", s.passwd, "add", "scramuser",
                    "-u", str(pw.pw_uid), "-g", str(pw.pw_gid),
                    "-d", os.path.join(s.home, "ptcarol"), "-s", "scram-sha-256", "--stdin"],
                   input=PASSWORD + "\n", capture_output=True, text=True, check=True)
    s.maildirs["ptcarol"].add(MESSAGE)
    return s


def test_scram_secret_format_is_rfc5802(scram_srv):
    """The stored secret is Dovecot's format and matches RFC 5802 keys
    computed here from the password."""
    lines = dict(l.split(":", 2)[:2] for l in open(scram_srv.passwd).read().splitlines())
    for user in ("ptbob", "scramuser"):
        m = SCRAM_RX.fullmatch(lines[user])
        assert m, lines[user]
        it, salt = int(m.group(1)), base64.b64decode(m.group(2))
        assert it >= 4096 and len(salt) >= 16
        _, stored, skey = scram_keys(PASSWORD, salt, it)
        assert base64.b64decode(m.group(3)) == stored
        assert base64.b64decode(m.group(4)) == skey


@pytest.mark.parametrize("user", ["ptbob", "scramuser"])
@pytest.mark.parametrize("initial", [True, False])
def test_scram_success_plaintext(scram_srv, user, initial):
    p = Pop(scram_srv.port)
    r, sc, sf = scram_auth(p, user, PASSWORD, initial=initial)
    assert r.startswith("+OK"), r
    assert sc.server_signature is not None
    logged_in(p)
    wait_log(scram_srv, rf"login: user=<{user}> .* tls=plaintext method=SCRAM-SHA-256")


def test_scram_allowed_for_remote_plaintext(server_factory, test_ca):
    """SCRAM sends no password, so it stays allowed where PLAIN is not."""
    s = mk(server_factory, test_ca, "loopback_is_local = no\n")
    set_password_field(s, "ptalice", scram_secret())
    p = Pop(s.port)
    r, _, _ = scram_auth(p, "ptalice", PASSWORD)
    assert r.startswith("+OK"), r
    logged_in(p)


@pytest.mark.parametrize("mode", ["stls", "implicit"])
def test_scram_success_over_tls(scram_srv, test_ca, mode):
    ctx = client_ctx(test_ca["ca"])
    p = Pop(scram_srv.tls_port, tls_ctx=ctx) if mode == "implicit" else tls(Pop(scram_srv.port), test_ca)
    r, _, _ = scram_auth(p, "ptbob", PASSWORD)
    assert r.startswith("+OK"), r
    logged_in(p)
    wait_log(scram_srv, r"login: user=<ptbob> .* tls=TLSv1\.3/\S+ method=SCRAM-SHA-256")


def test_scram_y_flag(scram_srv, test_ca):
    """gs2 'y' (client could bind, thinks the server cannot): fine in the
    clear, a downgrade on TLS where -PLUS is advertised (TLS 1.3 here;
    TLS 1.2 without EMS: test_scram_tls12_without_ems)."""
    p = Pop(scram_srv.port)
    r, _, _ = scram_auth(p, "ptbob", PASSWORD, gs2="y,,")
    assert r.startswith("+OK"), r
    logged_in(p)
    p = tls(Pop(scram_srv.port), test_ca)
    r, _, sf = scram_auth(p, "ptbob", PASSWORD, gs2="y,,")
    assert r.startswith("-ERR [AUTH]"), r


def test_scram_wrong_password(scram_srv):
    p = Pop(scram_srv.port)
    r, _, sf = scram_auth(p, "ptbob", PASSWORD, wrong_password="wrong")
    assert sf is not None
    assert r == AUTH_FAILED
    # still in AUTHORIZATION: the right password works
    r, _, _ = scram_auth(p, "ptbob", PASSWORD)
    assert r.startswith("+OK"), r
    logged_in(p)
    wait_log(scram_srv, r"auth failed: user=<ptbob> rip=127\.0\.0\.1 method=SCRAM-SHA-256 .*"
                        r"wrong password")


def server_first_shape(sf, client_nonce):
    m = re.fullmatch(r"r=([!-+\--~]+),s=([A-Za-z0-9+/=]+),i=(\d+)", sf.decode())
    assert m, sf
    assert m.group(1).startswith(client_nonce)
    return len(m.group(1)) - len(client_nonce), len(base64.b64decode(m.group(2))), \
        int(m.group(3))


@pytest.mark.parametrize("user", ["nosuchuser", "ptalice"])   # unknown; no SCRAM secret
def test_scram_unknown_user_looks_the_same(scram_srv, user):
    p = Pop(scram_srv.port)
    r, sc, sf = scram_auth(p, user, PASSWORD)
    assert sf is not None, r            # a server-first, as for a real user
    assert r == AUTH_FAILED
    q = Pop(scram_srv.port)
    r2, sc2, sf2 = scram_auth(q, "ptbob", "wrong")
    assert r2 == AUTH_FAILED
    assert server_first_shape(sf, sc.cnonce) == server_first_shape(sf2, sc2.cnonce)
    p.close()
    q.close()


def scram_salt(port, user):
    p = Pop(port)
    sc = ScramClient(user, PASSWORD)
    r = p.cmd(f"AUTH SCRAM-SHA-256 {b64(sc.first())}")
    assert r.startswith("+ "), r
    sf = base64.b64decode(r[2:]).decode()
    p.cmd("*")
    p.close()
    return re.search(r"s=([^,]+)", sf).group(1)


def test_scram_unknown_user_salt_is_stable(scram_srv):
    """A real user's salt is the same on every connection; an unknown
    user's must be too, or two AUTH attempts tell which names exist."""
    assert scram_salt(scram_srv.port, "ptbob") == scram_salt(scram_srv.port, "ptbob")
    a = scram_salt(scram_srv.port, "nosuchuser")
    b = scram_salt(scram_srv.port, "nosuchuser")
    assert a == b, "unknown user's SCRAM salt changes between connections"


def test_scram_cancel_and_retry(scram_srv):
    p = Pop(scram_srv.port)
    # cancel at the first continuation
    assert p.cmd("AUTH SCRAM-SHA-256").rstrip() == "+"
    assert p.cmd("*").startswith("-ERR")
    # cancel after the server-first
    sc = ScramClient("ptbob", PASSWORD)
    r = p.cmd(f"AUTH SCRAM-SHA-256 {b64(sc.first())}")
    assert r.startswith("+ ")
    assert p.cmd("*").startswith("-ERR")
    # garbage instead of the client-final
    r = p.cmd(f"AUTH SCRAM-SHA-256 {b64(ScramClient('ptbob', PASSWORD).first())}")
    assert r.startswith("+ ")
    assert p.cmd("%%%%").startswith("-ERR")
    # the monitor forgot those exchanges: a fresh one succeeds
    r, _, _ = scram_auth(p, "ptbob", PASSWORD)
    assert r.startswith("+OK"), r
    logged_in(p)


@pytest.mark.parametrize("first", [b"n,,x=ptbob,r=abc", b"n,,n=ptbob", b"n,,n=ptbob,r=",
                                   b"q,,n=ptbob,r=abc", b"n,a=ptalice,n=ptbob,r=abc",
                                   b"n,,n=pt=bob,r=abc", b"n,,n=ptbob,r=a\x01b",
                                   b"p=tls-server-end-point,,n=ptbob,r=abc",
                                   b"n,,n=ptbob,r=" + b"x" * 2000])
def test_scram_malformed_client_first(scram_srv, first):
    p = Pop(scram_srv.port)
    r = p.cmd(f"AUTH SCRAM-SHA-256 {b64(first)}")
    assert r.startswith("-ERR"), r
    r, _, _ = scram_auth(p, "ptbob", PASSWORD)
    assert r.startswith("+OK"), r
    logged_in(p)


def test_scram_success_data_must_get_an_empty_answer(scram_srv):
    """RFC 5034: the server-final message comes as a last challenge, and
    the client answers it with an empty line; anything else ends the
    exchange (and the connection) without a login."""
    p = Pop(scram_srv.port)
    sc = ScramClient("ptbob", PASSWORD)
    r = p.cmd(f"AUTH SCRAM-SHA-256 {b64(sc.first())}")
    sf = base64.b64decode(r[2:])
    r = p.cmd(b64(sc.final(sf)))
    assert r.startswith("+ "), r                  # the server signature
    assert p.cmd("x") == "-ERR authentication aborted"
    p.sock.settimeout(5)
    assert p.sock.recv(100) == b""
    assert "login: user=<ptbob>" not in scram_srv.logtext()


def test_scram_bad_client_final(scram_srv):
    p = Pop(scram_srv.port)
    sc = ScramClient("ptbob", PASSWORD)
    r = p.cmd(f"AUTH SCRAM-SHA-256 {b64(sc.first())}")
    sf = base64.b64decode(r[2:])
    final = sc.final(sf).decode()
    # another nonce
    bad = final.replace(",r=" + sc.cnonce, ",r=X" + sc.cnonce)
    assert p.cmd(b64(bad.encode())).startswith("-ERR [AUTH]")
    # a channel-binding field that does not echo the gs2 header
    r, _, _ = scram_auth(p, "ptbob", PASSWORD, cbind_override=b64(b"y,,"))
    assert r.startswith("-ERR [AUTH]"), r
    p.close()


def test_scram_abort_after_server_final(scram_srv):
    """A client that does not accept the server-final gets no session."""
    p = Pop(scram_srv.port)
    sc = ScramClient("ptbob", PASSWORD)
    r = p.cmd(f"AUTH SCRAM-SHA-256 {b64(sc.first())}")
    r = p.cmd(b64(sc.final(base64.b64decode(r[2:]))))
    assert r.startswith("+ ") and sc.verify(base64.b64decode(r[2:]))
    r = p.cmd("*")
    assert r.startswith("-ERR"), r
    assert p.closed_by_server()
    sessions_gone(scram_srv)
    assert "login: user=<ptbob>" not in scram_srv.logtext()


def test_plain_for_scram_only_user_fails_cleanly(scram_srv, test_ca):
    """USER/PASS or PLAIN against a SCRAM-only secret: a clean -ERR [AUTH]."""
    p = tls(Pop(scram_srv.port), test_ca)
    r = p.cmd("AUTH PLAIN " + plain_ir(user="ptbob"))
    if r.startswith("+OK"):       # a server may verify PLAIN against the SCRAM keys
        logged_in(p)
        return
    assert r == AUTH_FAILED, r
    assert p.cmd("AUTH PLAIN " + plain_ir(user="ptbob", password="wrong")) == AUTH_FAILED
    r, _, _ = scram_auth(p, "ptbob", PASSWORD)
    assert r.startswith("+OK"), r
    logged_in(p)


# ---- SCRAM-SHA-256-PLUS: channel binding ----

def no_ems_ctx(test_ca):
    """TLS 1.2 without the extended master secret (RFC 7627)."""
    ctx = client_ctx(test_ca["ca"], maxv=TLS12)
    ctx.options |= OP_NO_EMS
    return ctx


@pytest.mark.parametrize("mode", ["stls", "implicit"])
@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_scram_plus_advertised_with_exporter(scram_srv, test_ca, mode, version):
    """tls-exporter exists on TLS 1.3 and on TLS 1.2 with the extended
    master secret, which Python (OpenSSL) negotiates by default."""
    maxv = TLS12 if version == "TLSv1.2" else None
    p = Pop(scram_srv.tls_port, tls_ctx=client_ctx(test_ca["ca"], maxv=maxv)) \
        if mode == "implicit" else tls(Pop(scram_srv.port), test_ca, maxv=maxv)
    assert p.sock.version() == version
    assert sasl_line(p.capa()) == ["PLAIN", "LOGIN", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"]
    assert auth_list(p) == ["PLAIN", "LOGIN", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"]
    p.close()


@pytest.mark.parametrize("mode", ["stls", "implicit"])
def test_scram_tls12_without_ems(scram_srv, test_ca, mode):
    """No extended master secret: no tls-exporter (RFC 9266), so no -PLUS,
    and a client that could bind may say so ('y'): no downgrade."""
    ctx = no_ems_ctx(test_ca)
    p = Pop(scram_srv.tls_port, tls_ctx=ctx) if mode == "implicit" else Pop(scram_srv.port)
    if mode == "stls":
        p.stls(ctx)
    assert p.sock.version() == "TLSv1.2"
    assert sasl_line(p.capa()) == ["PLAIN", "LOGIN", "SCRAM-SHA-256"]
    assert auth_list(p) == ["PLAIN", "LOGIN", "SCRAM-SHA-256"]
    r, _, _ = scram_auth(p, "ptbob", PASSWORD, mech="SCRAM-SHA-256-PLUS",
                         gs2="p=tls-exporter,,", cbdata=os.urandom(32))
    assert r == "-ERR unsupported authentication mechanism", r
    r, _, _ = scram_auth(p, "ptbob", PASSWORD, gs2="y,,")
    assert r.startswith("+OK"), r
    logged_in(p)
    wait_log(scram_srv, r"login: user=<ptbob> .* tls=TLSv1\.2/\S+ method=SCRAM-SHA-256 ")


class SClient:
    """An interactive `openssl s_client`, used for what Python's ssl module
    lacks: the TLS 1.3 exporter (RFC 9266 tls-exporter channel binding)."""

    def __init__(self, args):
        self.p = subprocess.Popen(
            ["openssl", "s_client", "-crlf", "-ign_eof",
             "-keymatexport", "EXPORTER-Channel-Binding", "-keymatexportlen", "32", *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.q = queue.Queue()
        self.t = threading.Thread(target=self._reader, daemon=True)
        self.t.start()
        self.keymat = None
        while self.keymat is None:
            l = self.q.get(timeout=15)
            assert l is not None, "s_client ended before the handshake"
            m = re.match(rb"\s*Keying material: ([0-9A-F]+)", l)
            if m:
                self.keymat = bytes.fromhex(m.group(1).decode())

    def _reader(self):
        for l in self.p.stdout:
            self.q.put(l)
        self.q.put(None)

    def line(self, greeting=False):
        """The next POP3 line (s_client's own chatter skipped).  With
        -starttls, s_client may echo the greeting it consumed (padded with
        blanks) late: greetings are skipped unless asked for."""
        while True:
            l = self.q.get(timeout=15)
            assert l is not None, "s_client ended"
            l = l.strip(b" \t\0\r\n")
            if l.startswith(b"+OK postern ready") and not greeting:
                continue
            if l.startswith((b"+", b"-ERR")):
                return l.decode()

    def cmd(self, text):
        self.p.stdin.write(text.encode() + b"\n")
        self.p.stdin.flush()
        return self.line()

    def close(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def sclient(srv, test_ca, mode, version):
    args = ["-CAfile", test_ca["ca"], "-verify_return_error", "-servername", "mail.test",
            "-tls1_2" if version == "TLSv1.2" else "-tls1_3"]
    if mode == "implicit":
        args += ["-connect", f"127.0.0.1:{srv.tls_port}"]
    else:
        args += ["-connect", f"127.0.0.1:{srv.port}", "-starttls", "pop3"]
    c = SClient(args)
    assert len(c.keymat) == 32
    if mode == "implicit":
        assert c.line(greeting=True).startswith("+OK")     # the greeting
    return c


def sclient_scram(c, gs2, cb, mech="SCRAM-SHA-256-PLUS"):
    """A SCRAM exchange on an SClient: the final line (after the empty
    answer to the server's final message on success)."""
    sc = ScramClient("ptbob", PASSWORD, gs2=gs2, cbdata=cb)
    r = c.cmd(f"AUTH {mech} {b64(sc.first())}")
    if not r.startswith("+ "):
        return r
    r = c.cmd(b64(sc.final(base64.b64decode(r[2:]))))
    if not r.startswith("+ "):
        return r
    assert sc.verify(base64.b64decode(r[2:]))
    return c.cmd("")


@pytest.mark.parametrize("mode", ["stls", "implicit"])
@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
@pytest.mark.parametrize("good", [True, False])
def test_scram_plus_exporter(scram_srv, test_ca, mode, version, good):
    """tls-exporter on TLS 1.3 and on TLS 1.2 (s_client negotiates the
    extended master secret)."""
    c = sclient(scram_srv, test_ca, mode, version)
    try:
        cb = c.keymat if good else bytes(b ^ 1 for b in c.keymat)
        r = sclient_scram(c, "p=tls-exporter,,", cb)
        if not good:
            assert r.startswith("-ERR [AUTH]"), r
            assert c.cmd("QUIT").startswith("+OK")
            return
        assert r.startswith("+OK"), r
        assert c.cmd("STAT").startswith("+OK 1 ")
        assert c.cmd("QUIT").startswith("+OK")
    finally:
        c.close()
    wait_log(scram_srv, r"login: user=<ptbob> .* tls=%s/\S+ method=SCRAM-SHA-256-PLUS"
             % re.escape(version))


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
@pytest.mark.parametrize("case", ["end-point", "tls-unique", "n-flag", "y-flag",
                                  "plain-scram-p", "plain-scram-y"])
def test_scram_plus_bad_binding(scram_srv, test_ca, version, case):
    """Only tls-exporter binds; without binding, -PLUS fails; 'y' is a
    downgrade where -PLUS is offered."""
    c = sclient(scram_srv, test_ca, "implicit", version)
    try:
        mech = "SCRAM-SHA-256-PLUS"
        if case == "end-point":
            der = cert_der(test_ca["mail.test"][0])
            gs2, cb = "p=tls-server-end-point,,", hashlib.sha256(der).digest()
        elif case == "tls-unique":
            gs2, cb = "p=tls-unique,,", c.keymat[:12]
        elif case in ("n-flag", "y-flag"):
            gs2, cb = case[0] + ",,", b""
        elif case == "plain-scram-p":
            mech, gs2, cb = "SCRAM-SHA-256", "p=tls-exporter,,", c.keymat
        else:
            mech, gs2, cb = "SCRAM-SHA-256", "y,,", b""
        r = sclient_scram(c, gs2, cb, mech=mech)
        assert r.startswith("-ERR [AUTH]"), r
        # The failure names the mechanism tried (PLUS or not).
        if mech.endswith("PLUS"):
            wait_log(scram_srv, r"auth failed: user=<\S*> rip=\S+ method=SCRAM-SHA-256-PLUS ")
        # and the correct binding still works afterwards on this connection
        r = sclient_scram(c, "p=tls-exporter,,", c.keymat)
        assert r.startswith("+OK"), r
        assert c.cmd("QUIT").startswith("+OK")
    finally:
        c.close()


# ---- a real SCRAM client: mpop (GNU SASL) ----

@pytest.mark.parametrize("mode", ["stls", "implicit"])
def test_mpop_scram(scram_srv, test_ca, mode, tmp_path):
    port = scram_srv.tls_port if mode == "implicit" else scram_srv.port
    r = realclients.mpop(str(tmp_path), port, user="ptbob", tls=TLS(mode, test_ca["ca"]),
                         auth="scram-sha-256")
    assert r.returncode == 0, r.trace
    assert r.messages == [MESSAGE]
    wait_log(scram_srv, r"login: user=<ptbob> .* method=SCRAM-SHA-256")
