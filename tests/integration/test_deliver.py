"""postern-deliver, the local delivery agent (DESIGN.md "Names and files"):
delivery into a Maildir as the mailbox owner, the names and sizes the POP3
server relies on, sysexits codes for the MTA, quota and size limits, and the
drop-folder pickup that routes messages by their header."""
import os
import pwd
import re
import stat
import subprocess
import threading

import pytest

import conftest
from pop3util import Pop3, wire_body, wire_size

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


def test_pickup_routes_by_header_and_removes_the_file(server_factory):
    s, d = pickup_setup(server_factory)
    drop(d, "m1", b'To: ptalice@mail.test, "Bob, B." <ptbob@mail.test> (b)\n'
                  b"Cc: ptalice@mail.test\nSubject: both\n\nhello\n")
    r = deliver(s, ["-p", d])
    assert r.returncode == 0, r.stderr
    assert os.listdir(d) == []
    for u in ("ptalice", "ptbob"):
        name, _, data = only_message(s.maildirs[u])
        assert data.startswith(b"Delivered-To: %s@mail.test\n" % u.encode())
        assert data.endswith(b"Subject: both\n\nhello\n")
    assert new_files(s.maildirs["ptcarol"]) == []


def test_pickup_unknown_recipients_go_to_the_postmaster(server_factory):
    s, d = pickup_setup(server_factory)
    drop(d, "m1", b"To: nobody@mail.test\nSubject: lost\n\nx\n")
    drop(d, "m2", b"To: ptbob@mail.test, stranger@else.test\nSubject: half\n\ny\n")
    drop(d, "m3", b"Subject: no recipients at all\n\nz\n")
    assert deliver(s, ["-p", d]).returncode == 0
    assert os.listdir(d) == []
    pm = s.maildirs["ptcarol"].contents()
    assert len(pm) == 3
    assert any(m.startswith(b"Delivered-To: nobody@mail.test\n") for m in pm)
    assert len(s.maildirs["ptbob"].contents()) == 1
    assert s.maildirs["ptalice"].contents() == []


def test_pickup_envelope_fields_win_over_to(server_factory):
    s, d = pickup_setup(server_factory, "recipient_delimiter = +\n")
    drop(d, "m1", b"Delivered-To: ptbob+list@mail.test\nTo: ptalice@mail.test\n\nx\n")
    assert deliver(s, ["-p", d]).returncode == 0
    assert len(s.maildirs["ptbob"].contents()) == 1
    assert s.maildirs["ptalice"].contents() == []


def test_pickup_leaves_dot_files_links_and_undeliverable_mail(server_factory):
    s, d = pickup_setup(server_factory)
    drop(d, ".partial", b"To: ptalice@mail.test\n\nstill being written\n")
    with open(os.path.join(s.tmp, "secret"), "wb") as f:
        f.write(b"To: ptalice@mail.test\n\nnot for the drop folder\n")
    os.link(os.path.join(s.tmp, "secret"), os.path.join(d, "linked"))
    r = deliver(s, ["-p", d])
    assert r.returncode == EX_TEMPFAIL
    assert sorted(os.listdir(d)) == [".partial", "linked"]
    assert s.maildirs["ptalice"].contents() == []
    # No postmaster account: the message stays for the next run.
    s2, d2 = pickup_setup(server_factory)
    with open(s2.conf, "a") as f:
        f.write("postmaster = nosuchuser\n")
    drop(d2, "m1", b"To: stranger@else.test\n\nx\n")
    assert deliver(s2, ["-p", d2]).returncode == EX_TEMPFAIL
    assert os.listdir(d2) == ["m1"]
    with open(s2.conf, "a") as f:
        f.write("postmaster = ptbob\n")
    assert deliver(s2, ["-p", d2]).returncode == 0
    assert os.listdir(d2) == [] and len(s2.maildirs["ptbob"].contents()) == 1


def test_pickup_not_as_root_serves_only_its_own_uid(server_factory):
    s, d = pickup_setup(server_factory)
    os.chmod(s.passwd, 0o644)
    os.chmod(d, 0o777)
    drop(d, "m1", b"To: ptalice@mail.test, ptbob@mail.test\n\nboth\n")
    r = deliver(s, ["-p", d], as_user="ptalice")
    assert r.returncode == EX_TEMPFAIL, r.stderr
    assert b"ptbob" in r.stderr
    assert len(s.maildirs["ptalice"].contents()) == 1
    assert s.maildirs["ptbob"].contents() == []
    assert os.listdir(d) == ["m1"]               # kept for a run that may serve bob
