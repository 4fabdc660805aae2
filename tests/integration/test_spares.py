"""Spare connection processes (spare_sessions): the standalone master keeps
monitors whose pre-auth processes are already started and confined, and
hands each accepted socket to one of them."""
import os
import signal
import subprocess

import conftest
from conftest import comm
from pop3util import Pop3, procs_by_uid, status, user_uid, wait_until
from test_privsep import check_mail, check_preauth, live, postern_ids


def children_of(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                         text=True).stdout
    return [int(p) for p in out.split()]


def socket_fds(pid):
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                n += 1
        except OSError:
            pass
    return n


def login_and_quit(s):
    with Pop3(s.port) as c:
        assert c.login().startswith("+OK")
        assert c.cmd("QUIT").startswith("+OK")


def spares(s, n):
    got = wait_until(lambda: len(s.spares()) == n and s.spares(), 10)
    assert got and len(got) == n, (got, s.logtext())
    return sorted(got)


def test_spares_wait_confined(server):
    """Two spares by default; each is a root monitor holding only its three
    sockets (the master's channel, its pre-auth process's and the login
    report's), and its
    pre-auth process is already postern in the empty chroot with seccomp."""
    s = server
    for pid in spares(s, 2):
        st = status(pid)
        assert st["Uid"].split()[0] == "0"
        # The channel to the master, the socketpair to its pre-auth
        # process and the channel its login is reported on (srclimits.c):
        # no listener, no client socket.
        assert socket_fds(pid) == 3, os.listdir(f"/proc/{pid}/fd")
        kids = children_of(pid)
        assert len(kids) == 1
        check_preauth(kids[0])
        # only its monitor's socket: not the login-report channel
        assert socket_fds(kids[0]) == 1, os.listdir(f"/proc/{kids[0]}/fd")
        pst = status(kids[0])
        # (The ASan run turns seccomp off through POSTERN_TEST_CONF.)
        assert pst["Seccomp"] == ("0" if "seccomp = no" in conftest.TEST_CONF else "2")
        assert comm(kids[0]) == "postern"
        # Idle spares are not sessions.
    assert s.children() == []


def test_a_spare_takes_the_connection_and_is_replaced(server):
    s = server
    s.maildirs["ptalice"].add(b"Subject: x\n\nhello\n")
    before = spares(s, 2)
    c = Pop3(s.port)
    try:
        assert c.login().startswith("+OK maildrop has 1")
        mail = procs_by_uid(s, user_uid("ptalice"))
        assert len(mail) == 1 and mail[0] in before, (mail, before)
        assert comm(mail[0]) == "postern"
        check_mail(mail[0], "ptalice", s.maildirs["ptalice"].path)
        # The master started a new spare in its place.
        after = spares(s, 2)
        assert mail[0] not in after and len(set(after) - set(before)) == 1
        first, body = c.multi("RETR 1")
        assert first.startswith("+OK") and body[-1] == "hello", body
        assert c.cmd("QUIT").startswith("+OK")
    finally:
        c.close()
    assert wait_until(lambda: s.children() == [], 5)


def test_many_sessions_in_a_row_all_served(server):
    s = server
    for i in range(30):
        login_and_quit(s)
    spares(s, 2)
    assert wait_until(lambda: s.children() == [], 5)


def test_reload_replaces_the_spares(server):
    s = server
    before = spares(s, 2)
    s.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: not (set(s.spares()) & set(before)) and len(s.spares()) == 2, 10), \
        (before, s.spares())
    # The old ones and their pre-auth processes are gone, not orphaned.
    assert wait_until(lambda: not live(before), 5)
    login_and_quit(s)


def test_a_spare_whose_preauth_process_dies_is_replaced(server):
    s = server
    before = spares(s, 2)
    victim = before[0]
    pre = children_of(victim)[0]
    os.kill(pre, signal.SIGKILL)
    assert wait_until(lambda: victim not in live([victim]) or not live([victim]), 5)
    assert wait_until(lambda: "ended before a client came" in s.logtext(), 5), s.logtext()
    # Back to two after the one-second pause, and sessions work meanwhile.
    login_and_quit(s)
    spares(s, 2)


def test_spare_sessions_zero(server_factory):
    s = server_factory(extra_conf="spare_sessions = 0\n").start()
    c = Pop3(s.port)
    try:
        pu, _ = postern_ids()
        assert len(procs_by_uid(s, pu)) == 1
        assert c.login().startswith("+OK")
        assert c.cmd("QUIT").startswith("+OK")
    finally:
        c.close()
    assert s.spares() == []
    assert wait_until(lambda: s.children() == [], 5)


def test_spare_sessions_configurable(server_factory):
    s = server_factory(extra_conf="spare_sessions = 5\n").start()
    spares(s, 5)


def test_spares_do_not_count_as_sessions(server_factory):
    """max_sessions = 1 with two spares: one session, the second refused."""
    s = server_factory(extra_conf="max_sessions = 1\n").start()
    spares(s, 2)
    a = Pop3(s.port)
    try:
        assert a.login().startswith("+OK")
        b = Pop3(s.port)
        try:
            assert b.greeting.startswith("-ERR [SYS/TEMP]"), b.greeting
        finally:
            b.close()
    finally:
        a.close()


def test_a_killed_idle_spare_is_logged_once_and_replaced(server):
    s = server
    victim = spares(s, 2)[0]
    os.kill(victim, signal.SIGKILL)
    assert wait_until(lambda: "ended before a client came" in s.logtext(), 5), s.logtext()
    assert wait_until(lambda: len(s.spares()) == 2 and victim not in s.spares(), 5)
    # A spare is not a session: no "session process killed" line for it.
    assert "killed by signal" not in s.logtext(), s.logtext()
