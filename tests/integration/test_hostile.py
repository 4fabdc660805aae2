"""Hostile clients and hostile mailboxes (issue 2): user names built to
escape the Maildirs, control bytes, binary floods, a client that stops
reading, and Maildir entries that are not what they seem.  Nothing outside
the Maildirs may change, and the daemon must keep serving."""
import base64
import hashlib
import os
import random
import signal
import socket
import stat
import time

import pytest

import conftest
from conftest import PASSWORD
from pop3util import Closed, Pop3, logged_in, procs_by_uid, slow_retr, user_uid, wait_until

FAIL = "-ERR [AUTH] authentication failed"


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def tree(*roots, skip=()):
    """name -> (type, mode, uid, size, mtime_ns, content digest) for every
    entry under roots (not following symlinks)."""
    out = {}
    for root in roots:
        if not os.path.lexists(root):
            out[root] = None
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            for n in dirnames + filenames:
                p = os.path.join(dirpath, n)
                if p in skip:
                    continue
                st = os.lstat(p)
                digest = None
                if stat.S_ISREG(st.st_mode):
                    with open(p, "rb") as f:
                        digest = hashlib.sha256(f.read()).hexdigest()
                out[p] = (stat.S_IFMT(st.st_mode), st.st_mode, st.st_uid, st.st_size,
                          st.st_mtime_ns, digest)
            out[dirpath] = ("dir", os.lstat(dirpath).st_mode)
    return out


def top_level(*dirs):
    return {d: sorted(os.listdir(d)) for d in dirs}


HOSTILE_USER_PASS = [
    "../x", "..", ".", "a/b", "/etc/passwd", "../../../../etc/shadow", "root",
    "ptalice/../ptbob", "ptalice/", "ptalice@", "@ptalice", "-ptalice", "%u", "*",
    "ptalice%00", "PTALICE", "postern", "nobody", "x" * 255,
    "\u00e9l\u00e8ve", "a\tb", "~ptalice", "$(id)", "`id`", "a;b", "'ptalice'",
]


def test_hostile_user_names(any_server):
    s = any_server
    s.maildirs["ptalice"].add(b"x\n")
    skip = {s.log}
    before = tree(s.tmp, "/run/postern", skip=skip)
    before_top = top_level("/", "/root", "/etc", "/run/postern")
    with Pop3(s.port) as c:
        for i, name in enumerate(HOSTILE_USER_PASS):
            if i % 2 == 0 and i:
                # Stay under max_login_failures by starting afresh.
                c.close()
                c = Pop3(s.port)
            assert c.cmd(f"USER {name}".encode()) == "+OK", name
            assert c.cmd(f"PASS {PASSWORD}") == FAIL, name
        c.close()
    # Too long for a user name: refused at once with [AUTH].
    with Pop3(s.port) as c:
        assert c.cmd("USER " + "y" * 300) == "-ERR [AUTH] user name too long"
        assert c.cmd("PASS " + PASSWORD) == "-ERR USER first"
        assert c.cmd("USER " + "y" * 1000) == "-ERR [AUTH] user name too long"
    # NUL and CR cannot even form a USER command...
    with Pop3(s.port) as c:
        assert c.cmd(b"USER ptalice\0../x") == "-ERR invalid characters in command"
        assert c.cmd("PASS " + PASSWORD) == "-ERR USER first"
        assert c.cmd(b"USER ptalice\r../x") == "-ERR invalid characters in command"
        assert c.cmd("PASS " + PASSWORD) == "-ERR USER first"
    # ...but SASL can carry them: they fail with [AUTH].
    with Pop3(s.port) as c:
        assert c.cmd("AUTH PLAIN " + b64("\0ptalice\r\0" + PASSWORD)) == FAIL
        assert c.cmd("AUTH PLAIN " + b64("\0../x\0" + PASSWORD)) == FAIL
    with Pop3(s.port) as c:
        assert c.cmd("AUTH PLAIN " + b64("\0" + "z" * 300 + "\0" + PASSWORD)) == FAIL
        c.cmd("AUTH LOGIN")
        c.cmd(b64("ptalice\0../x"))
        assert c.cmd(b64(PASSWORD)) == "-ERR [AUTH] malformed user name"
        c.cmd("AUTH LOGIN")
        c.cmd(b64("a/b\r\n"))
        assert c.cmd(b64(PASSWORD)) == FAIL
    assert wait_until(lambda: s.children() == [], 5)
    # Nothing changed anywhere: not the Maildirs (no login succeeded), not
    # the homes, not the chroot.
    after = tree(s.tmp, "/run/postern", skip=skip)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert changed == set(), changed
    assert top_level("/", "/root", "/etc", "/run/postern") == before_top
    # The log names the attempts safely: no raw control bytes.
    log = s.logtext()
    assert "\r" not in log and "\0" not in log
    assert "auth failed: user=<../x> rip=127.0.0.1 method=USER" in log


def test_hostile_names_with_domain_layout(server_factory):
    """A mail_location built from the name (%d/%n) must not be reachable
    with names that would walk out of it."""
    s = server_factory(extra_conf="mail_location = /nonexistent-%d/%n\n").start()
    before = tree(s.tmp, skip={s.log})
    for name in ("../x@y", "x@../y", "x@y/..", "a/b@c", "..@..", "x@", "@"):
        with Pop3(s.port) as c:
            r = c.cmd(f"USER {name}")
            assert r == "+OK"
            assert c.cmd(f"PASS {PASSWORD}") == FAIL, name
    assert tree(s.tmp, skip={s.log}) == before
    assert not [d for d in os.listdir("/") if d.startswith("nonexistent")]


def test_binary_garbage_before_login(any_server):
    rnd = random.Random(1939)
    for n in range(5):
        with Pop3(any_server.port) as c:
            junk = bytes(rnd.getrandbits(8) for _ in range(65536))
            try:
                c.send(junk)
                c.send(b"\r\nQUIT\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            # Replies are -ERR lines until the command limit closes it.
            c.sock.settimeout(10)
            lines = []
            try:
                while True:
                    lines.append(c.line())
            except (Closed, OSError):
                pass
            assert lines, n
            assert all(l.startswith("-ERR") or l == "+OK bye" for l in lines), lines[:5]
    assert wait_until(lambda: any_server.children() == [], 5)
    with logged_in(any_server.port) as c:           # still serving
        c.quit()


def test_binary_garbage_after_login(any_server):
    any_server.maildirs["ptalice"].add(b"keep me\n")
    rnd = random.Random(2449)
    with logged_in(any_server.port) as c:
        junk = bytes(rnd.getrandbits(8) for _ in range(32768)).replace(b"\n", b"")
        # In 300-byte lines so each one is a command attempt.
        lines = [junk[i:i + 300] for i in range(0, len(junk), 300)]
        for l in lines:
            r = c.cmd(l)
            assert r.startswith("-ERR"), (l[:20], r)
        assert c.cmd("STAT") == "+OK 1 9"
        assert c.cmd("QUIT") == "+OK postern signing off (0 messages deleted)"
    assert any_server.maildirs["ptalice"].contents() == [b"keep me\n"]


def test_client_that_stops_reading(server_factory):
    """A client that asks for a big message and never reads cannot hold
    the mail process: the send timeout ends it."""
    s = server_factory(extra_conf="timeout = 2s\n").start()
    s.maildirs["ptalice"].add(b"Subject: big\n\n" + (b"z" * 999 + b"\n") * 40000)
    c = logged_in(s.port)
    try:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.send("RETR 1\r\n")
        mail = procs_by_uid(s, user_uid("ptalice"))
        assert mail
        t0 = time.time()
        assert wait_until(lambda: s.children() == [], 20), s.children()
        assert time.time() - t0 < 20
        assert wait_until(lambda: "reason=write-failed" in s.logtext(), 5)
    finally:
        c.close()
    # Nothing was marked seen: the message was not fully sent.
    assert [f.endswith(":2,") for f in s.maildirs["ptalice"].files()] == [True]


def test_slow_reader_of_a_long_retr_is_not_idle(server_factory):
    """A client reading a 3 MB RETR at ~650 KB/s with timeout = 1s: the
    server's last write ends seconds before the client has read it all (it
    waits in the socket buffers), and that time is not idleness: DELE and
    QUIT afterwards work (RFC 1939: the autologout timer is for an
    inactive client)."""
    s = server_factory(extra_conf="timeout = 1s\n").start()
    s.maildirs["ptalice"].add(b"Subject: big\n\n" + (b"y" * 99 + b"\n") * 30000)
    c = logged_in(s.port)
    try:
        body = slow_retr(c)
        assert body.startswith(b"+OK ") and len(body) > 3000000
        assert c.buf == b"", c.buf          # no autologout behind the dot
        assert c.cmd("DELE 1").startswith("+OK")
        assert c.cmd("QUIT").startswith("+OK")
    finally:
        c.close()
    assert wait_until(lambda: s.maildirs["ptalice"].files() == [], 5)


def read_to_end(sock, timeout=10):
    """Everything the server sends until it closes, and how it closed:
    "eof" (the end of the stream) or "reset"."""
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            d = sock.recv(65536)
        except ConnectionResetError:
            return data, "reset"
        if not d:
            return data, "eof"
        data += d


@pytest.mark.parametrize("state", ["authorization", "transaction"])
def test_input_behind_quit_does_not_turn_the_close_into_a_reset(server_factory, state):
    """A client that sends more after QUIT (64 KB, far more than the server
    reads with the command) still gets the +OK and the end of the stream,
    not a reset: closing a socket with unread input sends one, and it can
    overtake the reply.  The deletion is done either way."""
    s = server_factory().start()
    s.maildirs["ptalice"].add(b"Subject: x\n\nhi\n")
    c = logged_in(s.port) if state == "transaction" else Pop3(s.port)
    try:
        if state == "transaction":
            assert c.cmd("DELE 1").startswith("+OK")
        c.send(b"QUIT\r\n" + b"x" * 65536)
        data, end = read_to_end(c.sock)
    finally:
        c.close()
    assert data.startswith(b"+OK"), data[:200]
    assert data.count(b"\r\n") == 1, data[:200]
    assert end == "eof"
    if state == "transaction":
        assert wait_until(lambda: s.maildirs["ptalice"].files() == [], 5)
    assert wait_until(lambda: s.children() == [], 5), s.children()


def test_a_flood_after_quit_holds_the_process_no_longer_than_a_second(server_factory):
    """The lingering close is bounded: a client that goes on sending after
    QUIT is cut off about a second later."""
    s = server_factory().start()
    c = logged_in(s.port)
    try:
        c.send(b"QUIT\r\n" + b"y" * 65536)
        t0 = time.time()
        c.sock.settimeout(0.05)
        while time.time() - t0 < 8 and s.children():
            try:
                c.sock.send(b"y" * 4096)
            except (BlockingIOError, socket.timeout):
                pass
            except OSError:
                break
        took = time.time() - t0
    finally:
        c.close()
    assert wait_until(lambda: s.children() == [], 5), s.children()
    assert took < 4, took
    assert "reason=quit" in s.logtext()


def test_slow_dribble_is_cut_by_login_timeout(server_factory):
    s = server_factory(extra_conf="login_timeout = 2s\n").start()
    with Pop3(s.port) as c:
        t0 = time.time()
        try:
            for ch in b"USER ptalice":
                c.send(bytes([ch]))
                time.sleep(0.3)
        except (BrokenPipeError, ConnectionResetError):
            pass
        c.sock.settimeout(5)
        assert c.line() == "-ERR login timeout, closing connection"
        assert time.time() - t0 < 6


def test_maildir_entries_that_are_not_messages(server):
    md = server.maildirs["ptalice"]
    good = md.add(b"real message\n")
    cur = os.path.join(md.path, "cur")
    new = os.path.join(md.path, "new")
    os.symlink("/etc/shadow", os.path.join(cur, "1700000001.M1P1.evil:2,"))
    os.symlink("/etc/passwd", os.path.join(new, "1700000002.M1P1.evil"))
    os.mkfifo(os.path.join(cur, "1700000003.M1P1.fifo:2,"))
    os.mkdir(os.path.join(cur, "1700000004.M1P1.dir:2,"))
    # A hard link to a file the user does not own (root's).
    root_file = os.path.join(server.tmp, "root-owned")
    with open(root_file, "wb") as f:
        f.write(b"root secret\n")
    os.chmod(root_file, 0o644)
    os.link(root_file, os.path.join(cur, "1700000005.M1P1.rootowned:2,"))
    # Dot files are not messages.
    with open(os.path.join(cur, ".hidden"), "wb") as f:
        f.write(b"hidden\n")
    os.chown(os.path.join(cur, ".hidden"), md.uid, md.gid)
    with logged_in(server.port) as c:
        assert c.cmd("STAT") == "+OK 1 14"
        st, body = c.retr_raw("RETR 1")
        assert body == b"real message\r\n"
        assert c.cmd("DELE 1").startswith("+OK")
        assert c.cmd("QUIT") == "+OK postern signing off (1 message deleted)"
    # Only the real message went; the rest is untouched.
    left = sorted(os.listdir(cur))
    assert good not in "".join(left)
    assert "1700000001.M1P1.evil:2," in left and "1700000003.M1P1.fifo:2," in left
    assert os.readlink(os.path.join(cur, "1700000001.M1P1.evil:2,")) == "/etc/shadow"
    assert open(root_file, "rb").read() == b"root secret\n"


def test_symlinked_maildir_parts_do_not_leak(server):
    """A lock file or size cache replaced by a symlink is not followed."""
    md = server.maildirs["ptalice"]
    md.add(b"x\n")
    target = os.path.join(server.tmp, "target")
    with open(target, "w") as f:
        f.write("do not touch\n")
    os.symlink(target, os.path.join(md.path, "postern-sizes"))
    with logged_in(server.port) as c:
        assert c.cmd("STAT") == "+OK 1 3"
        c.quit()
    assert open(target).read() == "do not touch\n"


def test_tmp_sweep_stays_inside_the_maildir(server):
    """The login's tmp/ sweep does not follow a tmp/ that is a symlink to
    another directory, nor remove what is not a regular file."""
    md = server.maildirs["ptalice"]
    md.add(b"x\n")
    elsewhere = os.path.join(server.tmp, "elsewhere")
    os.mkdir(elsewhere)
    os.chown(elsewhere, md.uid, md.gid)
    victim = os.path.join(elsewhere, "old-file")
    with open(victim, "w") as f:
        f.write("keep me\n")
    os.chown(victim, md.uid, md.gid)
    os.utime(victim, (time.time() - 40 * 3600,) * 2)
    tmp = os.path.join(md.path, "tmp")
    os.rmdir(tmp)
    os.symlink(elsewhere, tmp)
    with logged_in(server.port) as c:
        assert c.cmd("STAT") == "+OK 1 3"
        c.quit()
    assert open(victim).read() == "keep me\n"
    assert "cannot read tmp/" in server.logtext()


def test_maildirsize_that_is_not_a_file(server):
    """A maildirsize that is a FIFO (whose open for writing would wait for
    a reader for ever) or a symlink is not written: QUIT completes, the
    message goes, and the symlink's target is untouched."""
    md = server.maildirs["ptalice"]
    ms = os.path.join(md.path, "maildirsize")
    target = os.path.join(server.tmp, "quota-target")
    with open(target, "w") as f:
        f.write("1000S\n")
    os.chown(target, md.uid, md.gid)       # the user could write it
    for kind in ("fifo", "symlink"):
        md.add(b"x\n")
        if kind == "fifo":
            os.mkfifo(ms)
            os.chown(ms, md.uid, md.gid)
        else:
            os.symlink(target, ms)
        with logged_in(server.port) as c:
            assert c.cmd("DELE 1").startswith("+OK")
            assert c.cmd("QUIT") == "+OK postern signing off (1 message deleted)"
        assert md.files() == []
        os.unlink(ms)
    assert open(target).read() == "1000S\n"


def test_many_concurrent_connections_then_still_serving(any_server):
    any_server.maildirs["ptalice"].add(b"x\n")
    conns = []
    for _ in range(40):
        c = Pop3(any_server.port)
        c.send(b"\xff\xfe" * 10 + b"\r\n")
        conns.append(c)
    for c in conns:
        assert c.line() == "-ERR unknown command"
        c.close()
    with logged_in(any_server.port) as c:
        assert c.cmd("STAT") == "+OK 1 3"
        c.quit()
    assert wait_until(lambda: any_server.children() == [], 10)
