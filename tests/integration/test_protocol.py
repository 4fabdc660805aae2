"""RFC 1939 / 2449 / 3206 protocol behaviour of the core daemon (issue 2):
every command in the right and the wrong state with its exact reply, CAPA,
strict argument parsing, over-long lines and NUL bytes, pipelining, the
command limits and the timers.  Driven with a raw socket client so every
byte is visible."""
import time

import pytest

from conftest import PASSWORD
from pop3util import Pop3, logged_in, wait_until

NOT_IN_STATE = "-ERR command not valid in this state"
CAPA_COMMON = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING",
               "IMPLEMENTATION postern"]

MSG1 = b"From: a@example.org\nSubject: one\n\nline 1\nline 2\n"
MSG2 = b"From: b@example.org\nSubject: two\n\n.dot line\nlast\n"


def fill(server, user="ptalice"):
    md = server.maildirs[user]
    return [md.add(MSG1), md.add(MSG2)]


# ---- AUTHORIZATION state ----

def test_greeting_and_capa_before_login(any_server):
    with Pop3(any_server.port) as c:
        assert c.greeting == "+OK postern ready"
        st, caps = c.multi("CAPA")
        assert st == "+OK capability list follows"
        for cap in CAPA_COMMON:
            assert cap in caps, caps
        # Plain passwords are fine on loopback: USER is offered.
        assert "USER" in caps
        sasl = [x for x in caps if x.startswith("SASL ")]
        assert sasl and "PLAIN" in sasl[0].split()
        # No certificate configured: no STLS.
        assert "STLS" not in caps
        assert c.cmd("QUIT") == "+OK bye"
        assert c.is_closed()


TRANSACTION_ONLY = ["STAT", "LIST", "LIST 1", "RETR 1", "DELE 1", "NOOP", "RSET",
                    "TOP 1 0", "UIDL", "UIDL 1"]


def test_transaction_commands_refused_before_login(any_server):
    fill(any_server)
    with Pop3(any_server.port) as c:
        for cmd in TRANSACTION_ONLY:
            assert c.cmd(cmd) == NOT_IN_STATE, cmd
        # Still in AUTHORIZATION and healthy: a login works afterwards.
        assert c.login() == "+OK maildrop has 2 messages (%d octets)" % (
            len(MSG1.replace(b"\n", b"\r\n")) + len(MSG2.replace(b"\n", b"\r\n")))
        assert c.cmd("QUIT").startswith("+OK")


def test_unknown_commands_before_login(server):
    with Pop3(server.port) as c:
        assert c.cmd("XYZZY") == "-ERR unknown command"
        assert c.cmd("") == "-ERR unknown command"
        assert c.cmd("USER") == "-ERR syntax error in arguments"
        assert c.cmd("USER a b") == "-ERR syntax error in arguments"
        assert c.cmd("PASS") == "-ERR syntax error in arguments"
        assert c.cmd("PASS x") == "-ERR USER first"
        assert c.cmd("STLS") == "-ERR STLS is not available"
        assert c.cmd("APOP ptalice 0123456789abcdef0123456789abcdef") == \
            "-ERR APOP is not enabled on this server"
        assert c.cmd("AUTH X-UNKNOWN") == "-ERR unsupported authentication mechanism"
        assert c.cmd("QUIT extra") == "-ERR syntax error in arguments"
        assert c.cmd("QUIT") == "+OK bye"


def test_auth_without_mechanism_lists_them(server):
    with Pop3(server.port) as c:
        st, mechs = c.multi("AUTH")
        assert st == "+OK"
        assert "PLAIN" in mechs and "LOGIN" in mechs


# ---- TRANSACTION state ----

def test_capa_after_login(any_server):
    """RFC 2449 section 5: what the AUTHORIZATION state offered (USER, the
    SASL line, RFC 5034 section 3) is listed after the login too; STLS is
    not, it is no longer possible."""
    fill(any_server)
    with Pop3(any_server.port) as c:
        _, before = c.multi("CAPA")
        assert c.login().startswith("+OK")
        st, caps = c.multi("CAPA")
        assert st == "+OK capability list follows"
        for cap in CAPA_COMMON:
            assert cap in caps, caps
        assert "USER" in caps
        sasl = [x for x in caps if x.startswith("SASL ")]
        assert sasl == [x for x in before if x.startswith("SASL ")] and sasl, (before, caps)
        assert "STLS" not in caps
        assert c.cmd("QUIT").startswith("+OK")


AUTH_ONLY = ["USER ptalice", "PASS " + PASSWORD, "APOP ptalice 0123456789abcdef0123456789abcdef",
             "AUTH PLAIN", "AUTH", "STLS"]


def test_authorization_commands_refused_after_login(any_server):
    fill(any_server)
    with logged_in(any_server.port) as c:
        for cmd in AUTH_ONLY:
            assert c.cmd(cmd) == NOT_IN_STATE, cmd
        assert c.cmd("STAT").startswith("+OK 2 ")
        assert c.cmd("QUIT").startswith("+OK")


def test_every_transaction_command(any_server):
    names = fill(any_server)
    s1 = len(MSG1.replace(b"\n", b"\r\n"))
    s2 = len(MSG2.replace(b"\n", b"\r\n"))
    with Pop3(any_server.port) as c:
        assert c.cmd("USER ptalice") == "+OK"
        assert c.cmd("PASS " + PASSWORD) == f"+OK maildrop has 2 messages ({s1 + s2} octets)"
        assert c.cmd("STAT") == f"+OK 2 {s1 + s2}"
        assert c.multi("LIST") == (f"+OK 2 messages ({s1 + s2} octets)", [f"1 {s1}", f"2 {s2}"])
        assert c.cmd("LIST 2") == f"+OK 2 {s2}"
        assert c.multi("UIDL") == ("+OK unique-id listing follows",
                                   [f"1 {names[0]}", f"2 {names[1]}"])
        assert c.cmd("UIDL 1") == f"+OK 1 {names[0]}"
        assert c.retr_raw("RETR 2") == (f"+OK {s2} octets",
                                        MSG2.replace(b"\n.", b"\n..").replace(b"\n", b"\r\n"))
        assert c.retr_raw("TOP 1 1") == (f"+OK {s1} octets",
                                         b"From: a@example.org\r\nSubject: one\r\n\r\nline 1\r\n")
        assert c.cmd("NOOP") == "+OK"
        assert c.cmd("DELE 1") == "+OK message 1 deleted"
        assert c.cmd("STAT") == f"+OK 1 {s2}"
        assert c.multi("LIST") == (f"+OK 1 messages ({s2} octets)", [f"2 {s2}"])
        assert c.multi("UIDL") == ("+OK unique-id listing follows", [f"2 {names[1]}"])
        assert c.cmd("RSET") == f"+OK maildrop has 2 messages ({s1 + s2} octets)"
        assert c.cmd("STAT") == f"+OK 2 {s1 + s2}"
        assert c.cmd("DELE 2") == "+OK message 2 deleted"
        assert c.cmd("QUIT") == "+OK postern signing off (1 message deleted)"
        assert c.is_closed()
    assert len(any_server.maildirs["ptalice"].files()) == 1


def test_lowercase_and_mixed_case_commands(server):
    fill(server)
    with Pop3(server.port) as c:
        assert c.cmd("user ptalice") == "+OK"
        assert c.cmd("pAsS " + PASSWORD).startswith("+OK maildrop has 2")
        assert c.cmd("stat").startswith("+OK 2 ")
        assert c.cmd("list 1").startswith("+OK 1 ")
        assert c.cmd("Uidl 2").startswith("+OK 2 ")
        st, body = c.retr_raw("retr 1")
        assert st.startswith("+OK") and body.endswith(b"line 2\r\n")
        assert c.cmd("noop") == "+OK"
        # A bare LF ends a command line too.
        c.send(b"NOOP\nSTAT\n")
        assert c.line() == "+OK"
        assert c.line().startswith("+OK 2 ")
        assert c.cmd("quit").startswith("+OK postern signing off")


# ---- strict parsing ----

STRICT = [
    ("RETR 0", "-ERR no such message"),
    ("RETR -1", "-ERR no such message"),
    ("RETR +1", "-ERR no such message"),
    ("RETR 1x", "-ERR no such message"),
    ("RETR 0x1", "-ERR no such message"),
    ("RETR 3", "-ERR no such message"),
    ("RETR 99999999999999999999", "-ERR no such message"),
    ("RETR 18446744073709551617", "-ERR no such message"),
    ("LIST 4294967297", "-ERR no such message"),
    ("LIST 4294967296", "-ERR no such message"),
    ("UIDL 4294967297", "-ERR no such message"),
    ("DELE 4294967297", "-ERR no such message"),
    ("LIST 1 2", "-ERR syntax error in arguments"),
    ("UIDL 1 2", "-ERR syntax error in arguments"),
    ("RETR", "-ERR syntax error in arguments"),
    ("RETR 1 2", "-ERR syntax error in arguments"),
    ("RETR  1", "-ERR syntax error in arguments"),
    ("DELE", "-ERR syntax error in arguments"),
    ("STAT 1", "-ERR syntax error in arguments"),
    ("NOOP x", "-ERR syntax error in arguments"),
    ("RSET x", "-ERR syntax error in arguments"),
    ("TOP 1", "-ERR syntax error in arguments"),
    ("TOP", "-ERR syntax error in arguments"),
    ("TOP 1 2 3", "-ERR syntax error in arguments"),
    ("TOP 1 -1", "-ERR invalid line count"),
    ("TOP 1 x", "-ERR invalid line count"),
    ("TOP 1 99999999999999999999", "-ERR invalid line count"),
    ("TOP 0 1", "-ERR no such message"),
    ("TOP 3 1", "-ERR no such message"),
    ("RETRX 1", "-ERR unknown command"),
    ("RET 1", "-ERR unknown command"),
    (" STAT", "-ERR unknown command"),
    ("STAT\t", "-ERR unknown command"),
    ("", "-ERR unknown command"),
]


def test_strict_argument_parsing(any_server):
    fill(any_server)
    with logged_in(any_server.port) as c:
        for cmd, want in STRICT:
            assert c.cmd(cmd) == want, cmd
        # Nothing above was taken for a real command: both messages are
        # there and none is deleted.
        assert c.cmd("STAT").startswith("+OK 2 ")
        assert c.cmd("LIST 1 ").startswith("+OK 1 ")    # trailing space tolerated
        assert c.cmd("QUIT") == "+OK postern signing off (0 messages deleted)"
    assert len(any_server.maildirs["ptalice"].files()) == 2


def test_top_with_huge_line_count_is_whole_message(server):
    fill(server)
    with logged_in(server.port) as c:
        st, body = c.retr_raw("TOP 1 18446744073709551615")
        # Beyond INT64_MAX it is refused; just below it is "all of it".
        assert st == "-ERR invalid line count"
        st, body = c.retr_raw("TOP 1 9223372036854775807")
        assert st.startswith("+OK") and body == MSG1.replace(b"\n", b"\r\n")
        c.quit()


def test_nul_bytes(any_server):
    fill(any_server)
    with Pop3(any_server.port) as c:
        assert c.cmd(b"US\0ER ptalice") == "-ERR invalid characters in command"
        assert c.cmd(b"\0") == "-ERR invalid characters in command"
        assert c.cmd(b"USER ptalice\0") == "-ERR invalid characters in command"
        # The NUL line did not set a user: PASS needs USER first.
        assert c.cmd("PASS " + PASSWORD) == "-ERR USER first"
        assert c.login().startswith("+OK maildrop has 2")
        assert c.cmd(b"STAT\0") == "-ERR invalid characters in command"
        assert c.cmd(b"DELE 1\0") == "-ERR invalid characters in command"
        assert c.cmd(b"\0DELE 2") == "-ERR invalid characters in command"
        assert c.cmd(b"\x01\x02\x7f\xff") == "-ERR invalid characters in command"
        assert c.cmd("STAT").startswith("+OK 2 ")
        assert c.cmd("QUIT") == "+OK postern signing off (0 messages deleted)"
    assert len(any_server.maildirs["ptalice"].files()) == 2


def test_overlong_line_tail_is_not_a_command_before_login(any_server):
    with Pop3(any_server.port) as c:
        c.send(b"X" * 2000 + b"QUIT\r\n")
        assert c.line() == "-ERR line too long"
        # The tail "QUIT" was discarded, not executed: still connected.
        assert c.cmd("CAPA") == "+OK capability list follows"
        c.raw_until()
        c.send(b" " * 1500 + b"QUIT\r\n")
        assert c.line() == "-ERR line too long"
        assert c.cmd("QUIT") == "+OK bye"


def test_overlong_line_tail_is_not_a_command_after_login(any_server):
    fill(any_server)
    with logged_in(any_server.port) as c:
        c.send(b"X" * 2000 + b"QUIT\r\n")
        assert c.line() == "-ERR line too long"
        c.send(b"X" * 2000 + b"\r\nDELE 1\r\n")
        assert c.line() == "-ERR line too long"
        assert c.line() == "+OK message 1 deleted"
        c.send(b"A" * 1100 + b" DELE 2\r\n")
        assert c.line() == "-ERR line too long"
        assert c.cmd("NOOP") == "+OK"
        assert c.cmd("STAT").startswith("+OK 1 ")
        assert c.cmd("QUIT") == "+OK postern signing off (1 message deleted)"


@pytest.mark.parametrize("login", [False, True], ids=["before-login", "after-login"])
def test_ten_megabyte_line_gets_one_error(server, login):
    fill(server)
    c = logged_in(server.port) if login else Pop3(server.port)
    with c:
        # Sent in pieces with no line end for a long while: one -ERR, the
        # rest is skipped up to the LF, and the "QUIT" inside is not run.
        chunk = b"QUIT " * 20000                  # 100 kB
        for _ in range(100):
            c.send(chunk)
        c.send(b"\r\nNOOP\r\n" if login else b"\r\nCAPA\r\n")
        assert c.line() == "-ERR line too long"
        nxt = c.line()
        assert nxt == ("+OK" if login else "+OK capability list follows"), nxt
        if not login:
            c.raw_until()
        assert c.cmd("QUIT").startswith("+OK")


def test_200_bad_commands_after_login(any_server):
    fill(any_server)
    with logged_in(any_server.port) as c:
        bad = [b"XYZZY", b"RETR 0", b"LIST 1 2", b"\0", b"X" * 1500, b"USER x", b"TOP 1"]
        for i in range(200):
            r = c.cmd(bad[i % len(bad)])
            assert r.startswith("-ERR "), (i, r)
        assert c.cmd("STAT").startswith("+OK 2 ")
        st, body = c.retr_raw("RETR 1")
        assert st.startswith("+OK") and body == MSG1.replace(b"\n", b"\r\n")
        assert c.cmd("QUIT") == "+OK postern signing off (0 messages deleted)"
    # The log is not flooded: the first 5 bad lines after the login are
    # logged (postern(8)), over-long ones included, the rest only answered.
    log = any_server.logtext()
    logged = log.count("bad command: user=<ptalice>") + log.count("line too long: user=<ptalice>")
    assert logged == 5, log


def test_bad_lines_before_login_logged_five_times(any_server):
    with Pop3(any_server.port) as c:
        bad = [b"XYZZY", b"STAT", b"USER", b"\x01", b"X" * 1500]
        for i in range(20):
            assert c.cmd(bad[i % len(bad)]).startswith("-ERR "), i
        assert c.cmd("QUIT") == "+OK bye"
    log = any_server.logtext()
    logged = log.count("bad command: rip=") + log.count("line too long: rip=")
    assert logged == 5, log


def test_max_login_commands_closes_connection(any_server):
    with Pop3(any_server.port) as c:
        for i in range(30):
            assert c.cmd("XYZZY") == "-ERR unknown command", i
        assert c.cmd("XYZZY") == "-ERR too many commands before login, closing connection"
        assert c.is_closed()
    assert "too many commands before login" in any_server.logtext()


def test_max_login_commands_configurable(server_factory):
    s = server_factory(extra_conf="max_login_commands = 5\n").start()
    with Pop3(s.port) as c:
        for _ in range(2):
            assert c.cmd("CAPA").startswith("+OK")
            c.raw_until()
        assert c.cmd("USER ptalice") == "+OK"
        assert c.cmd("NOOP") == NOT_IN_STATE
        assert c.cmd("USER ptalice") == "+OK"
        # The sixth command, even a good PASS, is over the limit.
        assert c.cmd("PASS " + PASSWORD) == \
            "-ERR too many commands before login, closing connection"
        assert c.is_closed()


# ---- pipelining ----

def test_pipelined_session_in_one_write(any_server):
    fill(any_server)
    s1 = len(MSG1.replace(b"\n", b"\r\n"))
    s2 = len(MSG2.replace(b"\n", b"\r\n"))
    with Pop3(any_server.port) as c:
        c.send(f"USER ptalice\r\nPASS {PASSWORD}\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 1\r\n"
               "DELE 2\r\nLIST 2\r\nNOOP\r\nQUIT\r\n")
        assert c.line() == "+OK"
        assert c.line() == f"+OK maildrop has 2 messages ({s1 + s2} octets)"
        assert c.line() == f"+OK 2 {s1 + s2}"
        assert c.line() == f"+OK 2 messages ({s1 + s2} octets)"
        assert c.raw_until() == f"1 {s1}\r\n2 {s2}\r\n".encode()
        assert c.line() == "+OK unique-id listing follows"
        assert len(c.raw_until().split(b"\r\n")) == 3
        assert c.line() == f"+OK {s1} octets"
        assert c.raw_until() == MSG1.replace(b"\n", b"\r\n")
        assert c.line() == "+OK message 2 deleted"
        assert c.line() == "-ERR message is deleted"
        assert c.line() == "+OK"
        assert c.line() == "+OK postern signing off (1 message deleted)"
        assert c.is_closed()
    assert len(any_server.maildirs["ptalice"].files()) == 1


def test_pipelined_failed_login_then_good_login(any_server):
    fill(any_server)
    with Pop3(any_server.port) as c:
        c.send(f"CAPA\r\nUSER ptalice\r\nPASS wrong\r\nSTAT\r\nUSER ptalice\r\n"
               f"PASS {PASSWORD}\r\nSTAT\r\nQUIT\r\n")
        assert c.line() == "+OK capability list follows"
        c.raw_until()
        assert c.line() == "+OK"
        assert c.line() == "-ERR [AUTH] authentication failed"
        assert c.line() == NOT_IN_STATE
        assert c.line() == "+OK"
        assert c.line().startswith("+OK maildrop has 2 messages")
        assert c.line().startswith("+OK 2 ")
        assert c.line() == "+OK postern signing off (0 messages deleted)"


def test_many_pipelined_commands_after_login(any_server):
    fill(any_server)
    with logged_in(any_server.port) as c:
        n = 1000
        c.send(b"".join(b"LIST %d\r\n" % (1 + i % 2) for i in range(n)) + b"QUIT\r\n")
        for i in range(n):
            assert c.line().startswith("+OK %d " % (1 + i % 2)), i
        assert c.line().startswith("+OK postern signing off")


def test_pipelined_after_pass_in_large_batch(server):
    """Commands behind PASS in the same packet are handed to the mail
    process, even when they fill most of the pre-auth input buffer."""
    fill(server)
    with Pop3(server.port) as c:
        tail = b"NOOP\r\n" * 1200                # 7200 bytes behind PASS
        c.send(f"USER ptalice\r\nPASS {PASSWORD}\r\n".encode() + tail + b"STAT\r\nQUIT\r\n")
        assert c.line() == "+OK"
        assert c.line().startswith("+OK maildrop has 2")
        for i in range(1200):
            assert c.line() == "+OK", i
        assert c.line().startswith("+OK 2 ")
        assert c.line().startswith("+OK postern signing off")


# ---- timers ----

def test_login_timeout(server_factory):
    s = server_factory(extra_conf="login_timeout = 2s\n").start()
    with Pop3(s.port) as c:
        t0 = time.time()
        c.sock.settimeout(10)
        assert c.line() == "-ERR login timeout, closing connection"
        took = time.time() - t0
        assert 1.5 <= took <= 5, took
        assert c.is_closed()
    # The timer is for the whole login, not per line: a slow talker who
    # keeps sending commands is cut off too.
    with Pop3(s.port) as c:
        t0 = time.time()
        got = None
        for _ in range(8):
            try:
                r = c.cmd("CAPA")
            except Exception:
                break
            if r.startswith("-ERR login timeout"):
                got = r
                break
            c.raw_until()
            time.sleep(0.5)
        assert got == "-ERR login timeout, closing connection"
        assert time.time() - t0 <= 4


def test_autologout_does_not_delete(any_server_factory_timeout):
    s = any_server_factory_timeout
    names = fill(s)
    with logged_in(s.port) as c:
        assert c.cmd("DELE 1") == "+OK message 1 deleted"
        assert c.cmd("DELE 2") == "+OK message 2 deleted"
        c.sock.settimeout(10)
        t0 = time.time()
        assert c.line() == "-ERR autologout: idle for too long"
        assert 1.5 <= time.time() - t0 <= 5
        assert c.is_closed()
    files = s.maildirs["ptalice"].files()
    assert len(files) == 2
    assert all(any(n in f for n in names) for f in files)
    assert wait_until(lambda: "reason=timeout" in s.logtext(), 5)


@pytest.fixture(params=["standalone", "inetd"])
def any_server_factory_timeout(request, server_factory):
    s = server_factory(extra_conf="timeout = 2s\n")
    s.mode = request.param
    return s.start() if request.param == "standalone" else s.start_inetd()


def test_inetd_nonblocking_socket(server_factory):
    """An inetd that hands over a non-blocking socket: reads still wait for
    the client (no false autologout), a 4 MB RETR comes through whole,
    and the idle timeout still holds."""
    s = server_factory(extra_conf="timeout = 2s\n").start_inetd(nonblocking=True)
    body = b"Subject: big\n\n" + (b"z" * 99 + b"\n") * 40000
    s.maildirs["ptalice"].add(body)
    with logged_in(s.port) as c:
        time.sleep(0.5)
        assert c.cmd("STAT") == "+OK 1 %d" % (len(body) + body.count(b"\n"))
        time.sleep(1)
        assert c.cmd("NOOP") == "+OK"
        # The idle clock starts when the reply is all written, which may be
        # before the client has read it (loopback buffers can hold most of
        # 4 MB): time it from the command, the earliest it can start.
        t0 = time.time()
        c.sock.sendall(b"RETR 1\r\n")
        time.sleep(0.5)                  # let the server fill the socket buffer
        assert c.line().startswith("+OK")
        got = c.raw_until()
        assert got.replace(b"\r\n", b"\n") == body
        c.sock.settimeout(10)
        assert c.line() == "-ERR autologout: idle for too long"
        assert 1.9 <= time.time() - t0 <= 6
    assert "reason=timeout" in s.logtext() or wait_until(lambda: "reason=timeout" in s.logtext(), 5)


def test_activity_resets_the_autologout_timer(server_factory):
    s = server_factory(extra_conf="timeout = 2s\n").start()
    fill(s)
    with logged_in(s.port) as c:
        for _ in range(4):
            time.sleep(1)
            assert c.cmd("NOOP") == "+OK"
        assert c.cmd("QUIT").startswith("+OK")


def test_pipelined_after_pass_beyond_preauth_buffer(any_server):
    """More pipelined bytes behind PASS than the pre-auth process buffers,
    and a command split across the hand-over: nothing lost, nothing run
    twice, answers in order."""
    fill(any_server)
    with Pop3(any_server.port) as c:
        tail = b"".join(b"UIDL %d\r\n" % (1 + i % 2) for i in range(6000))     # ~50 kB
        c.send(f"USER ptalice\r\nPASS {PASSWORD}\r\n".encode() + tail + b"DELE 1\r\nST")
        assert c.line() == "+OK"
        assert c.line().startswith("+OK maildrop has 2")
        for i in range(6000):
            assert c.line().startswith("+OK %d " % (1 + i % 2)), i
        assert c.line() == "+OK message 1 deleted"
        time.sleep(0.2)
        c.send(b"AT\r\nQUIT\r\n")
        assert c.line().startswith("+OK 1 ")
        assert c.line() == "+OK postern signing off (1 message deleted)"


def test_ipv6_and_ipv4_listeners(server_factory):
    import socket as so
    from conftest import free_port
    s = server_factory()
    s6 = so.socket(so.AF_INET6)
    s6.bind(("::1", 0))
    p6 = s6.getsockname()[1]
    s6.close()
    text = open(s.conf).read().replace(f"listen = 127.0.0.1:{s.port}",
                                       f"listen = 127.0.0.1:{s.port}, [::1]:{p6}")
    s.write_conf(text)
    s.start()
    fill(s)
    c6 = so.create_connection(("::1", p6), timeout=10)
    c = Pop3.__new__(Pop3)
    c.sock, c.buf = c6, b""
    with c:
        assert c.line() == "+OK postern ready"
        # ::1 is loopback: plaintext USER is offered and accepted.
        assert c.login().startswith("+OK maildrop has 2")
        c.quit()
    with logged_in(s.port) as c:
        c.quit()
    assert wait_until(lambda: s.logtext().count("logout:") == 2, 5)
    log = s.logtext()
    assert "login: user=<ptalice> rip=::1 " in log
    assert "login: user=<ptalice> rip=127.0.0.1 " in log
