"""The Maildir store behind POP3 (issue 2, DESIGN.md "Mail store"): sizes
that agree with the bytes sent, streamed RETR and TOP with CRLF and
dot-stuffing, UIDLs from the unique names, delivery order, the login
snapshot, deletion only in UPDATE, flags, maildirsize and the RFC 3206
codes of the mailbox."""
import hashlib
import os
import stat
import time

import pytest

from pop3util import (Pop3, logged_in, procs_by_uid, status, uidl_of, unstuff,
                      user_uid, wait_until, wire_body, wire_size)

TRICKY = {
    "plain": b"Subject: plain\n\nhello\n",
    "dots": b"Subject: dots\n\n.\n..\n.leading dot\n. space\nmid.dle\n...\n",
    "no-final-newline": b"Subject: nofinal\n\nlast line has no newline",
    "dot-no-final-newline": b"Subject: x\n\n.",
    "crlf": b"Subject: crlf\r\n\r\nalready\r\ncrlf\r\n.dot\r\n",
    "mixed-ends": b"Subject: mixed\n\r\nline\r\nother\n\r\n",
    "bare-cr": b"Subject: cr\n\na\rb\rc\n\r\n\rstart\nend\r",
    "cr-cr-lf": b"Subject: crcrlf\n\nx\r\r\ny\n",
    "empty": b"",
    "only-newline": b"\n",
    "header-only": b"Subject: only a header\nX-Other: 1\n",
    "eight-bit": b"Subject: bin\n\n" + bytes(range(0x80, 0x100)) + b"\n\t\x1b\x7f\x01\n",
    "nul-bytes": b"Subject: nul\n\na\0b\n\0\n",
}


def check_message(c, n, data):
    """LIST n, RETR n: the announced size is the octets sent (un-stuffed,
    with the final CRLF), and the bytes are the reference encoding."""
    want = wire_body(data)
    assert c.cmd(f"LIST {n}") == f"+OK {n} {wire_size(data)}"
    st, raw = c.retr_raw(f"RETR {n}")
    assert st == f"+OK {wire_size(data)} octets"
    assert raw == want, (raw[:200], want[:200])
    assert len(unstuff(raw)) == wire_size(data)


def test_sizes_agree_with_bytes_sent(any_server):
    md = any_server.maildirs["ptalice"]
    order = list(TRICKY)
    for k in order:
        md.add(TRICKY[k])
    total = sum(wire_size(TRICKY[k]) for k in order)
    with logged_in(any_server.port) as c:
        assert c.cmd("STAT") == f"+OK {len(order)} {total}"
        st, lines = c.multi("LIST")
        assert lines == [f"{i + 1} {wire_size(TRICKY[k])}" for i, k in enumerate(order)]
        for i, k in enumerate(order):
            check_message(c, i + 1, TRICKY[k])
            for n in (0, 1, 2, 100):
                assert c.retr_raw(f"TOP {i + 1} {n}") == (
                    f"+OK {wire_size(TRICKY[k])} octets", wire_body(TRICKY[k], top=n)), (k, n)
        assert c.cmd("QUIT").startswith("+OK")
    # A second session (sizes now from the cache) says the same.
    assert os.path.exists(os.path.join(md.path, "postern-sizes"))
    with logged_in(any_server.port) as c:
        assert c.cmd("STAT") == f"+OK {len(order)} {total}"
        for i, k in enumerate(order):
            check_message(c, i + 1, TRICKY[k])
        assert c.cmd("QUIT").startswith("+OK")


def test_exact_wire_bytes_of_tricky_messages(server):
    """Spelled out, not computed: the reference encoder is checked too."""
    md = server.maildirs["ptalice"]
    md.add(TRICKY["dots"])
    md.add(TRICKY["no-final-newline"])
    md.add(TRICKY["bare-cr"])
    md.add(TRICKY["crlf"])
    with logged_in(server.port) as c:
        assert c.retr_raw("RETR 1") == (
            "+OK 61 octets",
            b"Subject: dots\r\n\r\n..\r\n...\r\n..leading dot\r\n.. space\r\nmid.dle\r\n....\r\n")
        assert c.retr_raw("RETR 2") == (
            "+OK 46 octets", b"Subject: nofinal\r\n\r\nlast line has no newline\r\n")
        assert c.retr_raw("RETR 3") == (
            "+OK 38 octets", b"Subject: cr\r\n\r\na\rb\rc\r\n\r\n\rstart\r\nend\r\r\n")
        assert c.retr_raw("RETR 4") == (
            "+OK 38 octets", b"Subject: crlf\r\n\r\nalready\r\ncrlf\r\n..dot\r\n")
        c.quit()


def test_one_megabyte_line(server):
    md = server.maildirs["ptalice"]
    big = b"Subject: long line\n\n" + b".x" + b"y" * (1 << 20) + b"\nafter\n"
    md.add(big)
    md.add(b"Subject: long, no newline\n\n" + b"z" * (1 << 20))
    with logged_in(server.port) as c:
        check_message(c, 1, big)
        check_message(c, 2, b"Subject: long, no newline\n\n" + b"z" * (1 << 20))
        st, raw = c.retr_raw("TOP 1 0")
        assert raw == b"Subject: long line\r\n\r\n"
        c.quit()


def test_chunk_boundaries(server):
    """Line ends and leading dots exactly at the server's read-buffer
    boundaries (256 KiB for RETR, 128 KiB for the size count)."""
    md = server.maildirs["ptalice"]
    msgs = []
    for boundary in (128 << 10, 256 << 10, 512 << 10):
        for shift in (-2, -1, 0, 1):
            head = b"Subject: b\n\n"
            fill_len = boundary + shift - len(head)
            # CRLF straddling the boundary, then a dot line.
            body = head + b"a" * (fill_len - 1) + b"\r\n.dot\n.\r\n..\nend"
            msgs.append(body)
            md.add(body)
    with logged_in(server.port) as c:
        for i, m in enumerate(msgs):
            check_message(c, i + 1, m)
        c.quit()


def test_fifty_megabyte_message_streams(any_server):
    md = any_server.maildirs["ptalice"]
    line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-+\n"
    block = line * 1000 + b".starts with a dot\n"
    n = (50 << 20) // len(block) + 1
    data = b"Subject: big\n\n" + block * n
    assert len(data) > 50 << 20
    md.add(data)
    md.add(b"Subject: small\n\nafter the big one\n")
    want_size = wire_size(data)
    with logged_in(any_server.port) as c:
        assert c.cmd("LIST 1") == f"+OK 1 {want_size}"
        t0 = time.time()
        st, raw = c.retr_raw("RETR 1")
        took = time.time() - t0
        assert st == f"+OK {want_size} octets"
        assert len(raw) == want_size + n          # one stuffed dot per block
        assert hashlib.sha256(raw).digest() == hashlib.sha256(wire_body(data)).digest()
        assert took < 60, took
        # Streamed with bounded memory: the mail process never held the
        # message (or its encoding) in memory.
        mail = procs_by_uid(any_server, user_uid("ptalice"))
        assert len(mail) == 1
        hwm_kb = int(status(mail[0])["VmHWM"].split()[0])
        assert hwm_kb < 24 * 1024, f"mail process peak RSS {hwm_kb} kB"
        # And the session goes on.
        assert c.retr_raw("RETR 2")[1] == b"Subject: small\r\n\r\nafter the big one\r\n"
        assert c.cmd("QUIT").startswith("+OK")


# ---- TOP ----

TOPMSG = b"From: x\nSubject: top\n\nbody 1\n.body 2\nbody 3\n"


def test_top(any_server):
    md = any_server.maildirs["ptalice"]
    md.add(TOPMSG)
    md.add(b"Subject: header only\nX-A: 1\n")                  # no empty line at all
    md.add(b"Subject: header and empty line\n\n")
    md.add(b"Subject: crlf\r\n\r\nb1\r\nb2\r\n")
    md.add(b"Subject: no final\n\nb1\nb2")
    with logged_in(any_server.port) as c:
        size = wire_size(TOPMSG)
        assert c.retr_raw("TOP 1 0") == (f"+OK {size} octets",
                                         b"From: x\r\nSubject: top\r\n\r\n")
        assert c.retr_raw("TOP 1 1") == (f"+OK {size} octets",
                                         b"From: x\r\nSubject: top\r\n\r\nbody 1\r\n")
        assert c.retr_raw("TOP 1 2")[1] == \
            b"From: x\r\nSubject: top\r\n\r\nbody 1\r\n..body 2\r\n"
        for n in (3, 4, 1000):
            assert c.retr_raw(f"TOP 1 {n}")[1] == wire_body(TOPMSG)
        for n in (0, 1, 5):
            assert c.retr_raw(f"TOP 2 {n}")[1] == b"Subject: header only\r\nX-A: 1\r\n"
            assert c.retr_raw(f"TOP 3 {n}")[1] == b"Subject: header and empty line\r\n\r\n"
        assert c.retr_raw("TOP 4 1")[1] == b"Subject: crlf\r\n\r\nb1\r\n"
        assert c.retr_raw("TOP 5 1")[1] == b"Subject: no final\r\n\r\nb1\r\n"
        assert c.retr_raw("TOP 5 2")[1] == b"Subject: no final\r\n\r\nb1\r\nb2\r\n"
        assert c.retr_raw("TOP 5 9")[1] == b"Subject: no final\r\n\r\nb1\r\nb2\r\n"
        # Reference encoder agrees everywhere.
        for i, m in enumerate([TOPMSG, b"Subject: header only\nX-A: 1\n"]):
            for n in range(5):
                assert c.retr_raw(f"TOP {i + 1} {n}")[1] == wire_body(m, top=n)
        assert c.cmd("QUIT").startswith("+OK")
    # TOP is not a retrieval: no message got the S flag.
    assert not [f for f in md.files() if f.endswith("S")]


# ---- UIDL ----

def test_uidl_is_the_unique_name_and_stable(any_server):
    md = any_server.maildirs["ptalice"]
    names = [
        md.add(b"a\n", name="1700000101.M1P1.host"),
        md.add(b"b\n", name="1700000102.M2P1.host,S=2"),
        md.add(b"c\n", where="cur", name="1700000103.M3P1.host,S=2,W=3:2,"),
        md.add(b"d\n", where="cur", name="1700000104.M4P1.host:2,FR"),
        md.add(b"e\n", name="1700000105.Vfe01I1M5.host.example"),
    ]
    expect = ["1700000101.M1P1.host", "1700000102.M2P1.host", "1700000103.M3P1.host",
              "1700000104.M4P1.host", "1700000105.Vfe01I1M5.host.example"]
    assert [uidl_of(n) for n in names] == expect

    def uidls():
        with logged_in(any_server.port) as c:
            st, lines = c.multi("UIDL")
            single = [c.cmd(f"UIDL {i + 1}") for i in range(len(lines))]
            c.retr_raw("RETR 1")
            c.retr_raw("RETR 4")
            assert c.cmd("QUIT").startswith("+OK")
        assert single == [f"+OK {l}" for l in lines]
        return lines

    first = uidls()
    assert first == [f"{i + 1} {u}" for i, u in enumerate(expect)]
    # Files moved new/ -> cur/ and got flags; the UIDLs did not change.
    assert all(f.startswith("cur/") for f in md.files())
    assert uidls() == first
    assert uidls() == first


def test_uidl_digest_for_unusable_names(server):
    md = server.maildirs["ptalice"]
    odd = [
        "1700000201.M1P1.host with space",
        "1700000202.M2P1.h\x01st",
        "1700000203." + "x" * 60,                     # 71 characters
        "1700000204." + "y" * 59,                     # 70 characters: kept
        "1700000205.M5P1.h\u00f6st",                  # UTF-8, outside 0x21-0x7e
        "1700000206.M6P1.tab\there,S=9",
    ]
    for n in odd:
        md.add(b"x\n", name=n)
    with logged_in(server.port) as c:
        st, lines = c.multi("UIDL")
        got = [l.split(" ", 1)[1] for l in lines]
        assert len(got) == len(odd)
        assert got == [uidl_of(n) for n in odd]
        for u, n in zip(got, odd):
            if n.startswith("1700000204"):
                assert u == n
            else:
                assert len(u) == 40 and all(ch in "0123456789abcdef" for ch in u), u
        assert len(set(got)) == len(got)
        c.quit()
    with logged_in(server.port) as c:
        assert [l.split(" ", 1)[1] for l in c.multi("UIDL")[1]] == got
        c.quit()


def test_order_is_delivery_order(any_server):
    md = any_server.maildirs["ptalice"]
    # Created in a scrambled order, in new/ and cur/; the names say the
    # delivery order: time first, then the sequence numbers as numbers.
    md.add(b"3\n", name="1700000300.M10P5.host")
    md.add(b"1\n", where="cur", name="1700000100.M1P5.host:2,S")
    md.add(b"5\n", where="cur", name="1700000400.M1P5.host:2,")
    md.add(b"2\n", name="1700000300.M9P5.host")
    md.add(b"0\n", name="999999999.M1P5.host")
    md.add(b"4\n", name="1700000300.M10P5.host2")
    want = [b"0", b"1", b"2", b"3", b"4", b"5"]
    for _ in range(2):
        with logged_in(any_server.port) as c:
            got = [c.retr_raw(f"RETR {i}")[1].strip() for i in range(1, 7)]
            assert c.cmd("QUIT").startswith("+OK")
        assert got == want


# ---- snapshot, UPDATE, flags ----

def test_dele_rset_then_quit_deletes_nothing(any_server):
    md = any_server.maildirs["ptalice"]
    for i in range(3):
        md.add(b"m%d\n" % i)
    before = md.contents()
    with logged_in(any_server.port) as c:
        assert c.cmd("DELE 1") == "+OK message 1 deleted"
        assert c.cmd("DELE 3") == "+OK message 3 deleted"
        assert c.cmd("STAT") == "+OK 1 4"
        assert c.cmd("RSET") == "+OK maildrop has 3 messages (12 octets)"
        assert c.cmd("STAT") == "+OK 3 12"
        assert c.cmd("RETR 1").startswith("+OK")
        c.raw_until()
        assert c.cmd("QUIT") == "+OK postern signing off (0 messages deleted)"
    assert md.contents() == before


def test_quit_deletes(any_server):
    md = any_server.maildirs["ptalice"]
    for i in range(4):
        md.add(b"m%d\n" % i)
    with logged_in(any_server.port) as c:
        assert c.cmd("DELE 2") == "+OK message 2 deleted"
        assert c.cmd("DELE 2") == "-ERR message is deleted"
        assert c.cmd("RETR 2") == "-ERR message is deleted"
        assert c.cmd("TOP 2 0") == "-ERR message is deleted"
        assert c.cmd("LIST 2") == "-ERR message is deleted"
        assert c.cmd("UIDL 2") == "-ERR message is deleted"
        assert c.cmd("DELE 4") == "+OK message 4 deleted"
        # Still on disk until QUIT.
        assert len(md.files()) == 4
        assert c.cmd("QUIT") == "+OK postern signing off (2 messages deleted)"
    assert md.contents() == [b"m0\n", b"m2\n"]
    # The logout line is written just after the reply.
    assert wait_until(lambda: "reason=quit" in any_server.logtext(), 5)
    logout = [l for l in any_server.logtext().splitlines() if "logout: user=<ptalice>" in l]
    assert len(logout) == 1, logout
    assert " retr=0/0 top=0/0 dele=2/8 deli=0/0 left=2/8 reason=quit" in logout[0], logout


def test_dropped_connection_deletes_nothing(any_server):
    md = any_server.maildirs["ptalice"]
    for i in range(3):
        md.add(b"m%d\n" % i)
    c = logged_in(any_server.port)
    for i in (1, 2, 3):
        assert c.cmd(f"DELE {i}") == f"+OK message {i} deleted"
    c.close()                                    # no QUIT
    assert wait_until(lambda: "reason=disconnected" in any_server.logtext(), 10)
    assert wait_until(lambda: any_server.children() == [], 10)
    assert md.contents() == [b"m0\n", b"m1\n", b"m2\n"]
    # Nothing retrieved, nothing flagged seen.
    assert not [f for f in md.files() if f.endswith("S")]


def test_mail_delivered_during_session_is_untouched(any_server):
    md = any_server.maildirs["ptalice"]
    md.add(b"old 1\n")
    md.add(b"old 2\n", where="cur")
    with logged_in(any_server.port) as c:
        late_new = md.add(b"late new\n")
        late_cur = md.add(b"late cur\n", where="cur")
        assert c.cmd("STAT") == "+OK 2 14"
        st, lines = c.multi("LIST")
        assert lines == ["1 7", "2 7"]
        assert c.cmd("LIST 3") == "-ERR no such message"
        assert c.cmd("DELE 1").startswith("+OK")
        assert c.cmd("DELE 2").startswith("+OK")
        assert c.cmd("QUIT") == "+OK postern signing off (2 messages deleted)"
    assert sorted(md.files()) == sorted([f"new/{late_new}", f"cur/{late_cur}"])
    with logged_in(any_server.port) as c:
        assert c.cmd("STAT") == "+OK 2 20"
        c.quit()


def test_new_moves_to_cur_and_retrieved_get_seen_flag(any_server):
    md = any_server.maildirs["ptalice"]
    # Explicit times: the default ones grow with every test run before.
    a = md.add(b"a\n", when=1700000401)
    b = md.add(b"b\n", when=1700000402)
    c_ = md.add(b"c\n", where="cur", name="1700000501.M1P1.host:2,FR")
    d = md.add(b"d\n", where="cur", name="1700000502.M1P1.host:2,T")
    e = md.add(b"e\n", where="cur", name="1700000503.M1P1.host:2,S")
    with logged_in(any_server.port) as c:
        # At login new/ was emptied into cur/ with an empty info part.
        assert sorted(os.listdir(os.path.join(md.path, "new"))) == []
        cur = sorted(os.listdir(os.path.join(md.path, "cur")))
        assert f"{a}:2," in cur and f"{b}:2," in cur
        for i in (1, 3, 4, 5):
            st, raw = c.retr_raw(f"RETR {i}")
            assert st.startswith("+OK")
        c.retr_raw("TOP 2 0")
        assert c.cmd("QUIT").startswith("+OK")
    cur = sorted(os.listdir(os.path.join(md.path, "cur")))
    assert cur == sorted([f"{a}:2,S", f"{b}:2,", "1700000501.M1P1.host:2,FRS",
                          "1700000502.M1P1.host:2,ST", "1700000503.M1P1.host:2,S"])


def test_dropped_connection_sets_no_flags(server):
    md = server.maildirs["ptalice"]
    md.add(b"a\n")
    c = logged_in(server.port)
    c.retr_raw("RETR 1")
    c.close()
    assert wait_until(lambda: "reason=disconnected" in server.logtext(), 10)
    assert wait_until(lambda: server.children() == [], 10)
    assert [f.endswith(":2,") for f in md.files()] == [True]


def test_maildirsize_updated_after_deletions(any_server):
    md = any_server.maildirs["ptalice"]
    datas = [b"first\n", b"second message\n", b"x" * 1000 + b"\n"]
    for d in datas:
        md.add(d)
    ms = os.path.join(md.path, "maildirsize")
    with open(ms, "w") as f:
        f.write("1000000S,1000C\n%d %d\n" % (sum(map(len, datas)), len(datas)))
    os.chown(ms, md.uid, md.gid)
    with logged_in(any_server.port) as c:
        assert c.cmd("DELE 1").startswith("+OK")
        assert c.cmd("DELE 3").startswith("+OK")
        assert c.cmd("QUIT") == "+OK postern signing off (2 messages deleted)"
    lines = open(ms).read().splitlines()
    # Maildir++ counts bytes on disk (not the CRLF wire size); a line per
    # removed message, written as it goes.
    assert lines == ["1000000S,1000C", "%d %d" % (sum(map(len, datas)), 3),
                     "-%d -1" % len(datas[0]), "-%d -1" % len(datas[2])]
    # A session that deletes nothing leaves it alone.
    with logged_in(any_server.port) as c:
        c.quit()
    assert open(ms).read().splitlines() == lines


def test_maildirsize_not_charged_for_a_message_already_gone(server):
    """A message that another program removed during the session was not
    removed by this UPDATE: maildirsize is not charged for it (it was,
    with its count, before)."""
    md = server.maildirs["ptalice"]
    datas = [b"first\n", b"second message\n"]
    for d in datas:
        md.add(d, where="cur")
    ms = os.path.join(md.path, "maildirsize")
    with open(ms, "w") as f:
        f.write("1000000S,1000C\n%d 2\n" % sum(map(len, datas)))
    os.chown(ms, md.uid, md.gid)
    with logged_in(server.port) as c:
        os.unlink(os.path.join(md.path, md.files()[0]))   # another reader took it
        assert c.cmd("DELE 1").startswith("+OK")
        assert c.cmd("DELE 2").startswith("+OK")
        assert c.cmd("QUIT") == "+OK postern signing off (2 messages deleted)"
    assert open(ms).read().splitlines() == [
        "1000000S,1000C", "%d 2" % sum(map(len, datas)), "-%d -1" % len(datas[1])]
    assert md.files() == []


def test_stale_tmp_files_are_swept_at_login(server):
    """maildir(5): files in tmp/ untouched for 36 hours are what a killed
    delivery left, and a reader removes them.  Fresh ones (a delivery in
    progress), files of another owner and non-files stay; the removal is
    logged with a count."""
    md = server.maildirs["ptalice"]
    tmp = os.path.join(md.path, "tmp")
    names = {"old1": 37, "old2": 100, "fresh": 0, "young": 35, "root-owned": 40}
    for n, hours in names.items():
        p = os.path.join(tmp, n)
        with open(p, "wb") as f:
            f.write(b"partial delivery\n")
        if n != "root-owned":
            os.chown(p, md.uid, md.gid)
        age(p, hours * 3600)
    os.mkdir(os.path.join(tmp, "olddir"))
    os.chown(os.path.join(tmp, "olddir"), md.uid, md.gid)
    age(os.path.join(tmp, "olddir"), 40 * 3600)
    os.symlink("/etc/passwd", os.path.join(tmp, "oldlink"))
    os.utime(os.path.join(tmp, "oldlink"), ns=(0, 0), follow_symlinks=False)
    md.add(b"a message\n")
    with logged_in(server.port) as c:
        assert c.cmd("STAT") == "+OK 1 11"
        c.quit()
    assert sorted(os.listdir(tmp)) == ["fresh", "olddir", "oldlink", "root-owned", "young"]
    assert "maildir: removed 2 files older than 36 hours from tmp/" in server.logtext()
    # Nothing stale left: the next login removes nothing and says nothing.
    with logged_in(server.port) as c:
        c.quit()
    assert server.logtext().count("older than 36 hours") == 1


def test_no_maildirsize_is_not_created(server):
    md = server.maildirs["ptalice"]
    md.add(b"x\n")
    with logged_in(server.port) as c:
        c.cmd("DELE 1")
        c.quit()
    assert not os.path.exists(os.path.join(md.path, "maildirsize"))


def test_wrong_w_field_is_logged(server):
    """A ,W= that cannot be the file's CRLF size (below its size, or above
    twice it plus a final CRLF) is announced as it is, since LIST already
    said it, but the RETR logs the lie; a plausible one is not logged."""
    md = server.maildirs["ptalice"]
    data = b"Subject: lie\n\n0123456789\n"
    md.add(data, name="1700000611.M1P1.host,W=5")
    md.add(data, name=f"1700000612.M1P1.host,W={2 * len(data) + 3}")
    md.add(data, name=f"1700000613.M1P1.host,W={wire_size(data)}")
    with logged_in(server.port) as c:
        assert c.multi("LIST")[1] == ["1 5", f"2 {2 * len(data) + 3}", f"3 {wire_size(data)}"]
        for n in (1, 2, 3):
            status, body = c.retr_raw(f"RETR {n}")
            assert body == data.replace(b"\n", b"\r\n"), (n, body)
        c.quit()
    log = server.logtext()
    assert f"message 1: listed as 5 octets but its file has {len(data)} bytes" in log, log
    assert f"message 2: listed as {2 * len(data) + 3} octets" in log, log
    assert "message 3: listed as" not in log, log


def test_size_from_w_field(server):
    md = server.maildirs["ptalice"]
    data = b"Subject: w\n\nbody\n"
    md.add(data, name=f"1700000601.M1P1.host,S={len(data)},W={wire_size(data)}")
    md.add(data, name=f"1700000602.M1P1.host,S={len(data)}")
    with logged_in(server.port) as c:
        assert c.multi("LIST")[1] == [f"1 {wire_size(data)}", f"2 {wire_size(data)}"]
        check_message(c, 1, data)
        c.quit()


def test_message_removed_during_session(server):
    md = server.maildirs["ptalice"]
    md.add(b"a\n")
    md.add(b"b\n")
    md.add(b"c\n")
    with logged_in(server.port) as c:
        files = md.files()
        os.unlink(os.path.join(md.path, files[0]))       # another reader took it
        assert c.cmd("RETR 1") == "-ERR message no longer exists"
        assert c.cmd("TOP 1 0") == "-ERR message no longer exists"
        # Another program changed the flags of message 2: still served.
        os.rename(os.path.join(md.path, files[1]),
                  os.path.join(md.path, files[1].split(":")[0] + ":2,F"))
        assert c.retr_raw("RETR 2") == ("+OK 3 octets", b"b\r\n")
        # Deleting a message already gone is not an error.
        assert c.cmd("DELE 1").startswith("+OK")
        assert c.cmd("DELE 2").startswith("+OK")
        assert c.cmd("QUIT") == "+OK postern signing off (2 messages deleted)"
    assert md.contents() == [b"c\n"]


def test_undeletable_message_gets_sys_temp_and_is_kept(server):
    md = server.maildirs["ptalice"]
    md.add(b"a\n")
    md.add(b"b\n")
    cur = os.path.join(md.path, "cur")
    with logged_in(server.port) as c:
        assert c.cmd("DELE 1").startswith("+OK")
        os.chmod(cur, 0o500)                       # the owner cannot unlink now
        try:
            assert c.cmd("QUIT") == "-ERR [SYS/TEMP] 1 deleted messages not removed"
        finally:
            os.chmod(cur, 0o700)
    assert md.contents() == [b"a\n", b"b\n"]
    assert "cannot delete" in server.logtext()


def test_missing_maildir_is_created(server):
    md = server.maildirs["ptalice"]
    for sub in ("cur", "new", "tmp"):
        os.rmdir(os.path.join(md.path, sub))
    os.rmdir(md.path)
    with logged_in(server.port) as c:
        assert c.cmd("STAT") == "+OK 0 0"
        c.quit()
    for sub in ("cur", "new", "tmp"):
        st = os.stat(os.path.join(md.path, sub))
        assert stat.S_ISDIR(st.st_mode) and st.st_uid == md.uid


def test_unreachable_mailbox_is_sys_temp(server):
    home = os.path.dirname(server.maildirs["ptalice"].path)
    os.chown(home, 0, 0)
    os.chmod(home, 0o700)
    with Pop3(server.port) as c:
        assert c.cmd("USER ptalice") == "+OK"
        assert c.cmd("PASS s3cret pass") == \
            "-ERR [SYS/TEMP] mailbox unavailable, try again later"
        assert c.is_closed()


def test_too_many_messages_is_sys_perm(server_factory):
    s = server_factory(extra_conf="max_messages = 2\n").start()
    md = s.maildirs["ptalice"]
    for i in range(3):
        md.add(b"x\n")
    with Pop3(s.port) as c:
        c.cmd("USER ptalice")
        assert c.cmd("PASS s3cret pass") == \
            "-ERR [SYS/PERM] mailbox too large for POP3, ask your administrator"
        assert c.is_closed()
    # The refusal moved nothing it did not serve... and deleted nothing.
    assert len(md.files()) == 3


def test_mailbox_size_limit_is_sys_perm(server_factory):
    s = server_factory(extra_conf="max_mailbox_size = 100\n").start()
    md = s.maildirs["ptalice"]
    md.add(b"x" * 200 + b"\n")
    with Pop3(s.port) as c:
        c.cmd("USER ptalice")
        assert c.cmd("PASS s3cret pass").startswith("-ERR [SYS/PERM]")


def test_awkward_names_in_new(server):
    md = server.maildirs["ptalice"]
    longname = "1700000701." + "n" * 244                   # 255 bytes, NAME_MAX
    assert len(longname) == 255
    md.add(b"long name\n", name=longname)
    md.add(b"has info\n", name="1700000702.M1P1.host:2,F")  # an MDA that sets flags
    with logged_in(server.port) as c:
        assert c.cmd("STAT") == "+OK 2 21"
        st, lines = c.multi("UIDL")
        assert lines == [f"1 {uidl_of(longname)}", "2 1700000702.M1P1.host"]
        assert c.retr_raw("RETR 1")[1] == b"long name\r\n"
        assert c.retr_raw("RETR 2")[1] == b"has info\r\n"
        assert c.cmd("QUIT").startswith("+OK")
    files = md.files()
    # The long name cannot take ":2," and stays in new/; it is still served.
    assert f"new/{longname}" in files
    assert "cur/1700000702.M1P1.host:2,FS" in files
    with logged_in(server.port) as c:
        assert c.multi("UIDL")[1] == lines
        assert c.cmd("DELE 1").startswith("+OK")
        assert c.cmd("QUIT") == "+OK postern signing off (1 message deleted)"
    assert md.files() == ["cur/1700000702.M1P1.host:2,FS"]


def test_many_messages(server):
    md = server.maildirs["ptalice"]
    n = 3000
    for i in range(n):
        md.add(b"Subject: %d\n\nbody %d\n" % (i, i), where="new" if i % 2 else "cur")
    for _ in range(2):                               # cold, then warm size cache
        t0 = time.time()
        with logged_in(server.port) as c:
            st, lines = c.multi("LIST")
            assert len(lines) == n
            st, uidls = c.multi("UIDL")
            assert len(set(u.split()[1] for u in uidls)) == n
            assert c.retr_raw(f"RETR {n}")[1] == b"Subject: %d\r\n\r\nbody %d\r\n" % (n - 1, n - 1)
            c.quit()
        assert time.time() - t0 < 10
    cache = open(os.path.join(md.path, "postern-sizes")).read().splitlines()
    assert len(cache) == n + 1


def test_warm_mailbox_follows_changes_made_by_others(any_server):
    """Between sessions another program flags, removes and delivers
    messages; the next session sees exactly what is there, with the right
    sizes and bytes, and the messages it saw before keep their order."""
    md = any_server.maildirs["ptalice"]
    datas = {i: b"Subject: %d\n\n" % i + b"x" * (i * 10) + b"\n" for i in range(1, 9)}
    names = {i: md.add(datas[i], name=f"{1700000800 + i}.M{i}P1.host") for i in datas}

    def session():
        with logged_in(any_server.port) as c:
            st, lines = c.multi("UIDL")
            uidls = [l.split()[1] for l in lines]
            sizes = [int(l.split()[1]) for l in c.multi("LIST")[1]]
            bodies = [c.retr_raw(f"RETR {k + 1}")[1] for k in range(len(uidls))]
        # Left without QUIT: nothing flagged, so the file names stay as
        # the other program below expects them.
        return uidls, sizes, bodies

    u1, s1, b1 = session()
    assert u1 == [names[i] for i in range(1, 9)]
    assert wait_until(lambda: any_server.children() == [], 5)
    cur = os.path.join(md.path, "cur")
    # Flag changes (renames), a removal, and a fresh delivery.
    os.rename(os.path.join(cur, names[2] + ":2,"), os.path.join(cur, names[2] + ":2,FS"))
    os.rename(os.path.join(cur, names[5] + ":2,"), os.path.join(cur, names[5] + ":2,T"))
    os.unlink(os.path.join(cur, names[3] + ":2,"))
    late = md.add(b"Subject: late\n\nlate one\n", name="1700000850.M9P1.host")
    early = md.add(b"Subject: early name\n\nearly\n", name="1700000100.M9P1.host")
    u2, s2, b2 = session()
    kept = [i for i in range(1, 9) if i != 3]
    assert sorted(u2) == sorted([names[i] for i in kept] + [late, early])
    # Each UIDL still names the same bytes, with the size LIST gives.
    by_uidl = dict(zip(u2, zip(s2, b2)))
    for i in kept:
        size, body = by_uidl[names[i]]
        assert body == wire_body(datas[i]) and size == wire_size(datas[i])
    assert by_uidl[late][1] == b"Subject: late\r\n\r\nlate one\r\n"
    assert by_uidl[early][1] == b"Subject: early name\r\n\r\nearly\r\n"
    # Messages seen before keep their relative order.
    assert [u for u in u2 if u in u1] == [names[i] for i in kept]
    # And a third session agrees with the second.
    assert wait_until(lambda: any_server.children() == [], 5)
    assert session() == (u2, s2, b2)


# ---- the index stands in for reading cur/ while cur/ is unchanged ----

def age(path, seconds_ago, extra_ns=0):
    """Set path's mtime into the past (a directory last changed a while
    ago); returns the mtime in ns."""
    t = (int(time.time()) - seconds_ago) * 10**9 + extra_ns
    os.utime(path, ns=(t, t))
    return t


def index_stamp(md):
    head = open(os.path.join(md.path, "postern-sizes")).readline().split()
    assert head[:2] == ["postern-sizes", "3"], head
    return int(head[2]) * 10**9 + int(head[3])


def listing(port):
    with logged_in(port) as c:
        uidls = [l.split()[1] for l in c.multi("UIDL")[1]]
        bodies = [c.retr_raw(f"RETR {k + 1}")[1] for k in range(len(uidls))]
    return uidls, bodies


def test_unchanged_cur_is_listed_from_the_index(server):
    """Once cur/ has been quiet for a while, the index vouches for its
    listing and the next login does not read the directory.  Shown by the
    one change that can hide from it: a file slipped into cur/ with cur/'s
    mtime put back exactly.  Any real change moves the mtime and is seen."""
    md = server.maildirs["ptalice"]
    names = [md.add(b"Subject: %d\n\nbody\n" % i, where="cur") for i in range(5)]
    cur = os.path.join(md.path, "cur")
    t1 = age(cur, 100, 123456789)
    u1, _ = listing(server.port)
    assert u1 == [n.split(":")[0] for n in names]
    assert wait_until(lambda: server.children() == [], 5)
    assert index_stamp(md) == t1
    sneaked = md.add(b"Subject: sneaked\n\nx\n", where="cur")
    os.utime(cur, ns=(t1, t1))
    u2, _ = listing(server.port)
    assert u2 == u1                       # cur/ was not read
    assert wait_until(lambda: server.children() == [], 5)
    age(cur, 50)                          # a real change moves the mtime
    u3, b3 = listing(server.port)
    assert u3 == u1 + [sneaked.split(":")[0]]
    assert b3[-1] == b"Subject: sneaked\r\n\r\nx\r\n"


def test_recently_changed_cur_is_not_vouched_for(server):
    """A change in the last seconds could share its timestamp with a later
    one: such a listing is written with stamp 0, and the next login reads
    cur/ again."""
    md = server.maildirs["ptalice"]
    md.add(b"Subject: a\n\nx\n", where="cur")
    with logged_in(server.port) as c:
        c.quit()
    assert wait_until(lambda: server.children() == [], 5)
    assert index_stamp(md) == 0


def test_changes_by_others_after_a_vouched_index(server):
    """Flag renames, removals and direct deliveries into cur/ after the
    index vouched for cur/: the next session sees exactly what is there,
    and the index it writes serves the session after it."""
    md = server.maildirs["ptalice"]
    datas = {i: b"Subject: %d\n\n" % i + b"y" * (i * 7) + b"\n" for i in range(1, 7)}
    names = {i: md.add(datas[i], where="cur", name=f"{1700000900 + i}.M{i}P2.host:2,")
             for i in datas}
    cur = os.path.join(md.path, "cur")
    age(cur, 100)
    u1, _ = listing(server.port)
    assert wait_until(lambda: server.children() == [], 5)
    assert index_stamp(md) != 0
    base = {i: names[i].split(":")[0] for i in names}
    os.rename(os.path.join(cur, names[2]), os.path.join(cur, base[2] + ":2,FS"))
    os.unlink(os.path.join(cur, names[4]))
    direct = md.add(b"Subject: direct\n\nd\n", where="cur", name="1700000990.M99P2.host:2,")
    u2, b2 = listing(server.port)
    expect = [base[i] for i in (1, 2, 3, 5, 6)] + ["1700000990.M99P2.host"]
    assert u2 == expect
    assert b2[1] == wire_body(datas[2]) and b2[-1] == b"Subject: direct\r\n\r\nd\r\n"
    assert wait_until(lambda: server.children() == [], 5)
    age(cur, 60)
    assert listing(server.port) == (u2, b2)     # reads cur/, vouches
    assert wait_until(lambda: server.children() == [], 5)
    assert index_stamp(md) != 0
    assert listing(server.port) == (u2, b2)     # from the index, renamed name included


@pytest.mark.parametrize("bad", ["..%2F..%2Fetc%2Fpasswd", "a%2Fb", "x%00y", ".hidden"])
def test_index_with_unusable_names_is_not_trusted(server, bad):
    """The index belongs to the mailbox owner; a name in it that could not
    be a file in cur/ makes the session read cur/ instead."""
    md = server.maildirs["ptalice"]
    real = md.add(b"Subject: real\n\nr\n", where="cur")
    cur = os.path.join(md.path, "cur")
    t = age(cur, 100)
    idx = os.path.join(md.path, "postern-sizes")
    with open(idx, "w") as f:
        f.write(f"postern-sizes 3 {t // 10**9} {t % 10**9}\n{bad} 5\n{real} 18\n")
    pw = server.maildirs["ptalice"]
    os.chown(idx, pw.uid, pw.gid)
    u, b = listing(server.port)
    assert u == [real.split(":")[0]] and b == [b"Subject: real\r\n\r\nr\r\n"]


@pytest.mark.parametrize("header", ["postern-sizes 3 x 0", "postern-sizes 3 100",
                                    "postern-sizes 3 100 1000000000", "postern-sizes 9 1 1"])
def test_index_with_malformed_header_is_ignored(server, header):
    """A header that does not parse makes the whole index count for
    nothing: cur/ is read and sizes counted again."""
    md = server.maildirs["ptalice"]
    real = md.add(b"Subject: real\n\nr\n", where="cur")
    age(os.path.join(md.path, "cur"), 100)
    idx = os.path.join(md.path, "postern-sizes")
    with open(idx, "w") as f:
        f.write(f"{header}\nghost:2, 5\n{real} 999\n")
    os.chown(idx, md.uid, md.gid)
    with logged_in(server.port) as c:
        assert c.cmd("STAT") == "+OK 1 20"


# ---- files that share a unique part (a restore, another MDA) ----

U = "1700001104.dup.host"
DUP_LAYOUTS = {
    # The audit's case: an old copy in cur/, a new one in new/.
    "cur-and-new": [("cur", U + ":2,S"), ("new", U)],
    # new/U would move onto cur/U:2, exactly: the move must not replace it.
    "move-target-taken": [("cur", U + ":2,"), ("new", U)],
    # Two in cur/ whose flags differ; the flag rename at QUIT targets one.
    "cur-flags": [("cur", U + ":2,S"), ("cur", U + ":2,")],
    "three": [("cur", U + ":2,R"), ("cur", U + ":2,"), ("new", U)],
}


def dup_session(server, quit=True, dele=()):
    """UIDL, LIST and RETR of every message; DELE the UIDLs in dele; QUIT
    or drop.  Returns [(uidl, size, body)] in message-number order."""
    with logged_in(server.port) as c:
        uidls = [l.split()[1] for l in c.multi("UIDL")[1]]
        sizes = [int(l.split()[1]) for l in c.multi("LIST")[1]]
        bodies = []
        for k in range(len(uidls)):
            st, raw = c.retr_raw(f"RETR {k + 1}")
            assert st == f"+OK {sizes[k]} octets", (st, sizes[k])
            bodies.append(raw)
        for u in dele:
            assert c.cmd(f"DELE {uidls.index(u) + 1}").startswith("+OK")
        if quit:
            assert c.cmd("QUIT").startswith("+OK")
    assert wait_until(lambda: server.children() == [], 10)
    return list(zip(uidls, sizes, bodies))


def check_listing(got, datas):
    """Every message once, each with its own UIDL (1-70 characters in
    0x21-0x7e), its exact size and its bytes."""
    uidls = [u for u, _, _ in got]
    assert len(set(uidls)) == len(uidls), uidls
    for u in uidls:
        assert 1 <= len(u) <= 70 and all(0x21 <= ord(ch) <= 0x7E for ch in u), u
    assert sorted(b for _, _, b in got) == sorted(wire_body(d) for d in datas)
    for _, size, body in got:
        assert size == len(unstuff(body))


@pytest.mark.parametrize("layout", list(DUP_LAYOUTS))
def test_same_unique_part_distinct_uidls_nothing_lost(any_server, layout):
    md = any_server.maildirs["ptalice"]
    datas = []
    for k, (where, name) in enumerate(DUP_LAYOUTS[layout]):
        # Sizes differ, so a size cache that mixes them up shows.
        datas.append(b"Subject: copy %d\n\n" % k + b"x" * (5 * k) + b"\n")
        md.add(datas[-1], where=where, name=name)
    n = len(datas)
    # Session 1 without QUIT, session 2 (sizes from the index) retrieves
    # all and QUITs: the seen flags are set, no file replaces another.
    s1 = dup_session(any_server, quit=False)
    check_listing(s1, datas)
    # A copy that was in cur/ already keeps the plain unique part (with no
    # index to say which was listed first, the first name); the others get
    # a unique part of their own.
    keep = min((name, k) for k, (where, name) in enumerate(DUP_LAYOUTS[layout])
               if where == "cur")[1]
    assert (U, wire_size(datas[keep]), wire_body(datas[keep])) in s1
    assert sorted(u for u, _, _ in s1) == [U] + [f"{U}.dup{k}" for k in range(1, n)]
    s2 = dup_session(any_server)
    assert s2 == s1
    assert md.contents() == sorted(datas) and len(md.files()) == n
    # UIDLs are stable: same message, same UIDL, after the flag renames.
    s3 = dup_session(any_server)
    assert s3 == s1
    assert md.contents() == sorted(datas)
    # DELE removes exactly that message.
    gone = s1[0][0]
    dup_session(any_server, dele=[gone])
    assert md.contents() == sorted(d for d in datas if wire_body(d) != s1[0][2])
    assert len(md.files()) == n - 1
    s5 = dup_session(any_server)
    assert s5 == [x for x in s1 if x[0] != gone]


def test_same_unique_part_when_cur_cannot_be_renamed_in(server):
    """cur/ not writable: the duplicate cannot get a name of its own, so
    it gets a digest UIDL; nothing is moved, flagged or lost."""
    md = server.maildirs["ptalice"]
    datas = [b"Subject: a\n\nA\n", b"Subject: bb\n\nBB\n"]
    md.add(datas[0], where="cur", name=U + ":2,S")
    md.add(datas[1], where="cur", name=U + ":2,")
    cur = os.path.join(md.path, "cur")
    os.chmod(cur, 0o500)
    try:
        s1 = dup_session(server)
        check_listing(s1, datas)
        assert sorted(u for u, _, _ in s1) == sorted([U, hashlib.sha256(
            ("cur/" + U + ":2,S").encode()).hexdigest()[:40]])
        assert dup_session(server) == s1
    finally:
        os.chmod(cur, 0o700)
    assert md.contents() == sorted(datas) and len(md.files()) == 2


def test_two_links_of_one_file_are_one_message(any_server):
    """A move from new/ to cur/ by link and unlink (a file system without
    RENAME_NOREPLACE, such as GlusterFS) that was cut short leaves two names
    of one file: that is one message, listed once under its own UIDL; the
    extra name is removed and nothing else is."""
    md = any_server.maildirs["ptalice"]
    data = b"Subject: moved halfway\n\nbody\n"
    md.add(data, where="cur", name=U + ":2,S")
    os.link(os.path.join(md.path, "cur", U + ":2,S"), os.path.join(md.path, "new", U))
    other = b"Subject: another\n\nkept\n"
    md.add(other, where="new", name="1700001105.other.host")
    got = dup_session(any_server)
    assert sorted(u for u, _, _ in got) == sorted([U, "1700001105.other.host"])
    assert md.contents() == sorted([data, other])
    assert len(md.files()) == 2
    assert "a second name of" in any_server.logtext()
    # The next session sees the same, with nothing more to do.
    assert dup_session(any_server) == got


def test_two_files_with_one_unique_part_are_not_merged(any_server):
    """Two distinct files (not links of one) keep both messages, as before."""
    md = any_server.maildirs["ptalice"]
    md.add(b"Subject: a\n\none\n", where="cur", name=U + ":2,S")
    md.add(b"Subject: b\n\ntwo\n", where="new", name=U)
    got = dup_session(any_server)
    assert sorted(u for u, _, _ in got) == [U, U + ".dup1"]
    assert "a second name of" not in any_server.logtext()
