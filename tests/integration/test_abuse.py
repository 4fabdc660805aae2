"""Hostile input and hostile conditions (issue 4), against a live daemon:
a 10 MB line, NUL bytes, invalid UTF-8, slowloris logins, 1,000 wrong
passwords, SIGKILL of mail processes mid-RETR and mid-UPDATE, a full disk,
and Maildir entries planted to leak other files.  (test_hostile.py covers
the issue 2 cases: hostile user names, binary garbage, a client that stops
reading, a single slow dribble, entries present at login.)

Every loop is bounded in count and time; only processes this suite started
are signalled, by pid."""
import base64
import hashlib
import os
import random
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

import conftest
from conftest import PASSWORD, Maildir
from pop3util import Closed, Pop3, logged_in, procs_by_uid, user_uid, wait_until

FAIL = "-ERR [AUTH] authentication failed"


# ---- oversized, NUL and non-UTF-8 input ----

def test_ten_megabyte_line_before_and_after_login(any_server):
    s = any_server
    s.maildirs["ptalice"].add(b"Subject: x\n\nbody\n")
    huge = b"USER " + b"A" * (10 << 20)
    # Before login: one -ERR, the rest of the line is skipped (not read as
    # commands), the connection stays usable.
    with Pop3(s.port) as c:
        t0 = time.time()
        c.send(huge + b"\r\nCAPA\r\n")
        assert c.line() == "-ERR line too long"
        assert c.line() == "+OK capability list follows"
        c.raw_until()
        assert c.login().startswith("+OK maildrop has 1")
        # After login the same.
        c.send(b"NOOP " + b"\0" * (10 << 20) + b"\r\nSTAT\r\n")
        assert c.line() == "-ERR line too long"
        assert c.line() == "+OK 1 20"
        assert c.cmd("QUIT").startswith("+OK postern signing off")
        assert time.time() - t0 < 30
    # A 10 MB line that never ends, then the client goes: nothing hangs.
    with Pop3(s.port) as c:
        c.send(b"X" * (10 << 20))
        assert c.line() == "-ERR line too long"
    assert wait_until(lambda: s.children() == [], 10), s.children()
    # The log says it at most a few times, not once per kilobyte.
    assert s.logtext().count("line too long") <= 5


def test_nul_bytes(any_server):
    s = any_server
    s.maildirs["ptalice"].add(b"Subject: x\n\nbody\n")
    with Pop3(s.port) as c:
        assert c.cmd(b"\0") == "-ERR invalid characters in command"
        assert c.cmd(b"NOOP\0") == "-ERR invalid characters in command"
        assert c.cmd(b"\0" * 2000) == "-ERR line too long"
        assert c.cmd(b"USER ptalice") == "+OK"
        # A NUL inside the password: the whole line is refused before it
        # reaches the password check, and USER stays.
        assert c.cmd(b"PASS s3cret\0pass") == "-ERR invalid characters in command"
        assert c.cmd(f"PASS {PASSWORD}").startswith("+OK maildrop has 1")
        for bad in (b"RETR 1\0", b"RETR \0001", b"DELE 1\0\0", b"\0QUIT", b"LIST\0 1"):
            assert c.cmd(bad) == "-ERR invalid characters in command", bad
        assert c.cmd("STAT") == "+OK 1 20"
        assert c.cmd("QUIT") == "+OK postern signing off (0 messages deleted)"
    assert len(s.maildirs["ptalice"].files()) == 1
    assert "\0" not in s.logtext()


INVALID_UTF8 = [b"\xff\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80",
                b"\xe2\x82", b"caf\xe9", b"\x80" * 50]


def test_invalid_utf8(any_server):
    s = any_server
    s.maildirs["ptalice"].add(b"Subject: x\n\nbody\n")
    for i, junk in enumerate(INVALID_UTF8):
        with Pop3(s.port) as c:
            assert c.cmd(junk) == "-ERR unknown command"
            assert c.cmd(b"USER " + junk) == "+OK"
            assert c.cmd(b"PASS " + junk) == FAIL
            # As a SASL PLAIN identity too.
            tok = base64.b64encode(b"\0" + junk + b"\0" + junk).decode()
            assert c.cmd("AUTH PLAIN " + tok) == FAIL
    with logged_in(s.port) as c:
        for junk in INVALID_UTF8:
            assert c.cmd(b"LIST " + junk) == "-ERR no such message"
            assert c.cmd(junk + b" 1") == "-ERR unknown command"
        assert c.cmd("STAT") == "+OK 1 20"
        c.quit()
    with open(s.log, "rb") as f:
        raw = f.read()
    # The log holds no raw bytes from the client: names are escaped.
    assert not re.search(rb"[\x80-\xff]", raw)
    assert b"auth failed: user=<??> " in raw
    assert s.children() == [] or wait_until(lambda: s.children() == [], 5)


# ---- slow and persistent clients ----

def test_slowloris_logins_are_cut_at_login_timeout(server_factory):
    """Ten clients send a login one byte per second; login_timeout is a
    deadline for the whole AUTHORIZATION state, not an idle timer, so each
    is closed at 3 s although it never goes quiet.  An honest client logs
    in meanwhile as fast as ever."""
    s = server_factory(extra_conf="login_timeout = 3s\n").start()
    s.maildirs["ptalice"].add(b"Subject: x\n\nbody\n")
    results = {}

    def loris(k):
        c = Pop3(s.port)
        t0 = time.time()
        data = f"USER ptalice\r\nPASS {PASSWORD}\r\n".encode()
        got = ""
        try:
            for b in data:
                c.send(bytes([b]))
                c.sock.settimeout(1.0)
                try:
                    d = c.sock.recv(4096)
                    if not d:
                        break
                    got += d.decode("latin-1")
                except socket.timeout:
                    pass
                if time.time() - t0 > 15:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        c.sock.settimeout(5)
        try:
            while True:
                d = c.sock.recv(4096)
                if not d:
                    break
                got += d.decode("latin-1")
        except (socket.timeout, ConnectionResetError):
            pass
        results[k] = (time.time() - t0, got)
        c.close()

    threads = [threading.Thread(target=loris, args=(k,)) for k in range(10)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    t0 = time.time()
    with logged_in(s.port) as c:
        assert c.cmd("STAT") == "+OK 1 20"
        c.quit()
    assert time.time() - t0 < 2
    for t in threads:
        t.join(30)
    assert len(results) == 10
    for k, (took, got) in results.items():
        assert "-ERR login timeout, closing connection" in got, (k, got)
        assert "maildrop" not in got, (k, got)
        assert 2.5 < took < 9, (k, took)
    assert s.logtext().count("login timeout: rip=127.0.0.1") == 10


def test_thousand_wrong_passwords(server_factory):
    """1,000 wrong passwords over 334 connections (max_login_failures = 3):
    each failure waits login_fail_delay times its number on the connection,
    the third closes it; every failure is logged for fail2ban; the account
    still works with the right password afterwards."""
    delay = 0.05
    s = server_factory(extra_conf="login_fail_delay = 50ms\nmax_login_failures = 3\n"
                                  "max_login_commands = 30\n").start()
    s.maildirs["ptalice"].add(b"Subject: x\n\nbody\n")
    plan = [3] * 333 + [1]              # failures per connection: 1,000
    timings, errors = [], []
    lock = threading.Lock()
    work = list(enumerate(plan))

    def worker():
        while True:
            with lock:
                if not work:
                    return
                n, fails = work.pop()
            try:
                c = Pop3(s.port, timeout=20)
                mine = []
                for k in range(1, fails + 1):
                    assert c.cmd("USER ptalice") == "+OK"
                    t0 = time.time()
                    r = c.cmd(f"PASS wrong-{n}-{k}")
                    mine.append((k, time.time() - t0))
                    if k < 3:
                        assert r == FAIL, r
                    else:
                        assert r == ("-ERR [AUTH] authentication failed; too many "
                                     "failures, closing connection"), r
                        assert c.is_closed(5)
                c.close()
                with lock:
                    timings.extend(mine)
            except Exception as e:          # reported below, with the rest
                with lock:
                    errors.append(repr(e))

    t_start = time.time()
    threads = [threading.Thread(target=worker) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    elapsed = time.time() - t_start
    assert not errors, errors[:5]
    assert len(timings) == 1000
    # The delay grows: 50, 100, 150 ms (plus the hash check).
    for k in (1, 2, 3):
        ts = sorted(t for kk, t in timings if kk == k)
        assert ts[0] >= delay * k * 0.9, (k, ts[0])
        assert ts[len(ts) // 2] < delay * k + 2.0, (k, ts[len(ts) // 2])
    assert elapsed < 150
    log = s.logtext()
    assert len(re.findall(r"auth failed: user=<ptalice> rip=127\.0\.0\.1 method=USER", log)) \
        == 1000
    assert wait_until(lambda: s.children() == [], 10)
    with logged_in(s.port) as c:
        assert c.cmd("STAT") == "+OK 1 20"
        c.quit()


# ---- SIGKILL of mail processes ----

def body_for(i, size=0):
    head = f"Subject: message {i}\nX-Seq: {i}\n\n".encode()
    filler = (f"line of message {i} ".encode() * 4 + b"\n") * (size // 80 + 1)
    return head + filler[:size] + f"end of {i}\n".encode()


def test_sigkill_mid_retr_keeps_message_and_frees_lock(server_factory):
    s = server_factory().start()
    md = s.maildirs["ptalice"]
    big = body_for(0, 30 << 20)
    small = body_for(1)
    md.add(big)
    md.add(small)
    digest = {hashlib.sha256(big).hexdigest(), hashlib.sha256(small).hexdigest()}
    rnd = random.Random(4)
    uid = user_uid("ptalice")
    for round_ in range(3):
        c = logged_in(s.port)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
        st = c.cmd("RETR 1")
        assert st.startswith("+OK")
        # Read a random part of the stream, then kill the mail process.
        want = rnd.randrange(1 << 16, 20 << 20)
        got = len(c.buf)
        while got < want:
            d = c.sock.recv(1 << 16)
            assert d
            got += len(d)
        mail = procs_by_uid(s, uid)
        assert len(mail) == 1, mail
        os.kill(mail[0], signal.SIGKILL)
        # The client sees the stream end without its terminating dot.
        tail = b""
        c.sock.settimeout(10)
        try:
            while True:
                d = c.sock.recv(1 << 20)
                if not d:
                    break
                tail = (tail + d)[-5:]
        except ConnectionResetError:
            pass
        assert tail != b"\r\n.\r\n"
        c.close()
        assert wait_until(lambda: procs_by_uid(s, uid, timeout=0) == [], 5)
        # Both messages intact, nothing flagged seen, nothing deleted.
        assert {hashlib.sha256(b).hexdigest() for b in md.contents()} == digest
        assert all(f.endswith(":2,") for f in md.files()), md.files()
    # The lock went with the process: a new session gets the mailbox.
    with logged_in(s.port) as c:
        assert c.cmd("STAT").startswith("+OK 2 ")
        st, raw = c.retr_raw("RETR 2")
        assert raw == small.replace(b"\n", b"\r\n")
        c.quit()


def test_sigkill_mid_update(server_factory):
    """QUIT after DELE of about half of 3,000 messages (and RETR of some
    kept ones, which UPDATE renames with the S flag), SIGKILL at a random
    moment of UPDATE, round after round: every message is either there,
    intact, or was deleted as asked; none is corrupted or duplicated; the
    lock is free.  The kill delay adapts until rounds are cut mid-way."""
    s = server_factory().start()
    md = s.maildirs["ptalice"]
    uid = user_uid("ptalice")
    rnd = random.Random(1939)
    bodies = {}
    seq = [0]

    def deliver(count):
        for _ in range(count):
            i = seq[0]
            seq[0] += 1
            b = body_for(i)
            name = md.add(b, where="cur" if i % 3 else "new", when=1600000000 + i)
            bodies[name.split(":")[0]] = b

    deliver(3000)
    asked = set()           # unique names whose deletion was asked
    outcomes = []           # (deletions asked, files removed) per round
    delay = 0.01
    for round_ in range(10):
        if len(md.files()) < 2000:
            deliver(3000 - len(md.files()))
        c = logged_in(s.port)
        st, uidl = c.multi("UIDL")
        assert st.startswith("+OK")
        by_num = dict(l.split(" ", 1) for l in uidl)
        nums = sorted(by_num, key=int)
        dele = [k for k in nums if rnd.random() < 0.5]
        retr = [k for k in nums if k not in dele][:5]
        for k in retr:
            c.retr_raw(f"RETR {k}")
        # Pipelined DELEs, answers read in one go.
        c.send("".join(f"DELE {k}\r\n" for k in dele))
        for k in dele:
            assert c.line().startswith("+OK message"), k
        asked |= {by_num[k] for k in dele}
        mail = procs_by_uid(s, uid)
        assert len(mail) == 1
        before = len(md.files())
        c.send("QUIT\r\n")
        time.sleep(rnd.uniform(0, 2 * delay))
        try:
            os.kill(mail[0], signal.SIGKILL)
        except ProcessLookupError:
            pass
        c.close()
        assert wait_until(lambda: procs_by_uid(s, uid, timeout=0) == [], 5)
        files = md.files()
        removed = before - len(files)
        outcomes.append((len(dele), removed))
        # Check every file: known, intact, once.
        seen = set()
        for rel in files:
            name = os.path.basename(rel)
            uniq = name.split(":")[0]
            assert uniq in bodies, name
            assert uniq not in seen, f"{uniq} twice"
            seen.add(uniq)
            with open(os.path.join(md.path, rel), "rb") as f:
                assert f.read() == bodies[uniq], name
        # Nothing was deleted that was not asked for.
        missing = set(bodies) - seen
        assert missing <= asked, sorted(missing - asked)[:5]
        # Aim the next kill: later if it came before UPDATE, earlier if
        # UPDATE had finished.
        if removed == 0:
            delay *= 2
        elif removed == len(dele):
            delay /= 2
        cut = [o for o in outcomes if 0 < o[1] < o[0]]
        if round_ >= 3 and cut:
            break
    assert [o for o in outcomes if 0 < o[1] < o[0]], outcomes
    # The lock is free and the mailbox consistent: a last session sees
    # exactly the files there and can delete them all.
    with logged_in(s.port) as c:
        left = len(md.files())
        assert c.cmd("STAT").startswith(f"+OK {left} ")
        c.send("".join(f"DELE {k}\r\n" for k in range(1, left + 1)))
        for _ in range(left):
            assert c.line().startswith("+OK message")
        assert c.cmd("QUIT") == f"+OK postern signing off ({left} messages deleted)"
    assert md.files() == []


# ---- a full disk ----

def fill(path):
    """Write path until the file system is full (chunks down to 1 byte)."""
    with open(path, "wb", buffering=0) as f:
        for chunk in (1 << 16, 4096, 512, 1):
            data = b"\0" * chunk
            try:
                while True:
                    f.write(data)
            except OSError as e:
                assert e.errno == 28, e


def messages(md):
    """Bodies of the message files (dot files are not messages)."""
    out = []
    for rel in md.files():
        if not os.path.basename(rel).startswith("."):
            with open(os.path.join(md.path, rel), "rb") as f:
                out.append(f.read())
    return sorted(out)


@pytest.mark.parametrize("fs", ["tmpfs", "ext4"])
def test_full_disk(server_factory, fs):
    """Mail delivered to new/, then the file system filled up to the last
    byte.  Login still works; the move from new/ to cur/ (ext4: the full
    directory cannot grow, so the rename fails and the message is served
    from new/) and the size index (its write fails) cost nothing; every
    message is served intact; deletions still happen; nothing is lost."""
    mnt = tempfile.mkdtemp(prefix=f"postern-full-{fs}-", dir="/tmp")
    os.chmod(mnt, 0o755)
    img = mnt + ".img"
    if fs == "tmpfs":
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", mnt],
                       check=True)
    else:
        subprocess.run(["truncate", "-s", "4M", img], check=True)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", "-b", "1024", img], check=True)
        subprocess.run(["mount", "-o", "loop", img, mnt], check=True)
    try:
        s = server_factory(extra_conf=f"mail_location = {mnt}/%u/Maildir\n").start()
        uid, gid = user_uid("ptalice"), os.stat(s.maildirs["ptalice"].path).st_gid
        os.makedirs(f"{mnt}/ptalice", exist_ok=True)
        os.chown(f"{mnt}/ptalice", uid, gid)
        md = Maildir(f"{mnt}/ptalice/Maildir", uid, gid)
        bodies = [body_for(i, 10000) for i in range(20)]
        for i, b in enumerate(bodies):
            md.add(b, when=1700000000 + i)
        fill(f"{mnt}/filler")
        if fs == "ext4":
            # Fill cur/'s directory blocks too: dot files, which a Maildir
            # reader ignores, until no entry fits.
            k = 0
            try:
                while k < 100000:
                    open(f"{md.path}/cur/.fill{k:06d}.xxxxxxxxxxxxxxxxxxxx", "w").close()
                    k += 1
            except OSError as e:
                assert e.errno == 28, e
        df = os.statvfs(mnt)
        assert df.f_bavail == 0, df
        with logged_in(s.port) as c:
            assert c.cmd("STAT").startswith("+OK 20 ")
            for i, b in enumerate(bodies, 1):
                st, raw = c.retr_raw(f"RETR {i}")
                assert raw == b.replace(b"\n", b"\r\n"), i
            for i in range(1, 6):
                assert c.cmd(f"DELE {i}").startswith("+OK")
            assert c.cmd("QUIT") == "+OK postern signing off (5 messages deleted)"
        log = s.logtext()
        assert "size cache: cannot" in log, log[-3000:]
        if fs == "ext4":
            assert "cannot move new/" in log and "No space left on device" in log, log[-3000:]
        # Nothing lost: exactly the 15 kept messages, intact.
        assert messages(md) == sorted(bodies[5:])
        # And the next login works too, on the still full disk.
        with logged_in(s.port) as c:
            assert c.cmd("STAT").startswith("+OK 15 ")
            c.quit()
        assert messages(md) == sorted(bodies[5:])
    finally:
        time.sleep(0.2)
        subprocess.run(["umount", "-l", mnt], check=False)
        os.rmdir(mnt)
        if os.path.exists(img):
            os.unlink(img)


# ---- planted Maildir entries ----

def test_planted_entries_are_skipped_logged_and_never_served(server):
    """Symlinks (to /etc/shadow and to another user's message), a FIFO in
    new/ and in cur/, an unreadable file, a file owned by another user:
    skipped at login and logged.  With ,W= sizes in their names they are
    listed, but RETR and TOP refuse them.  A message swapped for a FIFO or a
    symlink after login is refused too, at once, without hanging."""
    s = server
    md = s.maildirs["ptalice"]
    bob = s.maildirs["ptbob"]
    secret = b"Subject: bob's private mail\n\nBOB-SECRET\n"
    bob_name = bob.add(secret)
    bob_path = os.path.join(bob.path, "new", bob_name)
    good = [md.add(body_for(i), when=1700000100 + i) for i in range(3)]
    cur, new = os.path.join(md.path, "cur"), os.path.join(md.path, "new")
    planted = {
        "cur/1700000001.M1P1.shadow:2,": lambda p: os.symlink("/etc/shadow", p),
        "new/1700000002.M2P1.bobmail": lambda p: os.symlink(bob_path, p),
        "new/1700000003.M3P1.fifo": lambda p: os.mkfifo(p),
        "cur/1700000004.M4P1.fifo:2,": lambda p: os.mkfifo(p),
        "cur/1700000005.M5P1.unreadable:2,": None,
        "new/1700000006.M6P1.bobowned": None,
        # With ,W= the size needs no read at login: listed, never served.
        "cur/1700000007.M7P1.shadoww,W=40:2,": lambda p: os.symlink("/etc/shadow", p),
        "cur/1700000008.M8P1.bobownedw,W=40:2,": None,
        "cur/1700000009.M9P1.unreadablew,W=40:2,": None,
    }
    for rel, make in planted.items():
        p = os.path.join(md.path, rel)
        if make:
            make(p)
        else:
            with open(p, "wb") as f:
                f.write(b"Subject: planted\n\nPLANTED-SECRET\n")
            if "bobowned" in rel:
                os.chown(p, bob.uid, bob.gid)
            else:
                os.chown(p, md.uid, md.gid)
                os.chmod(p, 0)
    with logged_in(s.port) as c:
        st, lst = c.multi("LIST")
        # 3 real messages + the two ,W= files that are regular files; the
        # ,W= symlink is skipped by type.
        assert st.startswith("+OK 5 messages"), (st, lst)
        for k in range(1, 6):
            st, raw = c.retr_raw(f"RETR {k}")
            if raw is not None:
                assert b"SECRET" not in raw and b"root:" not in raw
            st2, raw2 = c.retr_raw(f"TOP {k} 5")
            if raw2 is not None:
                assert b"SECRET" not in raw2
        served = [k for k in range(1, 6) if c.retr_raw(f"RETR {k}")[1] is not None]
        assert len(served) == 3, served
        c.quit()
    log = s.logtext()
    for rel in ("cur/1700000001.M1P1.shadow:2,", "new/1700000002.M2P1.bobmail",
                "new/1700000003.M3P1.fifo", "cur/1700000004.M4P1.fifo:2,",
                "cur/1700000007.M7P1.shadoww,W=40:2,"):
        assert f"maildir: skipping {rel}: not a regular file" in log, rel
    assert "maildir: skipping cur/1700000005.M5P1.unreadable:2,: Permission denied" in log
    assert "maildir: skipping cur/1700000006.M6P1.bobowned:2,: not owned by the mailbox " \
           "owner" in log
    assert re.search(r"cannot open message \d+: Operation not permitted", log)
    assert re.search(r"cannot open message \d+: Permission denied", log)
    # Nothing planted was changed or followed.
    assert open(bob_path, "rb").read() == secret
    assert os.readlink(os.path.join(cur, "1700000001.M1P1.shadow:2,")) == "/etc/shadow"

    # Swapped after the snapshot: a FIFO and a symlink take the place of
    # listed messages.  RETR answers -ERR at once; the session goes on.
    with logged_in(s.port) as c:
        assert c.cmd("STAT").startswith("+OK 5 ")
        names = sorted(n for n in os.listdir(cur) if ".fuzz" not in n and "1700000" in n
                       and n.split(".")[0] in ("1700000100", "1700000101"))
        assert len(names) == 2, os.listdir(cur)
        os.unlink(os.path.join(cur, names[0]))
        os.mkfifo(os.path.join(cur, names[0]))
        os.unlink(os.path.join(cur, names[1]))
        os.symlink(bob_path, os.path.join(cur, names[1]))
        t0 = time.time()
        st, lst = c.multi("UIDL")
        order = [l.split(" ", 1) for l in lst]
        for k, u in order:
            if u in (names[0].split(":")[0], names[1].split(":")[0]):
                assert c.cmd(f"RETR {k}").startswith("-ERR [SYS/TEMP]"), u
                assert c.cmd(f"TOP {k} 0").startswith("-ERR [SYS/TEMP]"), u
        assert time.time() - t0 < 5
        assert c.cmd("NOOP") == "+OK"
        c.quit()
    assert open(bob_path, "rb").read() == secret
