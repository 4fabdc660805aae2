"""postern-deliver, the local delivery agent (DESIGN.md "Names and files"):
delivery into a Maildir as the mailbox owner, the names and sizes the POP3
server relies on, sysexits codes for the MTA, quota and size limits, and the
drop-folder pickup that routes messages by their header."""
import fcntl
import os
import pwd
import re
import shutil
import stat
import subprocess
import threading
import time

import pytest

import conftest
from pop3util import Pop3, wait_until, wire_body, wire_size

# The sanitizer build of `make asan` sets POSTERN_DELIVER_BIN.
DELIVER = os.environ.get("POSTERN_DELIVER_BIN", os.path.join(conftest.TOP, "postern-deliver"))
EX_USAGE, EX_DATAERR, EX_NOUSER, EX_TEMPFAIL, EX_NOPERM, EX_CONFIG = 64, 65, 67, 75, 77, 78

MSG = b"From: a@example.org\nTo: ptalice@mail.test\nSubject: hi\n\nline one\n.dot line\nend"


def deliver(s, args, data=MSG, as_user=None, conf=True):
    cmd = [DELIVER] + (["-c", s.conf] if conf else []) + args
    pre = None
    if as_user:
        pw = pwd.getpwnam(as_user)

        def pre():
            os.setgroups([])
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
    return subprocess.run(cmd, input=data, capture_output=True, preexec_fn=pre, timeout=30)


def new_files(md):
    return sorted(os.listdir(os.path.join(md.path, "new")))


def only_message(md):
    names = new_files(md)
    assert len(names) == 1, names
    p = os.path.join(md.path, "new", names[0])
    with open(p, "rb") as f:
        return names[0], p, f.read()


def test_delivers_as_the_owner_with_sizes_in_the_name(server_factory):
    s = server_factory()
    md = s.maildirs["ptalice"]
    r = deliver(s, ["-d", "ptalice", "-f", "a@example.org", "-a", "ptalice@mail.test"])
    assert r.returncode == 0, r.stderr
    name, path, data = only_message(md)
    # Delivered-To is the bare address, as Postfix's local(8) and Dovecot
    # write it; Return-Path keeps its angle brackets (RFC 5322).
    assert data == (b"Return-Path: <a@example.org>\nDelivered-To: ptalice@mail.test\n" + MSG)
    st = os.stat(path)
    pw = pwd.getpwnam("ptalice")
    assert (st.st_uid, st.st_gid) == (pw.pw_uid, pw.pw_gid)
    assert st.st_mode & 0o777 == 0o600
    m = re.fullmatch(r"\d+\.M\d+P\d+Q\d+\.[^,:/]+,S=(\d+),W=(\d+)", name)
    assert m, name
    assert int(m.group(1)) == len(data)
    assert int(m.group(2)) == wire_size(data)
    assert os.listdir(os.path.join(md.path, "tmp")) == []


def test_delivered_message_is_served_whole_by_pop3(server_factory):
    s = server_factory().start()
    assert deliver(s, ["-d", "ptalice", "-f", "<>"]).returncode == 0
    name, _, data = only_message(s.maildirs["ptalice"])
    assert data.startswith(b"Return-Path: <>\n")
    c = Pop3(s.port)
    try:
        c.login()
        assert c.cmd("LIST 1") == "+OK 1 %d" % wire_size(data)
        assert c.cmd("RETR 1").startswith("+OK")
        assert c.raw_until() == wire_body(data)
        uidl = c.cmd("UIDL 1").split()[2]
        assert name.startswith(uidl)
        c.cmd("QUIT")
    finally:
        c.close()


def test_mbox_from_line_is_dropped_and_empty_message_kept(server_factory):
    s = server_factory()
    md = s.maildirs["ptbob"]
    r = deliver(s, ["-d", "ptbob"], data=b"From someone@x Mon Jan  1 00:00:00 2026\nSubject: x\n\nb\n")
    assert r.returncode == 0, r.stderr
    assert only_message(md)[2] == b"Subject: x\n\nb\n"
    os.unlink(os.path.join(md.path, "new", new_files(md)[0]))
    r = deliver(s, ["-d", "ptbob"], data=b"")
    assert r.returncode == 0, r.stderr
    name, _, data = only_message(md)
    assert data == b"" and name.endswith(",S=0,W=0")


def test_envelope_arguments_cannot_add_headers(server_factory):
    s = server_factory()
    md = s.maildirs["ptalice"]
    r = deliver(s, ["-d", "ptalice", "-f", "a@b\nX-Evil: 1", "-a", "x" * 600 + "\r"],
                data=b"Subject: s\n\nb\n")
    assert r.returncode == 0, r.stderr
    data = only_message(md)[2]
    head = data.split(b"Subject: s\n")[0].decode()
    assert head == "Return-Path: <a@b?X-Evil: 1>\nDelivered-To: %s\n" % ("x" * 512)


def test_unknown_user_and_refused_accounts(server_factory):
    s = server_factory()
    r = deliver(s, ["-d", "nosuchuser"])
    assert r.returncode == EX_NOUSER
    assert b"no such user" in r.stderr
    s.add_user_line("rootish:{PLAIN}x:0:0::/root::")
    s.add_user_line("system:{PLAIN}x:5:5::/tmp/system-home::")
    assert deliver(s, ["-d", "rootish"]).returncode == EX_NOPERM
    assert deliver(s, ["-d", "system"]).returncode == EX_NOPERM
    assert not os.path.exists("/tmp/system-home")
    for u in ("ptalice", "ptbob", "ptcarol"):
        assert new_files(s.maildirs[u]) == []


def test_recipient_delimiter_strips_the_extension(server_factory):
    s = server_factory(extra_conf="recipient_delimiter = +\n")
    assert deliver(s, ["-d", "ptcarol+lists"]).returncode == 0
    assert len(new_files(s.maildirs["ptcarol"])) == 1
    s2 = server_factory()
    assert deliver(s2, ["-d", "ptcarol+lists"]).returncode == EX_NOUSER


def test_not_root_delivers_only_to_its_own_mailbox(server_factory):
    s = server_factory()
    # The passwd file is root's (0640): a mail user cannot read it.
    r = deliver(s, ["-d", "ptalice"], as_user="ptalice")
    assert r.returncode == EX_TEMPFAIL, r.stderr
    os.chmod(s.passwd, 0o644)
    r = deliver(s, ["-d", "ptalice"], as_user="ptbob")
    assert r.returncode == EX_NOPERM, r.stderr
    assert new_files(s.maildirs["ptalice"]) == []
    r = deliver(s, ["-d", "ptalice"], as_user="ptalice")
    assert r.returncode == 0, r.stderr
    assert len(new_files(s.maildirs["ptalice"])) == 1


def test_explicit_maildir_as_its_owner_only(server_factory):
    s = server_factory()
    md = s.maildirs["ptbob"]
    r = deliver(s, ["-m", md.path], conf=False)
    assert r.returncode == EX_NOPERM                        # not as root
    # Not alice's: a Maildir the caller may not write is a permanent
    # refusal (77, the MTA bounces), not "try again" for days.
    r = deliver(s, ["-m", md.path], as_user="ptalice", conf=False)
    assert r.returncode == EX_NOPERM, r.stderr
    r = deliver(s, ["-m", md.path, "-f", "x@y"], as_user="ptbob", conf=False)
    assert r.returncode == 0, r.stderr
    assert only_message(md)[2].startswith(b"Return-Path: <x@y>\n")
    assert deliver(s, ["-m", "relative/Maildir"], as_user="ptbob", conf=False).returncode == EX_USAGE


def test_maildir_the_owner_may_not_write_is_refused_for_good(server_factory):
    s = server_factory()
    md = s.maildirs["ptcarol"]
    # A Maildir left owned by root (a restore done as root): carol's
    # delivery cannot write it, which no retry mends by itself.
    subprocess.run(["chown", "-R", "root:root", md.path], check=True)
    r = deliver(s, ["-d", "ptcarol"])
    assert r.returncode == EX_NOPERM, r
    assert b"Permission denied" in r.stderr
    assert os.listdir(os.path.join(md.path, "tmp")) == []
    # A parent directory carol may not create it in: the same.
    subprocess.run(["rm", "-rf", md.path], check=True)
    parent = os.path.dirname(md.path)
    os.chown(parent, 0, 0)
    os.chmod(parent, 0o755)
    r = deliver(s, ["-d", "ptcarol"])
    assert r.returncode == EX_NOPERM, r
    assert not os.path.exists(md.path)


def test_missing_maildir_is_created_private(server_factory):
    s = server_factory()
    md = s.maildirs["ptcarol"]
    subprocess.run(["rm", "-rf", md.path], check=True)
    assert deliver(s, ["-d", "ptcarol"]).returncode == 0
    pw = pwd.getpwnam("ptcarol")
    for sub in ("", "cur", "new", "tmp"):
        st = os.stat(os.path.join(md.path, sub))
        assert (st.st_uid, st.st_mode & 0o777) == (pw.pw_uid, 0o700), sub
    assert len(new_files(md)) == 1


def test_maildir_that_is_not_a_directory_fails_cleanly(server_factory):
    s = server_factory()
    md = s.maildirs["ptcarol"]
    subprocess.run(["rm", "-rf", os.path.join(md.path, "new")], check=True)
    with open(os.path.join(md.path, "new"), "w") as f:
        f.write("not a dir")
    r = deliver(s, ["-d", "ptcarol"])
    assert r.returncode == EX_TEMPFAIL, r
    assert os.listdir(os.path.join(md.path, "tmp")) == []


def test_quota_and_size_limit(server_factory):
    s = server_factory()
    md = s.maildirs["ptalice"]
    ms = os.path.join(md.path, "maildirsize")
    with open(ms, "w") as f:
        f.write("1000S,10C\n900 3\n")
    os.chown(ms, md.uid, md.gid)
    r = deliver(s, ["-d", "ptalice"], data=b"x" * 200)
    assert r.returncode == EX_TEMPFAIL and b"quota" in r.stderr
    assert new_files(md) == [] and os.listdir(os.path.join(md.path, "tmp")) == []
    r = deliver(s, ["-d", "ptalice"], data=b"y" * 50)
    assert r.returncode == 0, r.stderr
    with open(ms) as f:
        assert f.read() == "1000S,10C\n900 3\n50 1\n"
    r = deliver(s, ["-d", "ptalice", "-s", "100"], data=b"z" * 101)
    assert r.returncode == EX_DATAERR
    assert len(new_files(md)) == 1 and os.listdir(os.path.join(md.path, "tmp")) == []


# ---- maildirsize recalculation (Maildir++: past 5120 bytes, or stale) ----

def true_totals(md):
    """What the Maildir really holds: regular files of new/ and cur/, the
    size from ,S= when the name has one."""
    b = c = 0
    for sub in ("new", "cur"):
        for n in os.listdir(os.path.join(md.path, sub)):
            st = os.lstat(os.path.join(md.path, sub, n))
            if n.startswith(".") or not stat.S_ISREG(st.st_mode):
                continue
            m = re.search(r",S=(\d+)", n.split(":")[0])
            b += int(m.group(1)) if m else st.st_size
            c += 1
    return b, c


def write_maildirsize(md, text):
    ms = os.path.join(md.path, "maildirsize")
    with open(ms, "w") as f:
        f.write(text)
    os.chown(ms, md.uid, md.gid)
    return ms


def read(path):
    with open(path) as f:
        return f.read()


def quota_maildir(s):
    """ptalice's Maildir with three delivered messages (,S= names) and one
    in cur/ without ,S= (its size comes from the file)."""
    md = s.maildirs["ptalice"]
    for n in (100, 200, 300):
        assert deliver(s, ["-d", "ptalice"], data=b"m" * n).returncode == 0
    md.add(b"c" * 77, where="cur")
    assert true_totals(md) == (677, 4)
    return md


def test_big_maildirsize_is_recalculated(server_factory):
    s = server_factory()
    md = quota_maildir(s)
    # 6000 bytes of lines that say 3000 bytes and no messages.
    ms = write_maildirsize(md, "10000S,100C\n" + "1 0\n" * 1500)
    r = deliver(s, ["-d", "ptalice"], data=b"n" * 50)
    assert r.returncode == 0, r.stderr
    # The definition, the totals found before this delivery, its own line.
    assert read(ms) == "10000S,100C\n677 4\n50 1\n"
    assert true_totals(md) == (727, 5)
    st = os.lstat(ms)
    assert stat.S_ISREG(st.st_mode) and (st.st_uid, st.st_mode & 0o777) == (md.uid, 0o600)
    assert os.listdir(os.path.join(md.path, "tmp")) == []
    # Lines that claim an empty mailbox; the true totals leave 49 bytes.
    write_maildirsize(md, "776S\n" + "0 0\n" * 2000)
    r = deliver(s, ["-d", "ptalice"], data=b"o" * 50)
    assert r.returncode == EX_TEMPFAIL and b"quota" in r.stderr, r
    assert read(ms) == "776S\n727 5\n"
    assert true_totals(md) == (727, 5)
    assert os.listdir(os.path.join(md.path, "tmp")) == []
    r = deliver(s, ["-d", "ptalice"], data=b"p" * 49)
    assert r.returncode == 0, r.stderr
    assert read(ms) == "776S\n727 5\n49 1\n"
    # The message count is checked on the true count too.
    write_maildirsize(md, "6C\n" + "0 0\n" * 2000)
    r = deliver(s, ["-d", "ptalice"], data=b"q")
    assert r.returncode == EX_TEMPFAIL and b"quota" in r.stderr, r
    assert read(ms) == "6C\n776 6\n"
    # One byte past the bound is enough (test_small_... has one at it).
    text = "1000000S,1000C\n" + "1 0\n" * 1275 + "123 0\n"
    assert len(text) == 5121
    write_maildirsize(md, text)
    assert deliver(s, ["-d", "ptalice"], data=b"r").returncode == 0
    assert read(ms) == "1000000S,1000C\n776 6\n1 1\n"


def test_stale_maildirsize_over_quota_is_recalculated(server_factory):
    s = server_factory()
    md = s.maildirs["ptalice"]
    md.add(b"x" * 10)
    # Big, and claims 500000 bytes in a 1000-byte quota: the Maildir has 10.
    ms = write_maildirsize(md, "1000S,10C\n" + "500 1\n" * 1000)
    r = deliver(s, ["-d", "ptalice"], data=b"y" * 100)
    assert r.returncode == 0, r.stderr
    assert read(ms) == "1000S,10C\n10 1\n100 1\n"
    # Small but impossible: totals below zero.
    write_maildirsize(md, "1000S,10C\n-5000 -3\n")
    r = deliver(s, ["-d", "ptalice"], data=b"z" * 100)
    assert r.returncode == 0, r.stderr
    assert read(ms) == "1000S,10C\n110 2\n100 1\n"
    # Small, over quota, and not rewritten for over 15 minutes.
    write_maildirsize(md, "1000S,10C\n990 3\n")
    old = os.stat(ms).st_mtime - 16 * 60
    os.utime(ms, (old, old))
    r = deliver(s, ["-d", "ptalice"], data=b"w" * 100)
    assert r.returncode == 0, r.stderr
    assert read(ms) == "1000S,10C\n210 3\n100 1\n"


def test_small_maildirsize_is_only_appended_to(server_factory):
    s = server_factory()
    md = quota_maildir(s)
    # 5120 bytes of lines that are wrong (the Maildir holds 677 bytes),
    # but the file is within the bound and fresh: it is believed.
    text = "1000000S,1000C\n" + "1 0\n" * 1275 + "12 0\n"
    assert len(text) == 5120
    ms = write_maildirsize(md, text)
    ino = os.stat(ms).st_ino
    r = deliver(s, ["-d", "ptalice"], data=b"n" * 50)
    assert r.returncode == 0, r.stderr
    assert read(ms) == text + "50 1\n" and os.stat(ms).st_ino == ino
    # Fresh and over quota: refused, the file untouched.
    text = "1000S,100C\n990 1\n"
    write_maildirsize(md, text)
    r = deliver(s, ["-d", "ptalice"], data=b"n" * 50)
    assert r.returncode == EX_TEMPFAIL and b"quota" in r.stderr, r
    assert read(ms) == text


def test_maildirsize_recalculation_follows_no_symlink(server_factory):
    s = server_factory()
    md = s.maildirs["ptalice"]
    md.add(b"x" * 10)
    big = os.path.join(md.path, "big")
    with open(big, "wb") as f:
        f.write(b"b" * 5000)
    # Symlinks among the messages, with and without ,S=: not counted.
    os.symlink(big, os.path.join(md.path, "cur", "1700000000.L1.host,S=900000:2,"))
    os.symlink(big, os.path.join(md.path, "new", "1700000000.L2.host"))
    os.symlink("/nonexistent", os.path.join(md.path, "new", "1700000000.L3.host"))
    ms = write_maildirsize(md, "1000S,10C\n" + "0 0\n" * 2000)
    r = deliver(s, ["-d", "ptalice"], data=b"y" * 100)
    assert r.returncode == 0, r.stderr
    assert read(ms) == "1000S,10C\n10 1\n100 1\n"
    assert read(big) == "b" * 5000
    # A symlink named maildirsize is neither read nor replaced nor
    # written through: no quota, the link and its target as they were.
    target = os.path.join(md.path, "other-maildirsize")
    text = "10S,1C\n" + "500 1\n" * 1000
    with open(target, "w") as f:
        f.write(text)
    os.chown(target, md.uid, md.gid)
    os.unlink(ms)
    os.symlink(target, ms)
    r = deliver(s, ["-d", "ptalice"], data=b"z" * 100)
    assert r.returncode == 0, r.stderr
    assert os.path.islink(ms) and os.readlink(ms) == target
    assert read(target) == text
    assert [n for n in os.listdir(os.path.join(md.path, "tmp"))] == []


def test_concurrent_deliveries_lose_nothing(server_factory):
    s = server_factory()
    md = s.maildirs["ptbob"]
    results = []

    def one(i):
        results.append(deliver(s, ["-d", "ptbob"], data=b"Subject: %d\n\nbody %d\n" % (i, i)).returncode)
    ts = [threading.Thread(target=one, args=(i,)) for i in range(24)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert results == [0] * 24
    assert len(new_files(md)) == 24
    assert sorted(md.contents()) == sorted(b"Subject: %d\n\nbody %d\n" % (i, i) for i in range(24))


def test_usage_and_configuration_errors(server_factory):
    s = server_factory()
    assert deliver(s, []).returncode == EX_USAGE
    assert deliver(s, ["-d", "ptalice", "-m", "/tmp/x"]).returncode == EX_USAGE
    assert deliver(s, ["-d", "ptalice", "-s", "lots"]).returncode == EX_USAGE
    with open(s.conf, "a") as f:
        f.write("no_such_key = 1\n")
    r = deliver(s, ["-d", "ptalice"])
    assert r.returncode == EX_CONFIG and b"no_such_key" in r.stderr


# ---- pickup ----

def drop(d, name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def pickup_setup(server_factory, extra=""):
    s = server_factory(extra_conf="postmaster = ptcarol\n" + extra)
    d = os.path.join(s.tmp, "drop")
    os.makedirs(d)
    return s, d


def pickup(s, d, *opts, **kw):
    return deliver(s, list(opts) + ["-p", d], **kw)


def dropped(d):
    """What is left in the drop folder itself (not the pickup's areas)."""
    return sorted(n for n in os.listdir(d) if n not in (".state", "failed"))


def in_state(d):
    return sorted(os.listdir(os.path.join(d, ".state")))


def set_aside(d):
    return sorted(os.listdir(os.path.join(d, "failed")))


def copies(s, *users):
    return [len(s.maildirs[u].contents()) for u in users]


def test_pickup_routes_by_header_and_removes_the_file(server_factory):
    s, d = pickup_setup(server_factory)
    drop(d, "m1", b'To: ptalice@mail.test, "Bob, B." <ptbob@mail.test> (b)\n'
                  b"Cc: ptalice@mail.test\nSubject: both\n\nhello\n")
    r = pickup(s, d)
    assert r.returncode == 0, r.stderr
    assert dropped(d) == [] and in_state(d) == [] and set_aside(d) == []
    for u in ("ptalice", "ptbob"):
        name, _, data = only_message(s.maildirs[u])
        assert data.startswith(b"Delivered-To: %s@mail.test\n" % u.encode())
        assert data.endswith(b"Subject: both\n\nhello\n")
    assert new_files(s.maildirs["ptcarol"]) == []
    # The pickup's areas are its own: root's, mode 0700.
    for area in (".state", "failed"):
        st = os.lstat(os.path.join(d, area))
        assert stat.S_ISDIR(st.st_mode) and (st.st_uid, st.st_mode & 0o777) == (0, 0o700)


def test_pickup_unknown_recipients_go_to_the_postmaster(server_factory):
    s, d = pickup_setup(server_factory)
    drop(d, "m1", b"To: nobody@mail.test\nSubject: lost\n\nx\n")
    drop(d, "m2", b"To: ptbob@mail.test, stranger@else.test\nSubject: half\n\ny\n")
    drop(d, "m3", b"Subject: no recipients at all\n\nz\n")
    assert pickup(s, d).returncode == 0
    assert dropped(d) == [] and in_state(d) == []
    pm = s.maildirs["ptcarol"].contents()
    assert len(pm) == 3
    assert any(m.startswith(b"Delivered-To: nobody@mail.test\n") for m in pm)
    assert len(s.maildirs["ptbob"].contents()) == 1
    assert s.maildirs["ptalice"].contents() == []


def test_pickup_envelope_fields_win_over_to(server_factory):
    s, d = pickup_setup(server_factory, "recipient_delimiter = +\n")
    drop(d, "m1", b"Delivered-To: ptbob+list@mail.test\nTo: ptalice@mail.test\n\nx\n")
    assert pickup(s, d).returncode == 0
    assert len(s.maildirs["ptbob"].contents()) == 1
    assert s.maildirs["ptalice"].contents() == []


def test_pickup_over_quota_recipient_waits_and_nobody_gets_two(server_factory):
    """Issue 13 finding 1: three recipients, one over quota.  The file
    used to stay whole and every run copied it again to the two others."""
    s, d = pickup_setup(server_factory)
    bob = s.maildirs["ptbob"]
    write_maildirsize(bob, "100S,10C\n95 1\n")
    msg = b"To: ptalice@mail.test, ptbob@mail.test, ptcarol@mail.test\nSubject: three\n\nhi\n"
    drop(d, "m1", msg)
    r = pickup(s, d)
    # All that is left waits for a later run: not a failure of this one.
    assert r.returncode == 0, r.stderr
    assert b"file=m1 deferred: 1 of 3 copies wait" in r.stderr
    assert copies(s, "ptalice", "ptbob", "ptcarol") == [1, 0, 1]
    assert dropped(d) == [] and in_state(d) == [".p.m1", "m1"] and set_aside(d) == []
    # Retried at once (-F), still over quota: nothing new for anyone.  And
    # the folder itself is not changed, so the path unit (PathChanged=)
    # is not started again by a run that only retries.
    before = os.stat(d).st_mtime_ns
    r = pickup(s, d, "-F")
    assert r.returncode == 0, r.stderr
    assert copies(s, "ptalice", "ptbob", "ptcarol") == [1, 0, 1]
    assert os.stat(d).st_mtime_ns == before
    # The quota allows it now; a run inside the back-off leaves it be.
    write_maildirsize(bob, "100000S,10C\n95 1\n")
    r = pickup(s, d)
    assert r.returncode == 0, r.stderr
    assert copies(s, "ptalice", "ptbob", "ptcarol") == [1, 0, 1]
    # The next try (-F: now rather than in two minutes) delivers bob's.
    r = pickup(s, d, "-F")
    assert r.returncode == 0, r.stderr
    assert copies(s, "ptalice", "ptbob", "ptcarol") == [1, 1, 1]
    assert only_message(bob)[2] == b"Delivered-To: ptbob@mail.test\n" + msg
    assert in_state(d) == [] and set_aside(d) == []
    assert pickup(s, d, "-F").returncode == 0
    assert copies(s, "ptalice", "ptbob", "ptcarol") == [1, 1, 1]


def test_pickup_sets_aside_fifos_links_and_directories_once(server_factory):
    s, d = pickup_setup(server_factory)
    secret = os.path.join(s.tmp, "secret")
    with open(secret, "wb") as f:
        f.write(b"To: ptalice@mail.test\n\nnot for the drop folder\n")
    os.link(secret, os.path.join(d, "linked"))
    os.symlink(secret, os.path.join(d, "symlinked"))
    os.mkfifo(os.path.join(d, "fifo"))
    os.mkdir(os.path.join(d, "adir"))
    drop(d, ".partial", b"To: ptalice@mail.test\n\nstill being written\n")
    drop(d, "good", b"To: ptbob@mail.test\n\nfine\n")
    r = pickup(s, d)
    assert r.returncode == 0, r.stderr
    assert set_aside(d) == ["adir", "fifo", "linked", "symlinked"]
    for n in ("adir", "fifo", "linked", "symlinked"):
        assert b"file=%s moved to failed/: " % n.encode() in r.stderr, r.stderr
    assert dropped(d) == [".partial"] and in_state(d) == []
    assert copies(s, "ptalice", "ptbob") == [0, 1]
    assert os.stat(secret).st_nlink == 2          # moved, not opened or removed
    # Nothing left to do: the next run says nothing and moves nothing.
    r = pickup(s, d)
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    assert set_aside(d) == ["adir", "fifo", "linked", "symlinked"]
    assert dropped(d) == [".partial"]
    assert copies(s, "ptalice", "ptbob") == [0, 1]


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except FileNotFoundError:
        return []


def blocked_writing_stderr(pid):
    """Is pid inside write(2, ...)?  (x86_64: syscall 1.)"""
    try:
        with open(f"/proc/{pid}/syscall") as f:
            return f.read().split()[:2] == ["1", "0x2"]
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_pickup_killed_between_copies_does_not_duplicate(server_factory):
    """SIGKILL after the first copy: the next run does not copy it again.
    The second recipient is over quota, and the pickup's stderr is a pipe
    that is full, so the child reporting that failure blocks there: the
    pickup is stopped for certain after the first copy and its record."""
    assert os.uname().machine == "x86_64", "blocked_writing_stderr knows x86_64 only"
    s, d = pickup_setup(server_factory)
    bob = s.maildirs["ptbob"]
    write_maildirsize(bob, "100S,10C\n95 1\n")
    drop(d, "m1", b"To: ptalice@mail.test, ptbob@mail.test, ptcarol@mail.test\n\nonce\n")
    rfd, wfd = os.pipe()
    try:
        os.set_blocking(wfd, False)
        for size in (4096, 1):
            try:
                while True:
                    os.write(wfd, b"x" * size)
            except BlockingIOError:
                pass
        os.set_blocking(wfd, True)
        p = subprocess.Popen([DELIVER, "-c", s.conf, "-p", d], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=wfd, start_new_session=True)
        try:
            assert wait_until(lambda: any(blocked_writing_stderr(c) for c in children(p.pid)),
                              30)
            assert copies(s, "ptalice", "ptbob", "ptcarol") == [1, 0, 0]
        finally:
            os.killpg(p.pid, 9)
            p.wait()
    finally:
        os.close(wfd)
        os.close(rfd)
    assert p.returncode == -9
    write_maildirsize(bob, "100000S,10C\n95 1\n")
    r = pickup(s, d)
    assert r.returncode == 0, r.stderr
    assert copies(s, "ptalice", "ptbob", "ptcarol") == [1, 1, 1]
    assert in_state(d) == [] and set_aside(d) == []


def test_pickup_settles_an_interrupted_copy_by_its_name(server_factory):
    """The window between a copy's rename into the Maildir and the "done"
    record: the record says which name the copy was to get, and the next
    run looks for it (postern-deliver(8), FILES)."""
    s, d = pickup_setup(server_factory)
    state = os.path.join(d, ".state")
    os.mkdir(state, 0o700)
    msg = b"To: ptalice@mail.test, ptbob@mail.test\n\nx\n"
    drop(state, "m1", msg)
    # alice's copy arrived (and was read since: in cur/ with a flag); the
    # run died before it recorded "done".  bob's was started and never
    # arrived (the crash came before its rename).
    s.maildirs["ptalice"].add(b"Delivered-To: ptalice@mail.test\n" + msg, where="cur",
                              name="1700000000.M1P1Q7.host,S=51,W=54:2,S")
    with open(os.path.join(state, ".p.m1"), "w") as f:
        f.write("try 1700000000.M1P1Q7.host ptalice\ntry 1700000000.M1P1Q8.host ptbob\n")
    r = pickup(s, d)
    assert r.returncode == 0, r.stderr
    assert b"user=<ptalice>: copy 1700000000.M1P1Q7.host found" in r.stderr
    assert copies(s, "ptalice", "ptbob") == [1, 1]
    assert in_state(d) == [] and set_aside(d) == []


def test_pickup_gives_up_after_five_days(server_factory):
    s, d = pickup_setup(server_factory)
    bob = s.maildirs["ptbob"]
    write_maildirsize(bob, "100S,10C\n95 1\n")
    state = os.path.join(d, ".state")
    os.mkdir(state, 0o700)
    drop(state, "m1", b"To: ptalice@mail.test, ptbob@mail.test\n\nold\n")
    six_days = int(time.time()) - 6 * 86400
    with open(os.path.join(state, ".p.m1"), "w") as f:
        f.write(f"try 1700000000.M1P1Q1.host ptalice\ndone ptalice\ndefer {six_days}\n")
    r = pickup(s, d, "-F")
    assert r.returncode == 0, r.stderr
    assert b"file=m1 moved to failed/: 1 copies still failing after 5 days" in r.stderr
    assert set_aside(d) == ["m1"] and in_state(d) == []
    assert copies(s, "ptalice", "ptbob") == [0, 0]      # alice's was recorded as done


def test_pickup_one_run_at_a_time_and_stale_records(server_factory):
    s, d = pickup_setup(server_factory)
    drop(d, "m1", b"To: ptalice@mail.test, ptbob@mail.test\n\nx\n")
    assert pickup(s, d).returncode == 0          # makes .state and failed/
    assert copies(s, "ptalice", "ptbob") == [1, 1]
    # A record left by a crash after its file was removed is not taken
    # for the next file of that name.
    with open(os.path.join(d, ".state", ".p.m1"), "w") as f:
        f.write("try 1700000000.M1P1Q1.host ptalice\ndone ptalice\ndone ptbob\n")
    drop(d, "m1", b"To: ptalice@mail.test, ptbob@mail.test\n\ny\n")
    # While another run holds the lock, a run does nothing and says so.
    fd = os.open(os.path.join(d, ".state"), os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        r = pickup(s, d)
        assert r.returncode == 0 and b"another run is at work" in r.stderr, r
        assert dropped(d) == ["m1"] and copies(s, "ptalice", "ptbob") == [1, 1]
    finally:
        os.close(fd)
    r = pickup(s, d)
    assert r.returncode == 0, r.stderr
    assert copies(s, "ptalice", "ptbob") == [2, 2]
    assert in_state(d) == [] and dropped(d) == []


def test_pickup_without_postmaster_sets_unknown_mail_aside(server_factory):
    s, d = pickup_setup(server_factory, "postmaster = nosuchuser\n")
    drop(d, "m1", b"To: stranger@else.test\n\nx\n")
    drop(d, "m2", b"To: ptbob@mail.test, stranger@else.test\n\ny\n")
    drop(d, "m3", b"To: ptalice@mail.test\n\nz\n")
    r = pickup(s, d)
    # Said at the start, and in the exit status; what can go, goes.
    assert r.returncode == EX_CONFIG, r
    assert r.stderr.startswith(b"postern-deliver: pickup: the postmaster user <nosuchuser> "
                               b"is not in "), r.stderr
    assert set_aside(d) == ["m1", "m2"]
    assert b"file=m1 moved to failed/: <nosuchuser>: no such user and no postmaster" \
        in r.stderr
    assert copies(s, "ptalice", "ptbob", "ptcarol") == [1, 1, 0]
    assert dropped(d) == [] and in_state(d) == []
    r = pickup(s, d)
    assert r.returncode == EX_CONFIG and b"moved to failed" not in r.stderr
    assert copies(s, "ptalice", "ptbob", "ptcarol") == [1, 1, 0]
    # With a postmaster the same mail is delivered.
    s2, d2 = pickup_setup(server_factory, "postmaster = ptbob\n")
    drop(d2, "m1", b"To: stranger@else.test\n\nx\n")
    r = pickup(s2, d2)
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    assert copies(s2, "ptbob") == [1] and set_aside(d2) == []


def test_pickup_refused_copies_set_the_file_aside_once(server_factory):
    s, d = pickup_setup(server_factory)
    s.add_user_line("system:{PLAIN}x:5:5::/tmp/system-home::")   # below first_valid_uid
    drop(d, "m1", b"To: ptalice@mail.test, system@mail.test\n\nsmall\n")
    drop(d, "m2", b"To: ptbob@mail.test\n\n" + b"big " * 100 + b"\n")
    r = pickup(s, d, "-s", "200")
    assert r.returncode == 0, r.stderr
    assert set_aside(d) == ["m1", "m2"]
    assert b"file=m1 moved to failed/: <system>: exit 77" in r.stderr
    assert b"file=m2 moved to failed/: <ptbob>: exit 65" in r.stderr
    assert copies(s, "ptalice", "ptbob") == [1, 0]
    assert not os.path.exists("/tmp/system-home")
    assert in_state(d) == []
    r = pickup(s, d, "-s", "200")
    assert r.returncode == 0 and r.stderr == b""
    assert copies(s, "ptalice", "ptbob") == [1, 0]


def test_pickup_refuses_state_areas_it_does_not_own(server_factory):
    s, d = pickup_setup(server_factory)
    # Planted by a writer before the first run: not trusted, not used.
    os.mkdir(os.path.join(d, ".state"), 0o700)
    os.chown(os.path.join(d, ".state"), pwd.getpwnam("ptbob").pw_uid, -1)
    drop(d, "m1", b"To: ptalice@mail.test\n\nx\n")
    r = pickup(s, d)
    assert r.returncode == EX_CONFIG and b".state must be a directory of uid 0" in r.stderr, r
    assert copies(s, "ptalice") == [0] and dropped(d) == ["m1"]
    os.rmdir(os.path.join(d, ".state"))
    os.mkdir(os.path.join(d, "failed"), 0o755)                  # not 0700
    r = pickup(s, d)
    assert r.returncode == EX_CONFIG and b"failed must be a directory" in r.stderr, r
    os.chmod(os.path.join(d, "failed"), 0o700)
    assert pickup(s, d).returncode == 0
    assert copies(s, "ptalice") == [1] and dropped(d) == []


def test_pickup_not_as_root_serves_only_its_own_uid(server_factory):
    s, d = pickup_setup(server_factory)
    os.chmod(s.passwd, 0o644)
    os.chmod(d, 0o777)
    drop(d, "m1", b"To: ptalice@mail.test, ptbob@mail.test\n\nboth\n")
    r = pickup(s, d, as_user="ptalice")
    assert r.returncode == 0, r.stderr           # bob's copy waits
    assert b"ptbob" in r.stderr and b"deferred: 1 of 2" in r.stderr
    assert copies(s, "ptalice", "ptbob") == [1, 0]
    assert in_state(d) == [".p.m1", "m1"]        # kept for a run that may serve bob
    # alice's .state is not root's: a root run does not trust it.
    r = pickup(s, d, "-F")
    assert r.returncode == EX_CONFIG and b"must be a directory of uid 0" in r.stderr, r
    assert copies(s, "ptalice", "ptbob") == [1, 0]


# ---- the shipped units and the manual page ----

UNITS = os.path.join(conftest.TOP, "contrib", "systemd")


def unit_settings(name):
    """key -> [values] of a unit file (comments left out)."""
    out = {}
    with open(os.path.join(UNITS, name)) as f:
        for line in f:
            line = line.strip()
            if "=" in line and not line.startswith(("#", ";", "[")):
                k, v = line.split("=", 1)
                out.setdefault(k.strip(), []).append(v.strip())
    return out


def test_pickup_units_verify_and_cannot_spin(tmp_path):
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: contrib/install-deps.sh test installs systemd"
    names = ["postern-pickup.service", "postern-pickup.path", "postern-pickup.timer"]
    for n in names:
        with open(os.path.join(UNITS, n)) as f:
            text = f.read()
        # The units are templates (make install fills in @SBINDIR@): the
        # built binary takes its place here, so that verify checks a real
        # executable.
        assert text.count("@SBINDIR@/postern-deliver") == (1 if n.endswith(".service") else 0)
        with open(tmp_path / n, "w") as f:
            f.write(text.replace("@SBINDIR@/postern-deliver", DELIVER))
    # Documentation=man:postern-deliver(8) is checked against the page of
    # this tree.
    man8 = tmp_path / "man" / "man8"
    man8.mkdir(parents=True)
    shutil.copy(os.path.join(conftest.TOP, "man", "postern-deliver.8"), man8)
    r = subprocess.run([analyze, "verify"] + [str(tmp_path / n) for n in names],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, MANPATH=str(tmp_path / "man")))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    svc, path, timer = (unit_settings(n) for n in names)
    # A folder that is never empty (.state/, failed/, a file waiting for
    # its retry) must not start the pickup again and again: the path unit
    # reacts to changes only, the retries come from the timer, and systemd
    # never stops starting the pickup (its start limit would stop all mail).
    assert path["PathChanged"] == ["/var/spool/postern/drop"]
    assert not {"DirectoryNotEmpty", "PathExists", "PathExistsGlob"} & set(path)
    assert timer["OnUnitInactiveSec"] == ["1min"]
    assert svc["StartLimitIntervalSec"] == ["0"] and svc["Type"] == ["oneshot"]
    assert svc["ExecStart"] == ["@SBINDIR@/postern-deliver -p /var/spool/postern/drop"]
    assert "SuccessExitStatus" not in svc      # "all that is left waits" is 0


def test_manual_page_is_clean():
    page = os.path.join(conftest.TOP, "man", "postern-deliver.8")
    r = subprocess.run(["mandoc", "-T", "lint", "-W", "warning", page], capture_output=True,
                       text=True)
    assert r.stdout == "" and r.returncode == 0, r.stdout
    r = subprocess.run(["groff", "-mandoc", "-ww", "-z", page], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    text = subprocess.run(["mandoc", "-T", "utf8", page], capture_output=True,
                          text=True).stdout
    # Issue 14 point 8: the header fields were quoted inside each other.
    assert "(‘Delivered-To’, ‘X-Original-To’, ‘Envelope-To’)" in re.sub(r"\s+", " ", text)
    assert "’’" not in text


def test_pickup_lines_go_to_stderr_unless_it_is_the_journal(server_factory):
    s, d = pickup_setup(server_factory, "postmaster = nosuchuser\n")
    for journal in (False, True):
        drop(d, "m1", b"To: stranger@else.test\n\nx\n")
        with open(os.path.join(s.tmp, "stderr"), "w+b") as err:
            st = os.fstat(err.fileno())
            env = dict(os.environ)
            env.pop("JOURNAL_STREAM", None)
            if journal:
                # systemd's way of saying "stderr is the journal": syslog
                # reaches it already, so nothing is written twice.
                env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
            r = subprocess.run([DELIVER, "-c", s.conf, "-p", d], stderr=err, env=env, timeout=30)
            err.seek(0)
            text = err.read()
        assert r.returncode == EX_CONFIG
        if journal:
            assert text == b""
        else:
            assert b"postmaster user <nosuchuser>" in text and b"moved to failed/" in text
    assert set_aside(d) == ["m1", "m1.1"]
