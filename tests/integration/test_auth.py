"""Credentials and login (issue 2, DESIGN.md "Credentials"): USER/PASS,
SASL PLAIN and LOGIN, APOP, RFC 3206 codes, identical answers for unknown
users and wrong passwords, the failure delay and limit, the passwd file
re-read on change, and the password kept out of the log."""
import base64
import hashlib
import os
import pwd
import re
import statistics
import time

import pytest

import conftest
from conftest import PASSWORD
from pop3util import Pop3, logged_in, wait_until

FAIL = "-ERR [AUTH] authentication failed"
FAIL_LAST = "-ERR [AUTH] authentication failed; too many failures, closing connection"


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def test_user_pass_login(any_server):
    any_server.maildirs["ptbob"].add(b"hi\n")
    with Pop3(any_server.port) as c:
        assert c.cmd("USER ptbob") == "+OK"
        assert c.cmd("PASS " + PASSWORD) == "+OK maildrop has 1 message (4 octets)"
        assert c.cmd("QUIT") == "+OK postern signing off (0 messages deleted)"
    assert wait_until(lambda: "logout: user=<ptbob>" in any_server.logtext(), 5)
    log = any_server.logtext()
    assert re.search(r"login: user=<ptbob> rip=127\.0\.0\.1 lport=\d+ tls=plaintext "
                     r"method=USER messages=1", log), log


def test_password_is_the_rest_of_the_line(server):
    """PASS takes everything after the space, spaces included."""
    with Pop3(server.port) as c:
        c.cmd("USER ptalice")
        assert c.cmd("PASS " + PASSWORD.replace(" ", "  ")) == FAIL
        c.cmd("USER ptalice")
        assert c.cmd("PASS " + PASSWORD + " ") == FAIL
        c.cmd("USER ptalice")
        assert c.cmd("PASS " + PASSWORD).startswith("+OK maildrop")
        c.quit()


def test_user_replaced_by_second_user_command(server):
    with Pop3(server.port) as c:
        assert c.cmd("USER nosuchuser") == "+OK"
        assert c.cmd("USER ptalice") == "+OK"
        assert c.cmd("PASS " + PASSWORD).startswith("+OK maildrop")
        c.quit()


def test_failed_pass_forgets_user(server):
    with Pop3(server.port) as c:
        c.cmd("USER ptalice")
        assert c.cmd("PASS wrong") == FAIL
        assert c.cmd("PASS " + PASSWORD) == "-ERR USER first"


def test_sasl_plain(any_server):
    any_server.maildirs["ptalice"].add(b"x\n")
    with Pop3(any_server.port) as c:
        assert c.cmd("AUTH PLAIN " + b64("\0ptalice\0" + PASSWORD)) == \
            "+OK maildrop has 1 message (3 octets)"
        c.quit()
    with Pop3(any_server.port) as c:                 # no initial response
        assert c.cmd("AUTH PLAIN") == "+ "
        assert c.cmd(b64("ptalice\0ptalice\0" + PASSWORD)).startswith("+OK maildrop")
        c.quit()
    with Pop3(any_server.port) as c:
        assert c.cmd("AUTH PLAIN " + b64("\0ptalice\0wrong")) == FAIL
        assert c.cmd("AUTH PLAIN " + b64("ptbob\0ptalice\0" + PASSWORD)) == \
            "-ERR [AUTH] authorization identity differs from the authentication identity"
        # Not about the credentials (RFC 3206): no [AUTH], which tells a
        # client to ask its user for a new password.
        assert c.cmd("AUTH PLAIN " + b64("no separators")) == "-ERR malformed PLAIN response"
        assert c.cmd("AUTH PLAIN !!!") == "-ERR invalid base64"
        assert c.cmd("AUTH PLAIN") == "+ "
        assert c.cmd("!!!") == "-ERR invalid base64"
        assert c.cmd("AUTH PLAIN") == "+ "
        assert c.cmd("*") == "-ERR authentication cancelled"
        # None of these was a failed login: the next good one works.
        assert c.cmd("AUTH PLAIN " + b64("\0ptalice\0" + PASSWORD)).startswith("+OK maildrop")
        c.quit()


def test_sasl_login(server):
    with Pop3(server.port) as c:
        assert c.cmd("AUTH LOGIN") == "+ VXNlcm5hbWU6"
        assert c.cmd(b64("ptcarol")) == "+ UGFzc3dvcmQ6"
        assert c.cmd(b64(PASSWORD)) == "+OK maildrop has 0 messages (0 octets)"
        c.quit()
    with Pop3(server.port) as c:
        assert c.cmd("AUTH LOGIN " + b64("ptcarol")) == "+ UGFzc3dvcmQ6"
        assert c.cmd(b64("bad")) == FAIL
        c.quit()


def test_unknown_user_and_wrong_password_look_the_same(server_factory):
    # yescrypt makes the hash cost dominate, so skipping it would show.
    s = server_factory(scheme="yescrypt").start()

    def attempt(user, password):
        with Pop3(s.port) as c:
            r1 = c.cmd(f"USER {user}")
            t0 = time.perf_counter()
            r2 = c.cmd(f"PASS {password}")
            took = time.perf_counter() - t0
            r3 = c.cmd("USER x")
            r4 = c.cmd("PASS y")
            r5 = c.cmd("USER x")
            r6 = c.cmd("PASS y")
            closed = c.is_closed()
        return (r1, r2, r3, r4, r5, r6, closed), took

    wrong = [attempt("ptalice", "not the password") for _ in range(5)]
    unknown = [attempt("nosuchuser", "not the password") for _ in range(5)]
    badname = [attempt("../etc", "not the password") for _ in range(3)]
    want = ("+OK", FAIL, "+OK", FAIL, "+OK", FAIL_LAST, True)
    for answers, _ in wrong + unknown + badname:
        assert answers == want
    tw = statistics.median(t for _, t in wrong)
    tu = statistics.median(t for _, t in unknown)
    tb = statistics.median(t for _, t in badname)
    # An unknown (or invalid) name pays for a hash like a known one does.
    assert tu >= 0.5 * tw and tb >= 0.5 * tw, (tw, tu, tb)
    assert tu <= 2 * tw + 0.05, (tw, tu)


def test_login_fail_delay_grows_and_limit_closes(server_factory):
    s = server_factory(extra_conf="login_fail_delay = 400ms\n").start()
    for user in ("ptalice", "nosuchuser"):
        with Pop3(s.port) as c:
            times = []
            for i in range(3):
                c.cmd(f"USER {user}")
                t0 = time.perf_counter()
                r = c.cmd("PASS wrong")
                times.append(time.perf_counter() - t0)
                assert r == (FAIL if i < 2 else FAIL_LAST)
            assert c.is_closed()
        assert 0.38 <= times[0] < 2.0, times
        assert 0.78 <= times[1] < 2.5, times
        assert 1.18 <= times[2] < 3.0, times
    # A good login has no delay.
    with Pop3(s.port) as c:
        c.cmd("USER ptalice")
        t0 = time.perf_counter()
        assert c.cmd("PASS " + PASSWORD).startswith("+OK")
        assert time.perf_counter() - t0 < 0.35
        c.quit()


def test_max_login_failures_configurable(server_factory):
    s = server_factory(extra_conf="max_login_failures = 1\n").start()
    with Pop3(s.port) as c:
        c.cmd("USER ptalice")
        assert c.cmd("PASS wrong") == FAIL_LAST
        assert c.is_closed()
    assert "auth failed: user=<ptalice> rip=127.0.0.1 method=USER failures=1 " \
           "reason=wrong password" in s.logtext()


def test_failures_are_logged_for_fail2ban(server):
    with Pop3(server.port) as c:
        c.cmd("USER ptalice")
        c.cmd("PASS wrong")
        c.cmd("USER nosuchuser")
        c.cmd("PASS wrong")
        c.cmd("AUTH PLAIN " + b64("\0ptbob\0wrong"))
    log = server.logtext()
    assert re.search(r"auth failed: user=<ptalice> rip=127\.0\.0\.1 method=USER "
                     r"failures=1 reason=wrong password", log)
    assert re.search(r"auth failed: user=<nosuchuser> rip=127\.0\.0\.1 method=USER "
                     r"failures=2 reason=unknown user", log)
    assert re.search(r"auth failed: user=<ptbob> rip=127\.0\.0\.1 method=PLAIN "
                     r"failures=3 reason=wrong password", log)


def test_passwd_file_unreadable_is_sys_temp(server):
    os.rename(server.passwd, server.passwd + ".away")
    with Pop3(server.port) as c:
        c.cmd("USER ptalice")
        assert c.cmd("PASS " + PASSWORD) == \
            "-ERR [SYS/TEMP] authentication is temporarily unavailable"
        # Not counted as a failure of the client: it may try again.
        os.rename(server.passwd + ".away", server.passwd)
        c.cmd("USER ptalice")
        assert c.cmd("PASS " + PASSWORD).startswith("+OK maildrop")
        c.quit()


def test_world_writable_passwd_file_is_refused(server):
    os.chmod(server.passwd, 0o646)
    with Pop3(server.port) as c:
        c.cmd("USER ptalice")
        assert c.cmd("PASS " + PASSWORD) == \
            "-ERR [SYS/TEMP] authentication is temporarily unavailable"
    assert "world-writable" in server.logtext()


def test_passwd_file_reread_on_change(server):
    carol = pwd.getpwnam("ptcarol")
    home = os.path.dirname(server.maildirs["ptcarol"].path)
    with Pop3(server.port) as c:
        c.cmd("USER carol2")
        assert c.cmd("PASS other secret") == FAIL
        server.add_user_line(f"carol2:{conftest.hash_password('other secret')}:"
                             f"{carol.pw_uid}:{carol.pw_gid}::{home}::")
        c.cmd("USER carol2")
        assert c.cmd("PASS other secret").startswith("+OK maildrop")
        c.quit()
    # Changing ptalice's password takes effect at once too.
    lines = open(server.passwd).read().splitlines()
    new_hash = conftest.hash_password("new password")
    with open(server.passwd, "w") as f:
        for l in lines:
            if l.startswith("ptalice:"):
                parts = l.split(":")
                parts[1] = new_hash
                l = ":".join(parts)
            f.write(l + "\n")
    with Pop3(server.port) as c:
        c.cmd("USER ptalice")
        assert c.cmd("PASS " + PASSWORD) == FAIL
        c.cmd("USER ptalice")
        assert c.cmd("PASS new password").startswith("+OK maildrop")
        c.quit()


def test_user_at_domain(server):
    carol = pwd.getpwnam("ptcarol")
    home = os.path.dirname(server.maildirs["ptcarol"].path)
    server.add_user_line(f"carol@example.org:{conftest.hash_password(PASSWORD)}:"
                         f"{carol.pw_uid}:{carol.pw_gid}::{home}::")
    server.maildirs["ptcarol"].add(b"for carol\n")
    with Pop3(server.port) as c:
        c.cmd("USER carol@example.org")
        assert c.cmd("PASS " + PASSWORD) == "+OK maildrop has 1 message (11 octets)"
        c.quit()


def test_locked_and_empty_passwords(server):
    carol = pwd.getpwnam("ptcarol")
    home = os.path.dirname(server.maildirs["ptcarol"].path)
    for name, pw in (("locked1", "!" + conftest.hash_password(PASSWORD)),
                     ("locked2", "*"), ("locked3", ""), ("locked4", "{PLAIN}")):
        server.add_user_line(f"{name}:{pw}:{carol.pw_uid}:{carol.pw_gid}::{home}::")
    with Pop3(server.port) as c:
        for name, pw in (("locked1", PASSWORD), ("locked2", "*"), ("locked3", "")):
            c.cmd(f"USER {name}")
            r = c.cmd(f"PASS {pw}") if pw else c.cmd("PASS x")
            assert r.startswith("-ERR"), (name, r)
    with Pop3(server.port) as c:
        c.cmd("USER locked4")
        assert c.cmd("PASS x") == FAIL


def test_overlong_fields_lock_the_entry(server_factory):
    """A password field too long for the monitor's buffers (crypt 512,
    {PLAIN} 1024 bytes) locks that entry.  It used to be checked against the
    first crypt user's hash (ptalice's here), or by the {PLAIN} prefix (which
    only APOP can send: a command line is at most 1024 bytes)."""
    s = server_factory(extra_conf="max_login_failures = 10\napop = yes\n")
    carol = pwd.getpwnam("ptcarol")
    home = os.path.dirname(s.maildirs["ptcarol"].path)
    s.add_user_line(f"bigcrypt:$6${'x' * 600}:{carol.pw_uid}:{carol.pw_gid}::{home}::")
    s.add_user_line(f"bigplain:{{PLAIN}}{'p' * 1100}:{carol.pw_uid}:{carol.pw_gid}::{home}::")
    s.start()
    with Pop3(s.port) as c:
        for pw in (PASSWORD, "", "x" * 600):
            c.cmd("USER bigcrypt")
            assert c.cmd("PASS " + pw if pw else "PASS x") == FAIL, pw[:10]
        assert c.cmd("AUTH PLAIN " + b64("\0bigcrypt\0" + PASSWORD)) == FAIL
        ts = c.greeting.split()[-1]
        for pw in ("p" * 1023, "p" * 1100):
            assert c.cmd("APOP bigplain " + hashlib.md5((ts + pw).encode()).hexdigest()) == FAIL
        c.cmd("USER bigplain")
        assert c.cmd("PASS " + "p" * 1000) == FAIL
        c.cmd("USER ptalice")
        assert c.cmd("PASS " + PASSWORD).startswith("+OK maildrop")
        c.quit()
    log = s.logtext()
    for name in ("bigcrypt", "bigplain"):
        assert re.search(rf"passwd:\d+: malformed entry of user <{name}>", log), log
        assert f"login: user=<{name}>" not in log
    assert re.search(r"auth failed: user=<bigcrypt> rip=127\.0\.0\.1 method=USER "
                     r"failures=1 reason=account locked", log), log


# ---- APOP ----

def apop_server(server_factory, enabled=True):
    s = server_factory(extra_conf="apop = yes\n" if enabled else "")
    carol = pwd.getpwnam("ptcarol")
    home = os.path.dirname(s.maildirs["ptcarol"].path)
    s.add_user_line(f"apopuser:{{PLAIN}}tanstaaf:{carol.pw_uid}:{carol.pw_gid}::{home}::")
    return s.start()


def test_apop(any_mode_apop):
    s = any_mode_apop
    s.maildirs["ptcarol"].add(b"x\n")
    with Pop3(s.port) as c:
        m = re.fullmatch(r"\+OK postern ready (<[^<>@]+@[^<>]+>)", c.greeting)
        assert m, c.greeting
        digest = hashlib.md5((m.group(1) + "tanstaaf").encode()).hexdigest()
        assert c.cmd(f"APOP apopuser {digest}") == "+OK maildrop has 1 message (3 octets)"
        c.quit()
    with Pop3(s.port) as c:
        ts = c.greeting.split()[-1]
        assert c.cmd("APOP apopuser " + hashlib.md5(b"x").hexdigest()) == FAIL
        # A digest for another greeting's timestamp is worthless here.
        assert c.cmd("APOP apopuser " + digest) == FAIL
        # A crypt-hashed account cannot use APOP.
        d2 = hashlib.md5((ts + PASSWORD).encode()).hexdigest()
        assert c.cmd("APOP ptalice " + d2) == FAIL_LAST
    with Pop3(s.port) as c:
        assert c.cmd("APOP apopuser short") == "-ERR syntax error in arguments"
        assert c.cmd("APOP apopuser") == "-ERR syntax error in arguments"
        # Plain USER/PASS still works for the {PLAIN} account.
        c.cmd("USER apopuser")
        assert c.cmd("PASS tanstaaf").startswith("+OK maildrop")
        c.quit()


@pytest.fixture(params=["standalone", "inetd"])
def any_mode_apop(request, server_factory):
    s = server_factory(extra_conf="apop = yes\n")
    carol = pwd.getpwnam("ptcarol")
    home = os.path.dirname(s.maildirs["ptcarol"].path)
    s.add_user_line(f"apopuser:{{PLAIN}}tanstaaf:{carol.pw_uid}:{carol.pw_gid}::{home}::")
    s.mode = request.param
    return s.start() if request.param == "standalone" else s.start_inetd()


def test_apop_disabled_by_default(server_factory):
    s = apop_server(server_factory, enabled=False)
    with Pop3(s.port) as c:
        assert c.greeting == "+OK postern ready"             # no timestamp
        assert c.cmd("APOP apopuser " + "0" * 32) == "-ERR APOP is not enabled on this server"


# ---- the password never reaches the log ----

def test_password_never_logged(any_server):
    s = any_server
    s.maildirs["ptalice"].add(b"x\n")
    secrets = [PASSWORD, "Wr0ngPassw0rd-1", "Wr0ngPassw0rd-2", "Wr0ngPassw0rd-3",
               "Wr0ngPassw0rd-4", "Wr0ngPassw0rd-5"]
    with Pop3(s.port) as c:                     # bad logins
        c.cmd("USER ptalice")
        c.cmd("PASS Wr0ngPassw0rd-1")
        c.cmd("USER nosuchuser")
        c.cmd("PASS Wr0ngPassw0rd-2")
    with Pop3(s.port) as c:                     # garbage carrying secrets
        c.send("PASS Wr0ngPassw0rd-3\r\nXPASS Wr0ngPassw0rd-3\r\nUSER ptalice\r\n"
               "PASS Wr0ngPassw0rd-3\0\r\n" + "PASS Wr0ngPassw0rd-3 " + "y" * 2000 + "\r\n"
               "AUTH PLAIN " + b64("\0ptalice\0Wr0ngPassw0rd-4") + "\r\n"
               "AUTH LOGIN\r\n" + b64("ptalice") + "\r\n" + b64("Wr0ngPassw0rd-5") + "\r\n"
               "STAT Wr0ngPassw0rd-3\r\nQUIT\r\n")
        for _ in range(20):
            try:
                c.line()
            except Exception:
                break
    with Pop3(s.port) as c:                     # a good login with pipelined junk
        c.send(f"USER ptalice\r\nPASS {PASSWORD}\r\nSTAT {PASSWORD}\r\n"
               f"{PASSWORD}\r\nLIST {PASSWORD}\r\nQUIT\r\n")
        replies = [c.line() for _ in range(6)]
        assert replies[1].startswith("+OK maildrop") and replies[5].startswith("+OK postern")
    with Pop3(s.port) as c:                     # a good SASL login
        assert c.cmd("AUTH PLAIN " + b64("\0ptalice\0" + PASSWORD)).startswith("+OK")
        c.quit()
    assert wait_until(lambda: s.logtext().count("logout: user=<ptalice>") == 2, 5)
    log = s.logtext()
    for secret in secrets:
        assert secret not in log, secret
        assert secret.split()[0] not in log, secret
        assert b64(secret) not in log
    assert b64("\0ptalice\0Wr0ngPassw0rd-4") not in log
    assert b64("\0ptalice\0" + PASSWORD) not in log
