"""Privilege separation and process life cycle (issue 2, DESIGN.md "Process
model"): the rights of each live process read from /proc during a session,
refusal of root and system accounts, the one-session lock and its release
on kill -9, no zombie or leftover process, SIGHUP and SIGTERM."""
import base64
import os
import poplib
import signal
import socket
import ssl
import subprocess
import time

import pytest

import conftest
from conftest import PASSWORD
from tlsutil import scram_auth
from pop3util import (Pop3, logged_in, memory_regions, procs_by_uid, status, uid_of,
                      user_uid, wait_until)

EMPTY_DIR = "/run/postern/empty"


def postern_ids():
    import pwd
    pw = pwd.getpwnam("postern")
    return pw.pw_uid, pw.pw_gid


def ppid_of(pid):
    return int(status(pid)["PPid"])


def live(pids):
    out = []
    for p in pids:
        try:
            if not status(p)["State"].startswith("Z"):
                out.append(p)
        except FileNotFoundError:
            pass
    return out


def starttime(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[19]


class Tracker:
    """Every process seen under the server, remembered with its start time
    so a leftover is found even after it was re-parented to init."""

    def __init__(self, server):
        self.server = server
        self.seen = {}

    def snap(self):
        for p in self.server.children():
            try:
                self.seen.setdefault(p, starttime(p))
            except (FileNotFoundError, ProcessLookupError):
                pass

    def alive(self):
        res = []
        for p, t in self.seen.items():
            try:
                if starttime(p) == t and not status(p)["State"].startswith("Z"):
                    res.append(p)
            except (FileNotFoundError, ProcessLookupError, IndexError):
                pass
        return res

    def zombies(self):
        res = []
        for p, t in self.seen.items():
            try:
                if starttime(p) == t and status(p)["State"].startswith("Z"):
                    res.append(p)
            except (FileNotFoundError, ProcessLookupError, IndexError):
                pass
        return res


def session_roots(server):
    """The connection monitors: children of the master, or in inetd mode
    the `postern -i` processes themselves."""
    if server.proc:
        return [p for p in live(server.children()) if ppid_of(p) == server.proc.pid]
    return [p.pid for p in server.inetd_children if p.poll() is None]


# ---- rights of the live processes ----

def check_preauth(pid):
    st = status(pid)
    pu, pg = postern_ids()
    assert [int(x) for x in st["Uid"].split()] == [pu] * 4, st["Uid"]
    assert [int(x) for x in st["Gid"].split()] == [pg] * 4, st["Gid"]
    assert st["Groups"] == ""
    assert st["NoNewPrivs"] == "1"
    assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0
    assert os.readlink(f"/proc/{pid}/root") == EMPTY_DIR
    assert os.listdir(f"/proc/{pid}/root") == []
    # Nothing writable is shared with the root processes (the monitors'
    # log-rate table is unmapped right after the fork).
    with open(f"/proc/{pid}/maps") as f:
        shared = [l for l in f if l.split()[1].startswith("rw") and l.split()[1][3] == "s"]
    assert shared == [], shared


def check_mail(pid, user, maildir):
    import pwd
    pw = pwd.getpwnam(user)
    st = status(pid)
    assert [int(x) for x in st["Uid"].split()] == [pw.pw_uid] * 4, st["Uid"]
    assert [int(x) for x in st["Gid"].split()] == [pw.pw_gid] * 4, st["Gid"]
    assert st["Groups"] == "", st["Groups"]
    assert st["NoNewPrivs"] == "1"
    assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0
    # The store reaches the Maildir through a directory descriptor; the
    # working directory is /, not the master's or the superserver's.
    assert os.readlink(f"/proc/{pid}/cwd") == "/"
    assert maildir in fd_targets(pid), fd_targets(pid)
    # Nothing writable is shared with the root processes (the monitor's
    # log-rate table is unmapped before the drop).
    with open(f"/proc/{pid}/maps") as f:
        shared = [l for l in f if l.split()[1].startswith("rw") and l.split()[1][3] == "s"]
    assert shared == [], shared


def test_process_rights_before_and_after_login(any_server):
    s = any_server
    s.maildirs["ptalice"].add(b"x\n")
    if s.proc:
        assert status(s.proc.pid)["Uid"].split()[0] == "0"      # the master
    # Connected, nothing sent yet.
    c = Pop3(s.port)
    try:
        pu, _ = postern_ids()
        # The master itself may send the greeting: a spare that took the
        # client is "postern-spare" (not a session) for a moment yet.
        assert wait_until(lambda: len(session_roots(s)) == 1, 5)
        pre = procs_by_uid(s, pu)
        assert len(pre) == 1, pre
        check_preauth(pre[0])
        mons = session_roots(s)
        assert len(mons) == 1
        assert uid_of(mons[0]) == 0                              # the monitor
        assert ppid_of(pre[0]) == mons[0]
        assert sorted(live(s.children())) == sorted(mons + pre)

        # Logged in, connection idle.  The monitor dropped to the mailbox
        # owner for good and is the mail process now: no root process is
        # left for the session.
        assert c.login().startswith("+OK maildrop has 1")
        mail = procs_by_uid(s, user_uid("ptalice"))
        assert mail == mons
        check_mail(mail[0], "ptalice", s.maildirs["ptalice"].path)
        # Plain connection: the pre-auth process handed the socket over and
        # left (reaped, no zombie); the mail process alone remains.
        assert wait_until(lambda: sorted(s.children()) == sorted(mail), 5), \
            [(p, uid_of(p)) for p in s.children()]
        if s.proc:
            assert ppid_of(mail[0]) == s.proc.pid
        # The mail process can still talk: it owns the client socket.
        assert c.cmd("STAT").startswith("+OK 1 ")
        assert c.cmd("QUIT").startswith("+OK")
    finally:
        c.close()
    assert wait_until(lambda: s.children() == [], 5)


def tcp_inodes_of_port(port):
    """Socket inodes of the TCP connections whose local or remote port is port."""
    out = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(name) as f:
            next(f)
            for line in f:
                fl = line.split()
                lport = int(fl[1].rsplit(":", 1)[1], 16)
                rport = int(fl[2].rsplit(":", 1)[1], 16)
                if port in (lport, rport):
                    out.add(fl[9])
    return out


def socket_inodes(pid):
    return {t[len("socket:["):-1] for t in fd_targets(pid) if t.startswith("socket:[")}


def test_failed_logins_leave_the_monitor_without_the_client_socket(any_server):
    """The pre-auth process sends the client socket right behind every
    credential check; after a failed check the monitor must have dropped
    it (else each attempt leaks a descriptor into a root process), and the
    next, good login must still hand over."""
    s = any_server
    s.maildirs["ptalice"].add(b"x\n")
    c = Pop3(s.port)
    try:
        # One answer from the pre-auth process: the monitor (maybe a spare
        # that the master greeted for) has handed it the client by now.
        c.send(b"CAPA\r\n")
        assert c.raw_until().startswith(b"+OK")
        mons = session_roots(s)
        assert len(mons) == 1
        client_inodes = tcp_inodes_of_port(c.sock.getsockname()[1])
        assert client_inodes
        before = len(fd_targets(mons[0]))
        # Two failures (the third would end the connection).
        assert c.cmd("USER ptalice").startswith("+OK")
        assert c.cmd("PASS wrong").startswith("-ERR [AUTH]")
        r = c.cmd("AUTH PLAIN " + __import__("base64").b64encode(b"\0ptalice\0nope").decode())
        assert r.startswith("-ERR [AUTH]"), r
        assert not (socket_inodes(mons[0]) & client_inodes)
        assert len(fd_targets(mons[0])) == before
        # Pipelined good login right after the failures: handed over whole.
        c.send(b"USER ptalice\r\nPASS " + PASSWORD.encode() + b"\r\nSTAT\r\n")
        assert c.line().startswith("+OK")
        assert c.line().startswith("+OK maildrop has 1")
        assert c.line().startswith("+OK 1 ")
        assert socket_inodes(mons[0]) & client_inodes     # the mail process has it
        assert c.cmd("QUIT").startswith("+OK")
    finally:
        c.close()


def test_tls_relay_stays_as_postern(server_factory, test_ca):
    s = server_factory(tls=[test_ca["mail.test"]]).start()
    s.maildirs["ptbob"].add(b"Subject: t\n\nover tls\n")
    ctx = ssl.create_default_context(cafile=test_ca["ca"])
    ctx.check_hostname = False
    p = poplib.POP3_SSL("127.0.0.1", s.tls_port, context=ctx, timeout=15)
    try:
        pu, _ = postern_ids()
        pre = procs_by_uid(s, pu)
        assert len(pre) == 1
        check_preauth(pre[0])
        p.user("ptbob")
        assert p.pass_(PASSWORD).startswith(b"+OK maildrop has 1")
        mail = procs_by_uid(s, user_uid("ptbob"))
        assert len(mail) == 1
        check_mail(mail[0], "ptbob", s.maildirs["ptbob"].path)
        # The mail process is the former monitor; the relay is its child.
        assert ppid_of(mail[0]) == s.proc.pid
        assert ppid_of(pre[0]) == mail[0]
        # The relay is the same pre-auth process, still alive, still
        # postern in the empty chroot.
        time.sleep(0.3)
        assert live(pre) == pre
        check_preauth(pre[0])
        # The mail process talks to a socketpair, not to the TCP socket.
        fds = [os.readlink(f"/proc/{mail[0]}/fd/{fd}") for fd in os.listdir(f"/proc/{mail[0]}/fd")]
        tcp = {l.split()[9] for l in open("/proc/net/tcp").read().splitlines()[1:]}
        sock_inodes = {f[8:-1] for f in fds if f.startswith("socket:[")}
        assert sock_inodes and not (sock_inodes & tcp)
        resp, lines, _ = p.retr(1)
        assert lines == [b"Subject: t", b"", b"over tls"]
        p.quit()
    finally:
        p.close()
    assert wait_until(lambda: s.children() == [], 5)


@pytest.mark.parametrize("uid,gid,why", [
    (0, None, "uid below first_valid_uid"),
    (None, 0, "gid below first_valid_gid"),
    ("postern", None, "uid below first_valid_uid"),
    (1, 1, "uid below first_valid_uid"),
])
def test_root_and_system_accounts_are_refused(server, uid, gid, why):
    import pwd
    alice = pwd.getpwnam("ptalice")
    uid = alice.pw_uid if uid is None else pwd.getpwnam("postern").pw_uid if uid == "postern" else uid
    gid = alice.pw_gid if gid is None else gid
    home = os.path.join(server.tmp, "roothome")
    os.makedirs(home)
    server.add_user_line(f"rootish:{conftest.hash_password(PASSWORD)}:{uid}:{gid}::{home}::")
    with Pop3(server.port) as c:
        assert c.cmd("USER rootish") == "+OK"
        assert c.cmd("PASS " + PASSWORD) == "-ERR [AUTH] authentication failed"
        # Nothing was started for the account: still the root monitor and
        # the pre-auth process only, and the connection is in AUTHORIZATION.
        pu, _ = postern_ids()
        kids = live(server.children())
        assert sorted(uid_of(p) for p in kids) == [0, pu]
        assert c.cmd("STAT") == "-ERR command not valid in this state"
        assert c.login().startswith("+OK maildrop")              # a real user still can
        c.quit()
    assert os.listdir(home) == []
    log = server.logtext()
    assert f"login refused: user=<rootish> rip=127.0.0.1: {why}" in log
    assert "auth failed: user=<rootish>" in log


def test_first_valid_uid_is_configurable(server_factory):
    import pwd
    alice = pwd.getpwnam("ptalice")
    s = server_factory(extra_conf=f"first_valid_uid = {alice.pw_uid + 1}\n").start()
    with Pop3(s.port) as c:
        c.cmd("USER ptalice")
        assert c.cmd("PASS " + PASSWORD) == "-ERR [AUTH] authentication failed"
        c.cmd("USER ptbob")
        assert c.cmd("PASS " + PASSWORD).startswith("+OK maildrop")
        c.quit()


# ---- the mailbox lock ----

def test_second_login_in_use_then_kill9_releases(any_server):
    s = any_server
    s.maildirs["ptalice"].add(b"a\n")
    first = logged_in(s.port)
    try:
        with Pop3(s.port) as c:
            assert c.cmd("USER ptalice") == "+OK"
            assert c.cmd("PASS " + PASSWORD) == \
                "-ERR [IN-USE] mailbox is in use by another session"
            assert c.is_closed()
        # Another user is not blocked.
        with logged_in(s.port, "ptbob") as c:
            c.quit()
        # The first session is unharmed.
        assert first.cmd("STAT") == "+OK 1 3"
        assert first.cmd("DELE 1").startswith("+OK")
        mail = procs_by_uid(s, user_uid("ptalice"))
        assert len(mail) == 1
        os.kill(mail[0], signal.SIGKILL)
        assert first.is_closed()
        assert wait_until(lambda: not live(mail), 5)
        # The kernel dropped the lock with the process: a new login works
        # at once, and the killed session's DELE never happened.
        with Pop3(s.port) as c:
            assert c.login() == "+OK maildrop has 1 message (3 octets)"
            c.quit()
    finally:
        first.close()
    assert wait_until(lambda: s.children() == [], 5)


def test_in_use_does_not_disturb_the_holder(server):
    server.maildirs["ptalice"].add(b"a\n")
    with logged_in(server.port) as first:
        for _ in range(3):
            with Pop3(server.port) as c:
                c.cmd("USER ptalice")
                assert c.cmd("PASS " + PASSWORD).startswith("-ERR [IN-USE]")
        assert first.cmd("DELE 1").startswith("+OK")
        assert first.cmd("QUIT") == "+OK postern signing off (1 message deleted)"
    assert server.maildirs["ptalice"].files() == []


# ---- no zombies, no leftovers ----

def test_no_leftover_processes(any_server):
    s = any_server
    t = Tracker(s)
    md = s.maildirs["ptalice"]
    for i in range(5):
        md.add(b"m%d\n" % i)
    for _ in range(3):                          # normal sessions
        with logged_in(s.port) as c:
            t.snap()
            c.retr_raw("RETR 1")
            c.quit()
    for _ in range(3):                          # dropped before login
        c = Pop3(s.port)
        t.snap()
        c.close()
    for _ in range(2):                          # dropped mid-USER/PASS
        c = Pop3(s.port)
        c.cmd("USER ptalice")
        t.snap()
        c.close()
    for _ in range(3):                          # dropped after login
        c = logged_in(s.port)
        c.cmd("DELE 1")
        t.snap()
        c.close()
        wait_until(lambda: s.children() == [], 5)
    for _ in range(2):                          # failed logins
        with Pop3(s.port) as c:
            c.cmd("USER ptalice")
            c.cmd("PASS nope")
            t.snap()
            c.cmd("QUIT")
    for _ in range(2):                          # too many failures
        with Pop3(s.port) as c:
            for _ in range(3):
                c.cmd("USER nobody-here")
                c.cmd("PASS nope")
            t.snap()
            assert c.is_closed()
    for _ in range(2):                          # kill -9 of the mail process
        c = logged_in(s.port)
        t.snap()
        for p in procs_by_uid(s, user_uid("ptalice")):
            os.kill(p, signal.SIGKILL)
        assert c.is_closed()
        c.close()
    for _ in range(2):                          # kill -9 of the pre-auth process
        c = Pop3(s.port)
        t.snap()
        for p in procs_by_uid(s, postern_ids()[0]):
            os.kill(p, signal.SIGKILL)
        assert c.is_closed()
        c.close()
    # Concurrent sessions, all dropped at once.
    conns = [logged_in(s.port, u) for u in ("ptalice", "ptbob", "ptcarol")]
    conns += [Pop3(s.port) for _ in range(5)]
    t.snap()
    for c in conns:
        c.close()
    assert wait_until(lambda: s.children() == [], 5), \
        [(p, status(p)["State"]) for p in s.children()]
    assert t.alive() == [] and t.zombies() == []
    assert len(t.seen) > 30      # two processes per session (three before login)
    if s.proc:
        assert s.proc.poll() is None            # the master survived it all
    # Only the dropped sessions' DELE did not happen: nothing deleted.
    assert len(md.files()) == 5


# ---- signals (standalone master) ----

def test_sighup_reloads_configuration(server):
    with Pop3(server.port) as c:
        c.sock.settimeout(4)
        with pytest.raises(socket.timeout):
            c.line()                             # login_timeout is 60s now
    with open(server.conf, "a") as f:
        f.write("login_timeout = 2s\n")
    server.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: "configuration reloaded" in server.logtext(), 5)
    with Pop3(server.port) as c:
        c.sock.settimeout(10)
        t0 = time.time()
        assert c.line() == "-ERR login timeout, closing connection"
        assert time.time() - t0 < 5


def test_sighup_with_broken_config_keeps_running(server):
    server.maildirs["ptalice"].add(b"x\n")
    with open(server.conf, "a") as f:
        f.write("no_such_key = 1\n")
    server.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: "reload failed, keeping the running configuration"
                      in server.logtext(), 5)
    assert server.proc.poll() is None
    with logged_in(server.port) as c:
        assert c.cmd("STAT") == "+OK 1 3"
        c.quit()


def test_sighup_can_move_the_listener(server):
    new_port = conftest.free_port(server.port)
    text = open(server.conf).read().replace(f"127.0.0.1:{server.port}",
                                            f"127.0.0.1:{new_port}")
    server.write_conf(text)
    server.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: "configuration reloaded" in server.logtext(), 5)
    conftest.wait_port("127.0.0.1", new_port)
    with Pop3(new_port) as c:
        assert c.greeting == "+OK postern ready"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2)


def test_sigterm_stops_listening_sessions_finish(server):
    server.maildirs["ptalice"].add(b"x\n")
    c = logged_in(server.port)
    pending = Pop3(server.port)                  # connected, not logged in
    t = Tracker(server)
    t.snap()
    try:
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(5) == 0
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.port), timeout=2)
        # Sessions in progress finish on their own.
        assert c.cmd("STAT") == "+OK 1 3"
        assert c.cmd("DELE 1").startswith("+OK")
        assert c.cmd("QUIT") == "+OK postern signing off (1 message deleted)"
        assert pending.login().startswith("+OK maildrop has 0")
        assert pending.cmd("QUIT").startswith("+OK")
        assert wait_until(lambda: t.alive() == [], 5), t.alive()
    finally:
        c.close()
        pending.close()
        for p in t.alive():                      # only processes of this server
            os.kill(p, signal.SIGKILL)
    assert "postern stopping" in server.logtext()


def test_sigterm_inetd_child_unaffected_by_master_absence(server_factory):
    """In inetd mode there is no master: each `postern -i` lives exactly as
    long as its connection."""
    s = server_factory().start_inetd()
    s.maildirs["ptalice"].add(b"x\n")
    with logged_in(s.port) as c:
        assert len(s.inetd_children) == 1
        assert s.inetd_children[0].poll() is None
        c.quit()
    assert s.inetd_children[0].wait(5) == 0


def fd_targets(pid):
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:
            pass
    return out


def test_processes_hold_no_secrets_open(server_factory, test_ca):
    """The pre-auth process opens no files; the mail process holds neither
    the credentials file nor the TLS key."""
    s = server_factory(tls=[test_ca["mail.test"]]).start()
    s.maildirs["ptalice"].add(b"x\n")
    secret_paths = [s.passwd, test_ca["mail.test"][1], test_ca["mail.test"][0]]
    with Pop3(s.port) as c:
        assert wait_until(lambda: len(procs_by_uid(s, postern_ids()[0])) == 1, 5)
        pre = procs_by_uid(s, postern_ids()[0])
        assert len(pre) == 1
        targets = fd_targets(pre[0])
        files = [t for t in targets if t.startswith("/") and t != s.log]
        assert files in ([], ["/dev/null"], ["/dev/null", "/dev/null"]), targets
        assert c.login().startswith("+OK maildrop")
        mail = procs_by_uid(s, user_uid("ptalice"))
        targets = fd_targets(mail[0])
        for p in secret_paths:
            assert p not in targets, targets
        # The mail process may have its Maildir (the store's directory
        # descriptor) and files in it open (the lock file), nothing outside
        # the Maildir (and the log it inherited).
        md = s.maildirs["ptalice"].path
        files = [t for t in targets if t.startswith("/") and t not in (s.log, "/dev/null")]
        assert all(t == md or t.startswith(md + "/") for t in files), files
        c.quit()


def test_no_leftover_processes_with_tls(server_factory, test_ca):
    """The TLS relay and the mail process end together, whichever goes
    first."""
    s = server_factory(tls=[test_ca["mail.test"]]).start()
    s.maildirs["ptalice"].add(b"x\n")
    ctx = ssl.create_default_context(cafile=test_ca["ca"])
    ctx.check_hostname = False
    t = Tracker(s)
    pu = postern_ids()[0]

    def tls_login():
        p = poplib.POP3_SSL("127.0.0.1", s.tls_port, context=ctx, timeout=15)
        p.user("ptalice")
        assert p.pass_(PASSWORD).startswith(b"+OK maildrop")
        t.snap()
        return p

    p = tls_login()                              # normal QUIT
    p.retr(1)
    p.quit()
    assert wait_until(lambda: s.children() == [], 5)
    p = tls_login()                              # client drops (no QUIT)
    p.close()
    assert wait_until(lambda: s.children() == [], 5)
    for victim in ("mail", "relay"):             # kill -9 either side
        p = tls_login()
        uid = user_uid("ptalice") if victim == "mail" else pu
        for pid in procs_by_uid(s, uid):
            os.kill(pid, signal.SIGKILL)
        assert wait_until(lambda: s.children() == [], 5), \
            (victim, [(x, uid_of(x)) for x in live(s.children())])
        p.close()
    # STLS session dropped mid-way.
    c = Pop3(s.port)
    assert c.cmd("STLS").startswith("+OK")
    t.snap()
    c.close()
    assert wait_until(lambda: s.children() == [], 5)
    assert t.alive() == [] and t.zombies() == []
    # The lock was released each time: a new session works.
    p = tls_login()
    p.quit()
    assert len(s.maildirs["ptalice"].files()) == 1


def test_inetd_mode_over_pipes(server_factory):
    """`postern -i` with stdin and stdout on two different pipes (the mail
    process gets both descriptors).  A pipe is not loopback, so plaintext
    needs plaintext_auth = always here."""
    s = server_factory(extra_conf="plaintext_auth = always\n")
    s.maildirs["ptalice"].add(b"Subject: p\n\nover pipes\n")
    script = (f"USER ptalice\r\nPASS {PASSWORD}\r\nSTAT\r\nRETR 1\r\nDELE 1\r\nQUIT\r\n")
    r = subprocess.run([conftest.POSTERN, "-f", s.conf, "-d", "-i"], input=script.encode(),
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == (b"+OK postern ready\r\n+OK\r\n+OK maildrop has 1 message (26 octets)\r\n"
                        b"+OK 1 26\r\n+OK 26 octets\r\nSubject: p\r\n\r\nover pipes\r\n.\r\n"
                        b"+OK message 1 deleted\r\n"
                        b"+OK postern signing off (1 message deleted)\r\n"), r.stdout
    assert s.maildirs["ptalice"].files() == []
    assert b"login: user=<ptalice> rip=unknown" in r.stderr


def test_inetd_mode_over_pipes_refuses_plaintext_by_default(server_factory):
    s = server_factory()
    r = subprocess.run([conftest.POSTERN, "-f", s.conf, "-d", "-i"],
                       input=f"CAPA\r\nUSER ptalice\r\nQUIT\r\n".encode(),
                       capture_output=True, timeout=30)
    lines = r.stdout.decode().split("\r\n")
    assert "USER" not in lines[2:lines.index(".")]
    assert lines[lines.index(".") + 1].startswith("-ERR [AUTH] plaintext authentication "
                                                  "is not allowed")


def memory_of(pid):
    """All readable memory of pid, as one bytes object."""
    return b"\0".join(memory_regions(pid))


@pytest.mark.memory_scan
@pytest.mark.parametrize("how", ["USER", "APOP", "failed-first", "SCRAM", "sleep-wake"])
def test_mail_process_holds_no_credentials(server_factory, how):
    """The monitor reads the whole passwd file as root; none of it may stay
    in memory the mail process (run as the user) inherits: not other users'
    hashes, not the user's own secret.  sleep-wake: with sleeping = yes the
    mail process is a child of the root parent, which reads the file again
    at every WAKE; the child still holds none of it."""
    extra = "apop = yes\nauth_mechanisms = plain login scram-sha-256\n"
    if how == "sleep-wake":
        extra += f"sleeping = yes\nsleeping_lock_file = /tmp/postern-privsep-{os.getpid()}.lock\n"
    s = server_factory(extra_conf=extra)
    other = conftest.hash_password("another secret")
    bob = user_uid("ptbob")
    # First line: its hash is also what an unknown user is checked against.
    lines = open(s.passwd).read()
    home = os.path.join(s.home, "ptalice")
    # Enough other accounts that the file spans several stdio buffers.
    filler = [f"zzfill{i}:$6$fillsalt{i:04d}$" + os.urandom(32).hex() for i in range(150)]
    with open(s.passwd, "w") as f:
        f.write(f"zzfirst:{other}:{bob}:{bob}::/nonexistent::\n")
        for line in filler:
            f.write(f"{line}:{bob}:{bob}::/nonexistent::\n")
        f.write(lines.replace(f"ptalice:", "ptalice-old:", 1))
        f.write(f"ptalice:{{PLAIN}}plain-secret-123:{user_uid('ptalice')}:"
                f"{user_uid('ptalice')}::{home}::\n" if how == "APOP" else "")
    if how == "SCRAM":
        # Its SCRAM salt is keyed with the first crypt hash (zzfirst's).
        scram = conftest.hash_password(PASSWORD, "scram-sha-256")
        with open(s.passwd, "a") as f:
            f.write(f"ptalice:{scram}:{user_uid('ptalice')}:{user_uid('ptalice')}::{home}::\n")
    elif how != "APOP":
        with open(s.passwd, "a") as f:
            f.write(lines.split("\n")[0] + "\n")     # the real ptalice line, last
    s.start()
    s.maildirs["ptalice"].add(b"Subject: x\n\nbody\n")
    c = Pop3(s.port)
    if how == "failed-first":
        assert c.cmd("USER nosuchuser").startswith("+OK")
        assert c.cmd("PASS wrong").startswith("-ERR")
    if how == "SCRAM":
        # A cancelled exchange naming zzfirst first: the monitor looked up
        # its hash on the stack the mail process inherits.
        first = base64.b64encode(b"n,,n=zzfirst,r=abcdefgh").decode()
        assert c.cmd("AUTH SCRAM-SHA-256 " + first).startswith("+ ")
        assert c.cmd("*").startswith("-ERR")
        r, _, _ = scram_auth(c, "ptalice", PASSWORD)
        assert r.startswith("+OK"), r
    if how == "APOP":
        import hashlib
        stamp = c.greeting.split()[-1]
        digest = hashlib.md5((stamp + "plain-secret-123").encode()).hexdigest()
        assert c.cmd(f"APOP ptalice {digest}").startswith("+OK")
    elif how != "SCRAM":
        assert c.cmd("USER ptalice").startswith("+OK")
        assert c.cmd("PASS " + PASSWORD).startswith("+OK")
    if how == "sleep-wake":
        assert c.cmd("SLEE").startswith("+OK sleeping")
        assert c.cmd("WAKE").startswith("+OK [ACTIVITY/NONE]")
    mail = procs_by_uid(s, user_uid("ptalice"))
    assert len(mail) == 1
    mem = memory_of(mail[0])
    # The search sees the process: its own Maildir path is there.
    assert s.maildirs["ptalice"].path.encode() in mem
    assert other.encode() not in mem
    assert other.split("$")[-1].encode() not in mem          # not even the digest part
    assert b"zzfirst:" not in mem
    assert b"fillsalt" not in mem and b"zzfill" not in mem
    assert b"plain-secret-123" not in mem
    c.cmd("QUIT")
    c.close()
