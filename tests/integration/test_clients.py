"""Real POP3 clients against the real daemon (issue 2): Python poplib,
fetchmail, getmail6, mpop and curl, in standalone and inetd mode.  Each
must fetch byte-identical messages (after CRLF -> LF; a message without a
final newline arrives with one) and delete when asked, and only then.

The clients are run by realclients.py; their specifics are in
/work/shared/CLIENTS.md."""
import os
import poplib

import pytest

import realclients
from conftest import PASSWORD
from pop3util import wait_until, wire_size

MSGS = [
    b"From: a@example.org\nTo: b@example.org\nSubject: plain\nMessage-ID: <1@postern.test>\n"
    b"\nHello, world.\n",
    b"From: a@example.org\nSubject: dots\nMessage-ID: <2@postern.test>\n\n"
    b".\n..\n.leading dot\n. dot space\n...\nend.\n.\n",
    b"From: a@example.org\nSubject: 8bit\nMessage-ID: <3@postern.test>\n"
    b"Content-Type: application/octet-stream\nContent-Transfer-Encoding: 8bit\n\n"
    + bytes(range(0x80, 0x100)) + b"\n\t\x1b\x7f\x01\x02 control bytes\n"
    + bytes(range(0xff, 0x7f, -1)) + b"\n",
    b"From: a@example.org\nSubject: no final newline\nMessage-ID: <4@postern.test>\n\n"
    b"the last line has no newline",
    b"From: a@example.org\nSubject: bigger\nMessage-ID: <5@postern.test>\n\n"
    + b"".join(b"%06d " % i + b"x" * 70 + b"\n" + (b".%d\n" % i if i % 100 == 0 else b"")
               for i in range(20000)),
]

@pytest.fixture(scope="module", autouse=True)
def clients_installed():
    """make check installs the clients once (contrib/install-deps.sh); a
    fixture never runs apt-get itself."""
    missing = realclients.missing_tools()
    assert not missing, f"POP3 clients missing: apt-get install {' '.join(missing)}"


def expected():
    """What a client should hand over: the stored bytes, plus the line end
    POP3 adds to a message that has none."""
    return sorted(m if m.endswith(b"\n") else m + b"\n" for m in MSGS)


def lf(data):
    return data.replace(b"\r\n", b"\n")


def load(server, user="ptalice"):
    for m in MSGS:
        server.maildirs[user].add(m)


def assert_untouched(server, user="ptalice"):
    assert server.maildirs[user].contents() == sorted(MSGS)


def assert_emptied(server, user="ptalice"):
    assert wait_until(lambda: server.maildirs[user].files() == [], 5), \
        server.maildirs[user].files()


def session_log(server):
    """The login/logout lines, to show what the client did."""
    return [l.split(": ", 1)[1] for l in server.logtext().splitlines()
            if "login:" in l or "logout:" in l]


# ---- Python poplib ----

def test_poplib(any_server):
    load(any_server)
    sizes = sorted(wire_size(m) for m in MSGS)

    def fetch(delete):
        p = poplib.POP3("127.0.0.1", any_server.port, timeout=30)
        try:
            assert p.getwelcome() == b"+OK postern ready"
            caps = p.capa()
            for c in ("TOP", "UIDL", "USER", "RESP-CODES", "PIPELINING"):
                assert c in caps
            p.user("ptalice")
            p.pass_(PASSWORD)
            count, total = p.stat()
            assert count == len(MSGS) and total == sum(sizes)
            _, listing, _ = p.list()
            assert sorted(int(l.split()[1]) for l in listing) == sizes
            uidls = [l.split()[1] for l in p.uidl()[1]]
            assert len(set(uidls)) == len(MSGS)
            got = []
            for i in range(1, count + 1):
                resp, lines, octets = p.retr(i)
                got.append(b"\n".join(lines) + b"\n")
                if delete:
                    assert p.dele(i).startswith(b"+OK")
            r = p.quit()
            assert r.startswith(b"+OK postern signing off (%d messages deleted)"
                                % (count if delete else 0))
            return got, uidls
        finally:
            p.close()

    got, u1 = fetch(delete=False)
    assert sorted(got) == expected()
    assert_untouched(any_server)
    got, u2 = fetch(delete=True)
    assert sorted(got) == expected()
    assert u1 == u2
    assert_emptied(any_server)


def test_poplib_top_and_long_lines(server):
    data = b"Subject: long\n\n" + b"L" * (1 << 20) + b"\nshort\n"
    server.maildirs["ptalice"].add(data)
    old = poplib._MAXLINE
    poplib._MAXLINE = 2 << 20
    try:
        p = poplib.POP3("127.0.0.1", server.port, timeout=30)
        p.user("ptalice")
        p.pass_(PASSWORD)
        assert p.top(1, 0)[1] == [b"Subject: long", b""]
        resp, lines, octets = p.retr(1)
        assert b"\n".join(lines) + b"\n" == data
        p.quit()
    finally:
        poplib._MAXLINE = old


# ---- fetchmail ----

def test_fetchmail(any_server):
    load(any_server)
    rc, trace, got = realclients.fetchmail(any_server.tmp, any_server.port, keep=True)
    assert rc == 0, trace
    assert sorted(got) == expected()
    assert "POP3> DELE" not in trace
    assert_untouched(any_server)
    rc, trace, got = realclients.fetchmail(any_server.tmp, any_server.port, keep=False)
    assert rc == 0, trace
    assert sorted(got) == expected()
    assert "POP3> DELE 1" in trace
    assert_emptied(any_server)


# ---- getmail6 ----

def run_getmail(server, keep):
    def restore():
        mailbox = server.maildirs["ptalice"]
        for f in mailbox.files():
            os.remove(os.path.join(mailbox.path, f))
        load(server)
    rc, trace, got = realclients.getmail(server.tmp, server.port, keep=keep, restore=restore)
    assert rc == 0, trace
    # getmail's Maildir delivery puts a Return-Path line on top.
    prefix = b"Return-Path: <unknown>\n"
    assert all(g.startswith(prefix) for g in got)
    return [g[len(prefix):] for g in got], trace


def test_getmail6(any_server):
    load(any_server)
    got, trace = run_getmail(any_server, keep=True)
    assert sorted(got) == expected()
    assert "deleted" not in trace
    assert_untouched(any_server)
    got, trace = run_getmail(any_server, keep=False)
    assert sorted(got) == expected()
    assert trace.count(", deleted") == len(MSGS)
    assert_emptied(any_server)


# ---- mpop ----

def test_mpop(any_server):
    load(any_server)
    rc, trace, got = realclients.mpop(any_server.tmp, any_server.port, keep=True)
    assert rc == 0, trace[-3000:]
    assert sorted(got) == expected()
    assert "--> DELE" not in trace
    assert_untouched(any_server)
    rc, trace, got = realclients.mpop(any_server.tmp, any_server.port, keep=False)
    assert rc == 0, trace[-3000:]
    assert sorted(got) == expected()
    assert "--> DELE 1" in trace
    # mpop pipelines (PIPELINING is advertised): USER and PASS went out
    # before the first answer, and so did the RETRs.
    assert "--> USER ptalice\n--> PASS" in trace
    assert "--> RETR 1\n--> RETR 2" in trace
    assert_emptied(any_server)


# ---- curl ----

def curl(server, path="/", *extra, check=True):
    """One curl session; its stdout is .messages."""
    r = realclients.curl(server.port, path, extra=extra)
    if check:
        assert r.returncode == 0, r.trace
    return r


def test_curl(any_server):
    load(any_server)
    listing = curl(any_server).messages
    assert listing == b"".join(b"%d %d\r\n" % (i + 1, wire_size(m)) for i, m in enumerate(MSGS))
    got = [lf(curl(any_server, f"/{i + 1}").messages) for i in range(len(MSGS))]
    assert sorted(got) == expected()
    assert_untouched(any_server)
    # A message number that does not exist is an error, not an empty body.
    assert curl(any_server, "/99", check=False).returncode != 0
    # Delete them one session at a time: each DELE 1 takes the oldest.
    for i in range(len(MSGS)):
        r = curl(any_server, "/", "-X", "DELE 1", "-I")
        assert r.messages == b""
        assert len(any_server.maildirs["ptalice"].files()) == len(MSGS) - i - 1
    # (curl prints the CRLF of an empty listing's "+OK" line, a curl quirk.)
    assert curl(any_server).messages in (b"", b"\r\n")
    assert_emptied(any_server)
    assert wait_until(lambda: sum("logout:" in l for l in session_log(any_server))
                      == len(MSGS) * 2 + 3, 5)
    # curl logs in with SASL PLAIN.
    assert all("method=PLAIN" in l for l in session_log(any_server) if "login:" in l)
