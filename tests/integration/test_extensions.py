"""The protocol extensions of issue 17: UID-PARAM and DELI (drafts of the
pop3svc design), RFC 2449 LOGIN-DELAY and EXPIRE, and the SLEEP state
(draft-billpg-pop3-sleeping-00).  Every command and response code in the
right and the wrong state, bad arguments, pipelining, and each extension
turned off.  Driven with the raw client of pop3util."""
import os

import pytest

from pop3util import Pop3, logged_in, uidl_of, wait_until, wire_body, wire_size

NOT_IN_STATE = "-ERR command not valid in this state"
NOT_FOUND = "-ERR [UID/NOT-FOUND] no message with that unique-id"

MSGS = [b"From: a@example.org\nSubject: one\n\nbody one\n",
        b"From: b@example.org\nSubject: two\n\nbody two\nmore\n",
        b"From: c@example.org\nSubject: three\n\n.dotted\n"]


def fill(server, user="ptalice"):
    md = server.maildirs[user]
    return [md.add(m) for m in MSGS]


def capa(c):
    st, caps = c.multi("CAPA")
    assert st.startswith("+OK"), st
    return caps


# ---- UID-PARAM ----

def test_uid_param_advertised_before_and_after_login(server):
    fill(server)
    with Pop3(server.port) as c:
        assert "UID-PARAM" in capa(c)
        assert c.login().startswith("+OK")
        assert "UID-PARAM" in capa(c)


def test_uid_param_every_command(server):
    names = fill(server)
    u = [uidl_of(n) for n in names]
    with logged_in(server.port) as c:
        assert c.cmd(f"LIST UID:{u[1]}") == f"+OK 2 {wire_size(MSGS[1])}"
        assert c.cmd(f"UIDL UID:{u[2]}") == f"+OK 3 {u[2]}"
        # The prefix in any case.
        assert c.cmd(f"uidl uid:{u[0]}") == f"+OK 1 {u[0]}"
        assert c.cmd(f"LIST Uid:{u[0]}") == f"+OK 1 {wire_size(MSGS[0])}"
        st, body = c.retr_raw(f"RETR UID:{u[1]}")
        assert st == f"+OK {wire_size(MSGS[1])} octets"
        assert body == MSGS[1].replace(b"\n", b"\r\n")
        st, body = c.retr_raw(f"TOP UID:{u[2]} 0")
        assert st.startswith("+OK") and b"Subject: three" in body and b"dotted" not in body
        # A number keeps its RFC 1939 meaning.
        assert c.cmd("LIST 2") == f"+OK 2 {wire_size(MSGS[1])}"
        assert c.cmd(f"DELE UID:{u[0]}") == "+OK message 1 deleted"
        assert c.cmd(f"DELE UID:{u[0]}") == "-ERR message is deleted"
        assert c.cmd(f"RETR UID:{u[0]}") == "-ERR message is deleted"
        assert c.cmd(f"LIST UID:{u[0]}") == "-ERR message is deleted"
        assert c.cmd("RSET").startswith("+OK")
        assert c.cmd(f"UIDL UID:{u[0]}") == f"+OK 1 {u[0]}"
        assert c.cmd(f"DELE UID:{u[2]}") == "+OK message 3 deleted"
        assert c.quit().startswith("+OK")
    assert server.maildirs["ptalice"].contents() == sorted(MSGS[:2])


def test_uid_param_unknown_and_bad_ids(server):
    fill(server)
    with logged_in(server.port) as c:
        assert c.cmd("RETR UID:nosuchid") == NOT_FOUND
        assert c.cmd("LIST UID:x") == NOT_FOUND
        assert c.cmd("UIDL UID:" + "y" * 70) == NOT_FOUND
        # Malformed: empty, 71 characters, a byte above 0x7E.
        assert c.cmd("RETR UID:") == "-ERR invalid unique-id"
        assert c.cmd("DELE UID:" + "y" * 71) == "-ERR invalid unique-id"
        assert c.cmd(b"LIST UID:ab\x7f") == "-ERR invalid unique-id"
        assert c.cmd(b"LIST UID:\xe9t\xe9") == "-ERR invalid unique-id"
        # Control characters never reach the command: the line is refused.
        assert c.cmd(b"LIST UID:a\x01b") == "-ERR invalid characters in command"
        # Not the prefix: a bad message number.
        assert c.cmd("LIST UIDX:1") == "-ERR no such message"
        assert c.cmd("STAT") == "+OK 3 %d" % sum(wire_size(m) for m in MSGS)


def test_uid_param_does_not_see_later_deliveries(server):
    fill(server)
    with logged_in(server.port) as c:
        late = server.maildirs["ptalice"].add(b"Subject: late\n\nx\n")
        assert c.cmd(f"RETR UID:{uidl_of(late)}") == NOT_FOUND
        assert c.cmd(f"LIST UID:{uidl_of(late)}") == NOT_FOUND
        assert c.quit().startswith("+OK")
    with logged_in(server.port) as c:
        assert c.cmd(f"UIDL UID:{uidl_of(late)}") == f"+OK 4 {uidl_of(late)}"


def test_uid_param_refused_before_login(server):
    names = fill(server)
    with Pop3(server.port) as c:
        assert c.cmd(f"RETR UID:{uidl_of(names[0])}") == NOT_IN_STATE


def test_uid_param_pipelined(server):
    names = fill(server)
    u = [uidl_of(n) for n in names]
    with logged_in(server.port) as c:
        c.send("".join(f"LIST UID:{x}\r\n" for x in u) + "UIDL UID:none\r\n")
        for i, x in enumerate(u):
            assert c.line() == f"+OK {i + 1} {wire_size(MSGS[i])}"
        assert c.line() == NOT_FOUND


def test_uid_param_off(server_factory):
    s = server_factory(extra_conf="uid_param = no\n").start()
    names = fill(s)
    with Pop3(s.port) as c:
        assert "UID-PARAM" not in capa(c)
        assert c.login().startswith("+OK")
        assert "UID-PARAM" not in capa(c)
        assert c.cmd(f"LIST UID:{uidl_of(names[0])}") == "-ERR no such message"


# ---- DELI ----

def test_deli_removes_at_once_and_keeps_numbers(server):
    names = fill(server)
    md = server.maildirs["ptalice"]
    with Pop3(server.port) as c:
        assert "DELI" in capa(c)
        assert c.cmd("DELI 1") == NOT_IN_STATE
        assert c.login().startswith("+OK")
        assert "DELI" in capa(c)
        assert c.cmd("DELI 2") == "+OK message 2 removed"
        # Gone from the store now, before any QUIT.
        assert md.contents() == sorted([MSGS[0], MSGS[2]])
        # Hidden for the rest of the session; the others keep their numbers.
        assert c.cmd("LIST 2") == "-ERR no such message"
        assert c.cmd("RETR 2") == "-ERR no such message"
        assert c.cmd("DELI 2") == "-ERR no such message"
        assert c.cmd(f"UIDL UID:{uidl_of(names[1])}") == NOT_FOUND
        assert c.cmd("LIST 3") == f"+OK 3 {wire_size(MSGS[2])}"
        st, lines = c.multi("UIDL")
        assert lines == [f"1 {uidl_of(names[0])}", f"3 {uidl_of(names[2])}"]
        assert c.cmd("STAT") == "+OK 2 %d" % (wire_size(MSGS[0]) + wire_size(MSGS[2]))
        # RSET takes back DELE, not DELI.
        assert c.cmd("DELE 1").startswith("+OK")
        assert c.cmd("RSET") == "+OK maildrop has 2 messages (%d octets)" % (
            wire_size(MSGS[0]) + wire_size(MSGS[2]))
        assert c.cmd(f"DELI UID:{uidl_of(names[2])}") == "+OK message 3 removed"
        assert c.cmd("DELE 1") == "+OK message 1 deleted"
        assert c.cmd("DELI 1") == "-ERR message is deleted"
        assert c.quit() == "+OK postern signing off (1 message deleted)"
    assert md.contents() == []
    assert wait_until(lambda: "dele=1/" in server.logtext() and "deli=2/" in server.logtext(), 5)


def test_deli_bad_arguments(server):
    fill(server)
    with logged_in(server.port) as c:
        assert c.cmd("DELI 0") == "-ERR no such message"
        assert c.cmd("DELI 4") == "-ERR no such message"
        assert c.cmd("DELI") == "-ERR syntax error in arguments"
        assert c.cmd("DELI 1 2") == "-ERR syntax error in arguments"
        assert c.cmd("DELI -1") == "-ERR no such message"
        assert c.cmd("DELI UID:") == "-ERR invalid unique-id"
        assert c.cmd("STAT").startswith("+OK 3 ")


def test_deli_then_dropped_connection(server):
    fill(server)
    md = server.maildirs["ptalice"]
    c = logged_in(server.port)
    assert c.cmd("DELE 1").startswith("+OK")
    assert c.cmd("DELI 3") == "+OK message 3 removed"
    c.close()
    # DELI stays done; the DELE of a dropped session does not.
    assert wait_until(lambda: "reason=disconnected" in server.logtext(), 5)
    assert md.contents() == sorted(MSGS[:2])


def test_deli_file_already_gone(server):
    names = fill(server)
    md = server.maildirs["ptalice"]
    with logged_in(server.port) as c:
        # The login moved it to cur/ (with a flag part): remove it there.
        [f] = [f for f in md.files() if os.path.basename(f).startswith(names[0])]
        os.unlink(os.path.join(md.path, f))
        assert c.cmd("DELI 1") == "+OK message 1 removed"
        assert c.cmd("STAT").startswith("+OK 2 ")


def test_deli_cannot_remove(server):
    fill(server)
    md = server.maildirs["ptalice"]
    with logged_in(server.port) as c:
        # The login moved them to cur/; a directory the owner cannot write.
        os.chmod(os.path.join(md.path, "cur"), 0o500)
        try:
            assert c.cmd("DELI 1") == "-ERR [SYS/TEMP] message could not be removed"
            assert c.cmd("LIST 1").startswith("+OK 1 ")
        finally:
            os.chmod(os.path.join(md.path, "cur"), 0o700)
    assert len(md.contents()) == 3


def test_deli_keeps_maildirsize(server):
    fill(server)
    md = server.maildirs["ptalice"]
    ms = os.path.join(md.path, "maildirsize")
    with open(ms, "w") as f:
        f.write("0S\n%d 3\n" % sum(len(m) for m in MSGS))
    os.chown(ms, md.uid, md.gid)
    with logged_in(server.port) as c:
        assert c.cmd("DELI 2") == "+OK message 2 removed"
        with open(ms) as f:
            assert f.read().splitlines()[-1] == "-%d -1" % len(MSGS[1])


def test_deli_pipelined(server):
    fill(server)
    with logged_in(server.port) as c:
        c.send("DELI 1\r\nDELI 1\r\nSTAT\r\n")
        assert c.line() == "+OK message 1 removed"
        assert c.line() == "-ERR no such message"
        assert c.line().startswith("+OK 2 ")


def test_deli_off(server_factory):
    s = server_factory(extra_conf="deli = no\n").start()
    fill(s)
    with logged_in(s.port) as c:
        assert "DELI" not in capa(c)
        assert c.cmd("DELI 1") == "-ERR unknown command"
    assert len(s.maildirs["ptalice"].contents()) == 3


# ---- LOGIN-DELAY (RFC 2449 section 6.5) ----

def set_extra(server, user, extra):
    """Give user's passwd entry the extra field (8th) extra."""
    with open(server.passwd) as f:
        lines = f.read().splitlines()
    out = []
    for l in lines:
        if l.startswith(user + ":"):
            l = ":".join(l.split(":")[:7]) + ":" + extra
        out.append(l)
    with open(server.passwd, "w") as f:
        f.write("\n".join(out) + "\n")


def lastlogin(server, user="ptalice"):
    return os.path.join(server.maildirs[user].path, "postern-lastlogin")


def write_lastlogin(server, t, user="ptalice"):
    md = server.maildirs[user]
    p = lastlogin(server, user)
    with open(p, "w") as f:
        f.write(f"postern-lastlogin 1 {int(t)}\n")
    os.chown(p, md.uid, md.gid)


def test_login_delay_refuses_a_login_too_soon(server_factory):
    s = server_factory(extra_conf="login_delay = 1h\n").start()
    fill(s)
    with Pop3(s.port) as c:
        assert "LOGIN-DELAY 3600" in capa(c)
        assert c.login().startswith("+OK maildrop has 3")
        assert "LOGIN-DELAY 3600" in capa(c)
        assert c.quit().startswith("+OK")
    with open(lastlogin(s)) as f:
        assert f.read().startswith("postern-lastlogin 1 ")
    with Pop3(s.port) as c:
        # A wrong password is still [AUTH], not a hint about the delay.
        assert c.cmd("USER ptalice").startswith("+OK")
        assert c.cmd("PASS wrong").startswith("-ERR [AUTH]")
        assert c.login() == "-ERR [LOGIN-DELAY] minimum time between logins is 3600 seconds"
        assert c.is_closed()
    assert wait_until(lambda: "login-delay" in s.logtext(), 5)
    # The refused login took no lock and did not count as a login: the
    # record is the first session's, and another user is not affected.
    with logged_in(s.port, "ptbob") as c:
        assert c.quit().startswith("+OK")


def test_login_delay_record_is_in_the_maildir(server_factory):
    import time
    s = server_factory(extra_conf="login_delay = 60s\n").start()
    fill(s)
    # A login 61 s ago (another host, another process): fine.
    write_lastlogin(s, time.time() - 61)
    with logged_in(s.port) as c:
        assert c.quit().startswith("+OK")
    # 30 s ago: refused.
    write_lastlogin(s, time.time() - 30)
    with Pop3(s.port) as c:
        assert c.login().startswith("-ERR [LOGIN-DELAY]")
    # A little in the future (a host whose clock is ahead): as "just now".
    write_lastlogin(s, time.time() + 100)
    with Pop3(s.port) as c:
        assert c.login().startswith("-ERR [LOGIN-DELAY]")
    # Far in the future: a wrong clock, ignored and logged.
    write_lastlogin(s, time.time() + 100000)
    with logged_in(s.port) as c:
        assert c.quit().startswith("+OK")
    assert wait_until(lambda: "in the future: ignored" in s.logtext(), 5)


def test_login_delay_per_user(server_factory):
    s = server_factory(extra_conf="login_delay = 5m\n")
    set_extra(s, "ptbob", "login_delay=0")
    set_extra(s, "ptcarol", "userdb_login_delay=2m")
    s.start()
    with Pop3(s.port) as c:
        assert "LOGIN-DELAY 300 USER" in capa(c)
        assert c.login("ptbob").startswith("+OK")
        assert "LOGIN-DELAY 0" in capa(c)
        assert c.quit().startswith("+OK")
    with logged_in(s.port, "ptbob") as c:
        assert c.quit().startswith("+OK")
    with logged_in(s.port, "ptcarol") as c:
        assert "LOGIN-DELAY 120" in capa(c)
        assert c.quit().startswith("+OK")
    with Pop3(s.port) as c:
        assert c.login("ptcarol") == "-ERR [LOGIN-DELAY] minimum time between logins is 120 seconds"


def test_login_delay_off_by_default(server):
    fill(server)
    with Pop3(server.port) as c:
        assert not [x for x in capa(c) if x.startswith("LOGIN-DELAY")]
        assert c.login().startswith("+OK")
        assert c.quit().startswith("+OK")
    with logged_in(server.port) as c:
        assert c.quit().startswith("+OK")
    assert not os.path.exists(lastlogin(server))


def test_login_delay_per_user_ignored_when_off(server_factory):
    s = server_factory()
    set_extra(s, "ptalice", "login_delay=1h")
    s.start()
    with Pop3(s.port) as c:
        assert not [x for x in capa(c) if x.startswith("LOGIN-DELAY")]
    for _ in range(2):
        with logged_in(s.port) as c:
            assert c.quit().startswith("+OK")


# ---- EXPIRE (RFC 2449 section 6.7) ----

def retrieved(server, user="ptalice"):
    p = os.path.join(server.maildirs[user].path, "postern-retrieved")
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return f.read()


def test_expire_never_is_the_default(server):
    fill(server)
    with Pop3(server.port) as c:
        assert "EXPIRE NEVER" in capa(c)
        assert c.login().startswith("+OK")
        assert "EXPIRE NEVER" in capa(c)
        assert c.retr_raw("RETR 1")[0].startswith("+OK")
        assert c.quit() == "+OK postern signing off (0 messages deleted)"
    assert retrieved(server) is None
    assert len(server.maildirs["ptalice"].contents()) == 3


def test_expire_off_is_not_listed(server_factory):
    s = server_factory(extra_conf="expire = off\n").start()
    with Pop3(s.port) as c:
        assert not [x for x in capa(c) if x.startswith("EXPIRE")]


def test_expire_0_removes_what_was_retrieved_at_quit(server_factory):
    s = server_factory(extra_conf="expire = 0\n").start()
    fill(s)
    md = s.maildirs["ptalice"]
    # A dropped connection commits nothing, retrieved or not.
    c = logged_in(s.port)
    assert c.retr_raw("RETR 1")[0].startswith("+OK")
    c.close()
    assert wait_until(lambda: "reason=disconnected" in s.logtext(), 5)
    assert len(md.contents()) == 3
    with Pop3(s.port) as c:
        assert "EXPIRE 0" in capa(c)
        assert c.login().startswith("+OK maildrop has 3")
        assert c.retr_raw("RETR 2")[0].startswith("+OK")
        assert c.retr_raw("TOP 3 0")[0].startswith("+OK")   # TOP is not a retrieval
        assert c.quit() == "+OK postern signing off (1 message deleted)"
    assert md.contents() == sorted([MSGS[0], MSGS[2]])


def test_expire_days_removes_old_retrievals_at_login(server_factory):
    import time
    s = server_factory(extra_conf="expire = 5\n").start()
    names = fill(s)
    md = s.maildirs["ptalice"]
    with logged_in(s.port) as c:
        assert c.retr_raw("RETR 1")[0].startswith("+OK")
        assert c.retr_raw("RETR 3")[0].startswith("+OK")
        assert c.quit().startswith("+OK")
    rec = retrieved(s)
    assert rec.splitlines()[0] == "postern-retrieved 1"
    entries = dict(reversed(l.split(" ")) for l in rec.splitlines()[1:])
    assert set(entries) == {uidl_of(names[0]), uidl_of(names[2])}
    # Retrieved just now: kept over the next login.
    with logged_in(s.port) as c:
        assert c.cmd("STAT").startswith("+OK 3 ")
        assert c.quit().startswith("+OK")
    # Say message 1 was retrieved 6 days ago, message 3 4 days ago.
    p = os.path.join(md.path, "postern-retrieved")
    now = int(time.time())
    with open(p, "w") as f:
        f.write("postern-retrieved 1\n%d %s\n%d %s\n" % (
            now - 6 * 86400, uidl_of(names[0]), now - 4 * 86400, uidl_of(names[2])))
    os.chown(p, md.uid, md.gid)
    with logged_in(s.port) as c:
        # Gone at login; the rest numbered from 1 without a gap.
        assert c.cmd("STAT") == "+OK 2 %d" % (wire_size(MSGS[1]) + wire_size(MSGS[2]))
        assert c.cmd("UIDL 1") == f"+OK 1 {uidl_of(names[1])}"
        assert c.cmd("UIDL 2") == f"+OK 2 {uidl_of(names[2])}"
        assert c.quit().startswith("+OK")
    assert md.contents() == sorted([MSGS[1], MSGS[2]])
    assert wait_until(lambda: "expire: user=<ptalice> days=5 removed=1 " in s.logtext(), 5)
    # The record of the removed message is dropped at the next QUIT.
    assert uidl_of(names[0]) not in retrieved(s)


def test_expire_per_user(server_factory):
    s = server_factory(extra_conf="expire = 5\n")
    set_extra(s, "ptbob", "expire=never")
    s.start()
    fill(s, "ptbob")
    with Pop3(s.port) as c:
        assert "EXPIRE 5 USER" in capa(c)
        assert c.login("ptbob").startswith("+OK")
        assert "EXPIRE NEVER" in capa(c)
        assert c.retr_raw("RETR 1")[0].startswith("+OK")
        assert c.quit().startswith("+OK")
    assert retrieved(s, "ptbob") is None
    with logged_in(s.port, "ptalice") as c:
        assert "EXPIRE 5" in capa(c)


# ---- SLEEP (draft-billpg-pop3-sleeping-00) ----

def sleeper(server_factory, extra="", mode="standalone"):
    import uuid
    lock = f"/tmp/postern-sleeping-{uuid.uuid4().hex}.lock"
    s = server_factory(extra_conf=f"sleeping = yes\nsleeping_lock_file = {lock}\n" + extra)
    s.mode = mode
    s.start() if mode == "standalone" else s.start_inetd()
    return s


@pytest.fixture(params=["standalone", "inetd"])
def sleepy(request, server_factory):
    return sleeper(server_factory, mode=request.param)


def test_sleeping_off_by_default(server):
    fill(server)
    with Pop3(server.port) as c:
        assert "SLEEPING" not in capa(c)
        assert c.cmd("SLEE") == "-ERR unknown command"
        assert c.cmd("WAKE") == "-ERR unknown command"
        assert c.login().startswith("+OK")
        assert "SLEEPING" not in capa(c)
        assert c.cmd("SLEE") == "-ERR unknown command"
        assert c.cmd("WAKE") == "-ERR unknown command"
        assert c.cmd("STAT").startswith("+OK 3 ")


def test_sleep_states(sleepy):
    fill(sleepy)
    with Pop3(sleepy.port) as c:
        assert "SLEEPING" in capa(c)
        assert c.cmd("SLEE") == NOT_IN_STATE
        assert c.cmd("WAKE") == NOT_IN_STATE
        assert c.login().startswith("+OK maildrop has 3")
        assert "SLEEPING" in capa(c)
        assert c.cmd("WAKE") == NOT_IN_STATE
        assert c.cmd("SLEE x") == "-ERR syntax error in arguments"
        assert c.cmd("SLEE") == "+OK sleeping (0 messages deleted)"
        # In SLEEP: NOOP, QUIT, WAKE; anything else -ERR, CAPA included,
        # and the connection stays.
        for cmd in ("CAPA", "STAT", "LIST", "RETR 1", "DELE 1", "RSET", "UIDL", "TOP 1 0",
                    "SLEE", "DELI 1", "USER ptalice", "PASS x"):
            assert c.cmd(cmd) == NOT_IN_STATE, cmd
        assert c.cmd("XYZZY") == "-ERR unknown command"
        assert c.cmd("NOOP") == "+OK"
        assert c.cmd("WAKE x") == "-ERR syntax error in arguments"
        assert c.cmd("WAKE") == "+OK [ACTIVITY/NONE] maildrop has 3 messages (%d octets)" % (
            sum(wire_size(m) for m in MSGS))
        assert c.cmd("STAT").startswith("+OK 3 ")
        assert c.quit() == "+OK postern signing off (0 messages deleted)"
    assert wait_until(lambda: "wake: user=<ptalice>" in sleepy.logtext(), 5)


def test_sleep_commits_releases_lock_and_wake_sees_changes(sleepy):
    names = fill(sleepy)
    md = sleepy.maildirs["ptalice"]
    a = logged_in(sleepy.port)
    assert a.cmd("DELE 1") == "+OK message 1 deleted"
    assert a.cmd("SLEE") == "+OK sleeping (1 message deleted)"
    # Committed now, not at QUIT.
    assert md.contents() == sorted(MSGS[1:])
    # The lock is released: a second client logs in while the first sleeps.
    b = logged_in(sleepy.port)
    assert b.cmd("STAT").startswith("+OK 2 ")
    assert a.cmd("WAKE") == "-ERR [IN-USE] mailbox is in use by another session"
    # Still asleep after the refusal.
    assert a.cmd("STAT") == NOT_IN_STATE
    assert a.cmd("NOOP") == "+OK"
    assert b.cmd("DELE 1") == "+OK message 1 deleted"
    assert b.quit().startswith("+OK")
    assert b.is_closed()
    b.close()
    # After the second QUITs, WAKE succeeds and sees its changes.
    assert a.cmd("WAKE") == "+OK [ACTIVITY/NONE] maildrop has 1 message (%d octets)" % (
        wire_size(MSGS[2]))
    assert a.cmd("UIDL 1") == f"+OK 1 {uidl_of(names[2])}"
    st, body = a.retr_raw("RETR 1")
    assert body == wire_body(MSGS[2])
    assert a.quit() == "+OK postern signing off (0 messages deleted)"
    a.close()
    assert md.contents() == [MSGS[2]]


def test_wake_reports_new_mail(sleepy):
    fill(sleepy)
    md = sleepy.maildirs["ptalice"]
    with logged_in(sleepy.port) as c:
        assert c.cmd("DELE 3").startswith("+OK")
        assert c.cmd("SLEE") == "+OK sleeping (1 message deleted)"
        assert c.cmd("WAKE").startswith("+OK [ACTIVITY/NONE] maildrop has 2 messages")
        assert c.cmd("SLEE") == "+OK sleeping (0 messages deleted)"
        late = md.add(b"Subject: late\n\nnew one\n")
        assert c.cmd("WAKE").startswith("+OK [ACTIVITY/NEW] maildrop has 3 messages")
        # A fresh snapshot: the new message is seen, with the next number.
        assert c.cmd("UIDL 3") == f"+OK 3 {uidl_of(late)}"
        # Nothing new since: NONE again.
        assert c.cmd("SLEE").startswith("+OK sleeping")
        assert c.cmd("WAKE").startswith("+OK [ACTIVITY/NONE] maildrop has 3 messages")
        # A message removed by someone else while asleep is no activity.
        assert c.cmd("SLEE").startswith("+OK sleeping")
        for f in md.files():
            if os.path.basename(f).startswith(late):
                os.unlink(os.path.join(md.path, f))
        assert c.cmd("WAKE").startswith("+OK [ACTIVITY/NONE] maildrop has 2 messages")


def test_quit_in_sleep_commits_nothing_more(sleepy):
    fill(sleepy)
    md = sleepy.maildirs["ptalice"]
    with logged_in(sleepy.port) as c:
        assert c.cmd("DELE 2").startswith("+OK")
        assert c.cmd("SLEE") == "+OK sleeping (1 message deleted)"
        assert c.quit() == "+OK postern signing off"
        assert c.is_closed()
    assert md.contents() == [MSGS[0], MSGS[2]]
    assert wait_until(lambda: "reason=quit-asleep" in sleepy.logtext(), 5)
    # The mailbox is free for the next login.
    with logged_in(sleepy.port) as c:
        assert c.cmd("STAT").startswith("+OK 2 ")


def test_dropped_connection_in_sleep(sleepy):
    fill(sleepy)
    md = sleepy.maildirs["ptalice"]
    c = logged_in(sleepy.port)
    assert c.cmd("DELE 1").startswith("+OK")
    assert c.cmd("SLEE").startswith("+OK sleeping")
    c.close()
    assert wait_until(lambda: "reason=disconnected" in sleepy.logtext(), 5)
    assert md.contents() == sorted(MSGS[1:])
    # The session's processes are gone, its parent included.
    assert wait_until(lambda: not sleepy.children() if sleepy.mode == "standalone" else True, 5)
    with logged_in(sleepy.port) as c:
        assert c.cmd("STAT").startswith("+OK 2 ")


def test_sleep_pipelined_noops_and_wake(sleepy):
    fill(sleepy)
    with logged_in(sleepy.port) as c:
        assert c.cmd("SLEE").startswith("+OK sleeping")
        c.send("NOOP\r\nCAPA\r\nNOOP\r\nWAKE\r\nSTAT\r\n")
        assert c.line() == "+OK"
        assert c.line() == NOT_IN_STATE
        assert c.line() == "+OK"
        assert c.line().startswith("+OK [ACTIVITY/NONE]")
        assert c.line().startswith("+OK 3 ")


def test_wake_checks_the_current_credentials(sleepy):
    fill(sleepy)
    with open(sleepy.passwd) as f:
        original = f.read()
    with logged_in(sleepy.port) as c:
        assert c.cmd("SLEE").startswith("+OK sleeping")
        # The user removed from the passwd file while asleep.
        with open(sleepy.passwd, "w") as f:
            f.write("".join(l + "\n" for l in original.splitlines()
                            if not l.startswith("ptalice:")))
        assert c.cmd("WAKE") == "-ERR [AUTH] the account is no longer valid"
        assert c.cmd("NOOP") == "+OK"          # still asleep, still connected
        assert c.cmd("STAT") == NOT_IN_STATE
        # Locked ("!" before the hash).
        with open(sleepy.passwd, "w") as f:
            f.write(original.replace("ptalice:", "ptalice:!", 1))
        assert c.cmd("WAKE") == "-ERR [AUTH] the account is no longer valid"
        # Its password changed.
        from conftest import hash_password
        lines = original.splitlines()
        lines = [":".join([l.split(":")[0], hash_password("another one")] + l.split(":")[2:])
                 if l.startswith("ptalice:") else l for l in lines]
        with open(sleepy.passwd, "w") as f:
            f.write("\n".join(lines) + "\n")
        assert c.cmd("WAKE") == "-ERR [AUTH] the account is no longer valid"
        # Back as it was: WAKE works.
        with open(sleepy.passwd, "w") as f:
            f.write(original)
        assert c.cmd("WAKE").startswith("+OK [ACTIVITY/NONE]")
    assert wait_until(lambda: "wake refused: user=<ptalice>" in sleepy.logtext(), 5)


def test_sleep_limits(server_factory):
    s = sleeper(server_factory, "max_sleeping_per_user = 1\nmax_sleeping_sessions = 2\n")
    fill(s)
    fill(s, "ptbob")
    fill(s, "ptcarol")
    a = logged_in(s.port)
    assert a.cmd("SLEE").startswith("+OK sleeping")
    b = logged_in(s.port)
    assert b.cmd("DELE 1").startswith("+OK")
    # The user's one sleeping slot is taken: -ERR and nothing changed.
    assert b.cmd("SLEE") == "-ERR [SYS/TEMP] too many sleeping sessions of this mailbox"
    assert b.cmd("STAT").startswith("+OK 2 ")
    assert len(s.maildirs["ptalice"].contents()) == 3
    assert b.cmd("RSET").startswith("+OK")
    assert b.quit().startswith("+OK")
    b.close()
    bob = logged_in(s.port, "ptbob")
    assert bob.cmd("SLEE").startswith("+OK sleeping")
    # The server's two slots are taken.
    carol = logged_in(s.port, "ptcarol")
    assert carol.cmd("SLEE") == "-ERR [SYS/TEMP] too many sleeping sessions on this server"
    assert carol.cmd("STAT").startswith("+OK 3 ")
    # A WAKE gives a slot back.
    assert a.cmd("WAKE").startswith("+OK [ACTIVITY/NONE]")
    assert carol.cmd("SLEE").startswith("+OK sleeping")
    # And a session that ends gives its slot back too.
    bob.close()
    # (its root parent lets the slot go when it exits, just after the mail
    # process logs out; a refused SLEE changes nothing, so ask again)
    assert wait_until(lambda: a.cmd("SLEE").startswith("+OK sleeping"), 10)
    for c in (a, carol):
        assert c.quit() == "+OK postern signing off"
        c.close()


def test_sleep_timeout(server_factory):
    s = sleeper(server_factory, "sleep_timeout = 1s\n")
    fill(s)
    with logged_in(s.port) as c:
        assert c.cmd("SLEE").startswith("+OK sleeping")
        # No timing assertion: the sleeping idle limit ends it in the end.
        c.sock.settimeout(20)
        assert c.line() == "-ERR autologout: idle for too long"
        assert c.is_closed()
    assert wait_until(lambda: "reason=timeout" in s.logtext(), 5)


def test_sleep_wake_login_delay_and_expire(server_factory):
    # WAKE is a login: EXPIRE 0 removes what the session before SLEE
    # retrieved (with the DELEs at SLEE), and LOGIN-DELAY applies to WAKE.
    s = sleeper(server_factory, "expire = 0\nlogin_delay = 1h\n")
    fill(s)
    md = s.maildirs["ptalice"]
    with logged_in(s.port) as c:
        assert c.retr_raw("RETR 2")[0].startswith("+OK")
        assert c.cmd("SLEE") == "+OK sleeping (1 message deleted)"
        assert md.contents() == [MSGS[0], MSGS[2]]
        assert c.cmd("WAKE") == ("-ERR [LOGIN-DELAY] minimum time between logins "
                                 "is 3600 seconds")
        assert c.cmd("NOOP") == "+OK"
        write_lastlogin(s, 1000000000)
        assert c.cmd("WAKE").startswith("+OK [ACTIVITY/NONE] maildrop has 2 messages")


@pytest.mark.parametrize("mode", ["implicit", "stls"])
def test_sleep_over_tls(server_factory, test_ca, mode):
    # Over TLS the pre-auth process relays for the mail process; with a
    # root parent in between it is the parent's child, and the relay must
    # still carry SLEEP, WAKE and the end.
    import uuid
    from tlsutil import Pop, client_ctx, tls_server
    lock = f"/tmp/postern-sleeping-{uuid.uuid4().hex}.lock"
    s = tls_server(server_factory, test_ca,
                   extra_conf=f"sleeping = yes\nsleeping_lock_file = {lock}\n")
    s.start()
    fill(s)
    ctx = client_ctx(test_ca["ca"])
    if mode == "implicit":
        p = Pop(s.tls_port, tls_ctx=ctx)
    else:
        p = Pop(s.port)
        p.stls(ctx)
    assert "SLEEPING" in p.capa()
    p.login()
    assert p.cmd("DELE 1").startswith("+OK")
    assert p.cmd("SLEE") == "+OK sleeping (1 message deleted)"
    assert p.cmd("CAPA") == NOT_IN_STATE
    assert p.cmd("NOOP") == "+OK"
    late = s.maildirs["ptalice"].add(b"Subject: late\n\nx\n")
    assert p.cmd("WAKE").startswith("+OK [ACTIVITY/NEW] maildrop has 3 messages")
    assert p.cmd(f"UIDL 3") == f"+OK 3 {uidl_of(late)}"
    assert p.cmd("SLEE").startswith("+OK sleeping")
    assert p.cmd("QUIT") == "+OK postern signing off"
    assert wait_until(lambda: "reason=quit-asleep" in s.logtext(), 5)


# ---- postern -t ----

def test_check_mode_knows_the_extensions(server_factory):
    import subprocess
    from conftest import POSTERN
    s = server_factory(extra_conf="login_delay = 5m\nexpire = 30\n")
    set_extra(s, "ptbob", "login_delay=soon expire=7")
    set_extra(s, "ptcarol", "userdb_expire=-3 login_delay=2m")
    r = subprocess.run([POSTERN, "-f", s.conf, "-t"], capture_output=True, text=True)
    err = r.stderr.splitlines()
    assert any("user <ptbob>: bad login_delay value" in l for l in err), err
    assert any("user <ptcarol>: bad expire value" in l for l in err), err
    assert not any("ptbob>: bad expire" in l or "ptcarol>: bad login_delay" in l for l in err)
    # Sleeping sessions may not take all of max_sessions.
    with open(s.conf, "a") as f:
        f.write("sleeping = yes\nmax_sessions = 50\nmax_sleeping_sessions = 50\n")
    r = subprocess.run([POSTERN, "-f", s.conf, "-t"], capture_output=True, text=True)
    assert r.returncode != 0
    assert "max_sleeping_sessions between 1 and max_sessions - 1 (49)" in r.stderr
    with open(s.conf, "a") as f:
        f.write("max_sleeping_sessions = 49\n")
    r = subprocess.run([POSTERN, "-f", s.conf, "-t"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "between 1 and max_sessions" not in r.stderr, r.stderr
    r = subprocess.run([POSTERN, "-f", s.conf, "-T"], capture_output=True, text=True)
    for line in ("uid_param = yes", "deli = yes", "login_delay = 300s", "expire = 30",
                 "sleeping = yes", "sleep_timeout = 1800s", "max_sleeping_sessions = 49",
                 "max_sleeping_per_user = 2"):
        assert line in r.stdout.splitlines(), line
