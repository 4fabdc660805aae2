"""The protocol extensions of issue 17: UID-PARAM and DELI (drafts of the
pop3svc design), RFC 2449 LOGIN-DELAY and EXPIRE, and the SLEEP state
(draft-billpg-pop3-sleeping-00).  Every command and response code in the
right and the wrong state, bad arguments, pipelining, and each extension
turned off.  Driven with the raw client of pop3util."""
import os

import pytest

from pop3util import Pop3, logged_in, uidl_of, wait_until, wire_size

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
