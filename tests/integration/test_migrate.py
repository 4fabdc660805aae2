"""Moving in from Dovecot or Courier without a re-download (issue 15.1).

Each test serves one generated Maildir with the real server from Debian
first (Dovecot's pop3 in a private instance; Courier's courierpop3d from the
Debian .deb unpacked with dpkg -x), records every UIDL through POP3 and lets
fetchmail fetch everything (keeping mail, with its idfile), stops it, then
serves the same Maildir with postern: every UIDL must be the one the old
server gave, the same fetchmail must find nothing new, and messages delivered
afterwards must get UIDLs none of the old ones has.

The Courier packages come from /var/cache/postern-test-debs, filled by
`sh contrib/install-deps.sh test` (apt-get download; courier-pop conflicts
with dovecot as an installed package, so it is never installed).  A fixture
never runs apt-get itself: an empty cache fails the test loudly."""
import glob
import grp
import os
import poplib
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import PASSWORD, POSTERN, wait_port

DEB_CACHE = "/var/cache/postern-test-debs"
COURIER_DEBS = ["courier-pop", "courier-base", "courier-authlib", "libcourier-unicode4"]
USER = "ptalice"


def make_mail(md, n, start=0):
    """n messages, some in cur/ with flags, some with ,S= in their name,
    each with its own Message-ID so a body names its message."""
    names = []
    for i in range(start, start + n):
        body = (f"From: sender{i}@example.org\nTo: {USER}@example.org\n"
                f"Subject: message {i}\nMessage-ID: <m{i}@migrate.test>\n\nbody {i}\n").encode()
        if i % 3 == 0:
            name = md.add(body, where="cur", name=f"{1700000000 + i}.M{i}P77.oldhost:2,S")
        elif i % 3 == 1:
            name = md.add(body, name=f"{1700000000 + i}.M{i}P77.oldhost,S={len(body)}")
        else:
            name = md.add(body)
        names.append(name)
    return names


def uidl_by_message(port, user=USER):
    """{Message-ID: UIDL} over POP3 (RETR: the servers mark them seen)."""
    p = poplib.POP3("127.0.0.1", port, timeout=30)
    p.user(user)
    p.pass_(PASSWORD)
    out = {}
    for line in p.uidl()[1]:
        num, uidl = line.decode().split(" ", 1)
        msg = b"\n".join(p.retr(int(num))[1]).decode()
        mid = [h for h in msg.split("\n") if h.startswith("Message-ID:")][0]
        assert mid not in out
        out[mid] = uidl
    p.quit()
    return out


def fetchmail(port, work, idfile):
    """fetchmail keeping mail, with its idfile: the messages it hands over."""
    out = tempfile.mkdtemp(dir=work)
    mda = os.path.join(work, "mda.sh")
    with open(mda, "w") as f:
        f.write(f'#!/bin/sh\nexec cat > "$(mktemp "{out}/msg.XXXXXXXX")"\n')
    os.chmod(mda, 0o755)
    rc = os.path.join(work, "fetchmailrc")
    with open(rc, "w") as f:
        f.write(f'set invisible\nset no bouncemail\n'
                f'poll 127.0.0.1 service {port} protocol pop3 uidl auth password\n'
                f'  user "{USER}" there with password "{PASSWORD}" is root here\n'
                f'  sslproto "" keep no rewrite\n  mda "{mda}"\n')
    os.chmod(rc, 0o600)
    env = dict(os.environ, HOME=work, FETCHMAILHOME=work)
    r = subprocess.run(["fetchmail", "-f", rc, "--nodetach", "-v", "--idfile", idfile,
                        "--pidfile", os.path.join(work, "pid")],
                       env=env, capture_output=True, timeout=120)
    trace = (r.stdout + r.stderr).decode("latin-1")
    # 0: mail fetched; 1: no new mail.
    assert r.returncode in (0, 1), trace
    got = []
    for n in sorted(os.listdir(out)):
        with open(os.path.join(out, n), "rb") as f:
            got.append(f.read())
    return got, trace


def stop_proc(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# ---- Dovecot ----

class Dovecot:
    def __init__(self, server, fmt):
        self.dir = os.path.join(server.tmp, "dovecot")
        os.makedirs(self.dir, exist_ok=True)
        # Dovecot's auth process runs as user dovecot: it must read the
        # passwd file (postern's, in the format both share).
        os.chown(server.passwd, 0, grp.getgrnam("dovecot").gr_gid)
        self.port = server.port
        self.conf = os.path.join(self.dir, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join([
                f"instance_name = postern-migrate-{os.getpid()}-{self.port}",
                f"base_dir = {self.dir}/run",
                f"state_dir = {self.dir}/state",
                f"log_path = {self.dir}/dovecot.log",
                "protocols = pop3",
                "listen = 127.0.0.1",
                "ssl = no",
                "disable_plaintext_auth = no",
                "auth_mechanisms = plain",
                "mail_location = maildir:~/Maildir",
                "first_valid_uid = 1000",
                f"pop3_uidl_format = {fmt}",
                "passdb {", "  driver = passwd-file",
                f"  args = scheme=SHA512-CRYPT {server.passwd}", "}",
                "userdb {", "  driver = passwd-file", f"  args = {server.passwd}", "}",
                "service pop3-login {", "  inet_listener pop3 {", f"    port = {self.port}",
                "  }", "}", ""]))
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_port("127.0.0.1", self.port)
        return self

    def stop(self):
        if self.proc:
            stop_proc(self.proc)
            self.proc = None
        # Its children go with the master; wait for the port to be free.
        end = time.time() + 15
        while time.time() < end:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                time.sleep(0.1)
            except OSError:
                return

    def log(self):
        try:
            with open(os.path.join(self.dir, "dovecot.log")) as f:
                return f.read()
        except OSError:
            return ""


def migrate_and_check(server, old_uidls, work, idfile, seen_count):
    """postern on the same Maildir: same UIDLs, fetchmail gets nothing new,
    new mail gets new UIDLs.  Returns postern's UIDLs after the new mail."""
    server.start()
    assert uidl_by_message(server.port) == old_uidls, server.logtext()
    got, trace = fetchmail(server.port, work, idfile)
    assert got == [], trace
    # New mail: UIDLs none of the old ones has, all distinct.
    md = server.maildirs[USER]
    new_names = make_mail(md, 4, start=1000)
    now = uidl_by_message(server.port)
    new = {k: v for k, v in now.items() if k not in old_uidls}
    assert len(new) == 4 and len(now) == seen_count + 4
    assert not set(new.values()) & set(old_uidls.values())
    assert len(set(now.values())) == len(now)
    got, trace = fetchmail(server.port, work, idfile)
    assert len(got) == 4, trace
    assert all(b"@migrate.test" in m and b"body 10" in m for m in got)
    # The report: the old messages keep their UIDL, the new ones do not.
    r = subprocess.run([POSTERN, "-f", server.conf, "-U", md.path], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"{seen_count + 4} messages, {seen_count} keep the UIDL" in r.stdout, r.stdout
    return now, new_names


DOVECOT_FORMATS = ["%08Xu%08Xv", "%u", "%v.%u", "%f", "%g", "UID%u-%Lf"]


@pytest.mark.parametrize("fmt", DOVECOT_FORMATS)
def test_from_dovecot(server_factory, fmt):
    server = server_factory(extra_conf=f"dovecot_uidl_format = {fmt}\n")
    md = server.maildirs[USER]
    make_mail(md, 12)
    work = tempfile.mkdtemp(dir=server.tmp)
    idfile = os.path.join(work, "ids")
    dc = Dovecot(server, fmt).start()
    try:
        old = uidl_by_message(server.port)
        got, trace = fetchmail(server.port, work, idfile)
    finally:
        dc.stop()
    assert len(old) == 12 and len(got) == 12, trace + dc.log()
    assert os.path.exists(os.path.join(md.path, "dovecot-uidlist"))
    now, _ = migrate_and_check(server, old, work, idfile, 12)
    server.stop()
    # Read once: the old server's files may go, the UIDLs stay.
    for f in glob.glob(os.path.join(md.path, "dovecot*")):
        os.unlink(f)
    server.start()
    assert uidl_by_message(server.port) == now


def test_dovecot_default_format_case(server_factory):
    """What Dovecot 2.3 really prints for its default %08Xu%08Xv: postern's
    default must produce the same bytes (checked against the running
    server, not against a belief about upper or lower case)."""
    server = server_factory()
    md = server.maildirs[USER]
    make_mail(md, 3)
    with open("/etc/dovecot/conf.d/20-pop3.conf") as f:
        assert "#pop3_uidl_format = %08Xu%08Xv" in f.read()
    dc = Dovecot(server, "%08Xu%08Xv").start()
    try:
        old = uidl_by_message(server.port)
    finally:
        dc.stop()
    with open(os.path.join(md.path, "dovecot-uidlist")) as f:
        uidv = int(f.readline().split()[1][1:])
    assert sorted(old.values()) == sorted("%08x%08x" % (u, uidv) for u in (1, 2, 3))
    server.start()
    assert uidl_by_message(server.port) == old


def test_dovecot_saved_uidl_and_collisions(server_factory):
    """A P field (a UIDL Dovecot saved) is served as it is; an unusable one
    (too long), a line that cannot be parsed and a UIDL given twice fall
    back to postern's own, which must not equal any imported UIDL."""
    server = server_factory()
    md = server.maildirs[USER]
    a = md.add(b"Message-ID: <a>\n\na\n", where="cur", name="1700000001.M1P1.h:2,S")
    b = md.add(b"Message-ID: <b>\n\nb\n", name="1700000002.M2P2.h")
    c = md.add(b"Message-ID: <c>\n\nc\n", name="1700000003.M3P3.h")
    d = md.add(b"Message-ID: <d>\n\nd\n", name="1700000004.M4P4.h")
    e = md.add(b"Message-ID: <e>\n\ne\n", name="1700000005.M5P5.h")
    # e's own name is the UIDL the uidlist gives a: e must not get it.
    lines = ["3 V1234 N9 Gabc",
             f"1 P1700000005.M5P5.h :{a}",
             f"2 Psaved-uidl-b W20 :{b}",
             "3 P" + "x" * 71 + f" :{c}",
             "garbage line",
             f"4 Psaved-uidl-b :{d}",
             ""]
    p = os.path.join(md.path, "dovecot-uidlist")
    with open(p, "w") as f:
        f.write("\n".join(lines))
    os.chown(p, md.uid, md.gid)
    server.start()
    got = uidl_by_message(server.port)
    assert got["Message-ID: <a>"] == "1700000005.M5P5.h"
    assert got["Message-ID: <b>"] == "saved-uidl-b"
    assert got["Message-ID: <c>"] == "1700000003.M3P3.h"   # P too long: own
    assert got["Message-ID: <d>"] == "1700000004.M4P4.h"   # P taken by b: own
    assert len(got["Message-ID: <e>"]) == 40 and got["Message-ID: <e>"] != "1700000005.M5P5.h"
    assert len(set(got.values())) == 5
    log = server.logtext()
    assert "dovecot-uidlist line 5 skipped" in log
    assert "UIDL saved-uidl-b a second time" in log
    assert "not 1-70 characters" in log
    # The same on the next login (from postern-uidls), and UID-PARAM finds
    # messages by the imported UIDL, not by their own.
    assert uidl_by_message(server.port) == got
    p = poplib.POP3("127.0.0.1", server.port, timeout=30)
    p.user(USER)
    p.pass_(PASSWORD)
    assert p._shortcmd("UIDL UID:saved-uidl-b") == b"+OK 2 saved-uidl-b"
    with pytest.raises(poplib.error_proto, match="UID/NOT-FOUND"):
        p._shortcmd(f"UIDL UID:{b}")
    p.quit()


# ---- Courier ----

def courier_root(tmp):
    """Debian's courier-pop and what it needs, unpacked (never installed)."""
    debs = []
    for pkg in COURIER_DEBS:
        found = sorted(glob.glob(os.path.join(DEB_CACHE, f"{pkg}_*.deb")))
        assert found, (f"no .deb for {pkg} in {DEB_CACHE}: "
                       "run sh contrib/install-deps.sh test (make check does)")
        debs.append(found[-1])
    root = os.path.join(tmp, "courier")
    os.makedirs(root)
    for deb in debs:
        subprocess.run(["dpkg", "-x", deb, root], check=True)
    for dirpath, dirnames, _ in os.walk(tmp):
        os.chmod(dirpath, 0o755)
    return root


class Courier:
    """courierpop3d behind a minimal login front: courierpop3login's job
    (USER/PASS, then exec courierpop3d, whose "+OK logged in." answers
    PASS) without authdaemond.  One connection at a time."""

    def __init__(self, root, port, home, uid, gid):
        self.root, self.port, self.home, self.uid, self.gid = root, port, home, uid, gid
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(8)
        self.stopping = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                self.session(conn)
            finally:
                conn.close()

    @staticmethod
    def readline(conn):
        buf = b""
        while not buf.endswith(b"\n"):
            c = conn.recv(1)
            if not c:
                return None
            buf += c
        return buf.decode("latin-1").rstrip("\r\n")

    def session(self, conn):
        conn.sendall(b"+OK courier test front\r\n")
        user = None
        while True:
            line = self.readline(conn)
            if line is None:
                return
            cmd, _, arg = line.partition(" ")
            cmd = cmd.upper()
            if cmd == "CAPA":
                conn.sendall(b"+OK\r\nUSER\r\nUIDL\r\nTOP\r\n.\r\n")
            elif cmd == "USER":
                user = arg
                conn.sendall(b"+OK\r\n")
            elif cmd == "PASS" and user == USER and arg == PASSWORD:
                lib = ":".join([os.path.join(self.root, "usr/lib"),
                                os.path.join(self.root, "usr/lib/x86_64-linux-gnu")])
                env = {"AUTHENTICATED": user, "TCPREMOTEIP": "127.0.0.1",
                       "TCPREMOTEPORT": "0", "LD_LIBRARY_PATH": lib, "PATH": "/usr/bin:/bin"}
                p = subprocess.Popen([os.path.join(self.root, "usr/lib/courier/courier/courierpop3d"),
                                      "Maildir"], stdin=conn.fileno(), stdout=conn.fileno(),
                                     stderr=subprocess.DEVNULL, cwd=self.home, env=env,
                                     user=self.uid, group=self.gid, extra_groups=[])
                p.wait(120)
                return
            elif cmd == "QUIT":
                conn.sendall(b"+OK\r\n")
                return
            else:
                conn.sendall(b"-ERR not here\r\n")

    def stop(self):
        self.stopping = True
        self.sock.close()
        self.thread.join(30)


def test_from_courier(server_factory):
    server = server_factory()
    md = server.maildirs[USER]
    make_mail(md, 12)
    root = courier_root(server.tmp)
    work = tempfile.mkdtemp(dir=server.tmp)
    idfile = os.path.join(work, "ids")
    pw = pwd.getpwnam(USER)
    c = Courier(root, server.port, os.path.dirname(md.path), pw.pw_uid, pw.pw_gid)
    try:
        old = uidl_by_message(server.port)
        got, trace = fetchmail(server.port, work, idfile)
    finally:
        c.stop()
    assert len(old) == 12 and len(got) == 12, trace
    # What Debian's courierpop3d hands out: UID<n>-<uidvalidity>.
    with open(os.path.join(md.path, "courierpop3dsizelist")) as f:
        header = f.readline().split()
    assert header[0] == "/3"
    assert sorted(old.values()) == sorted(f"UID{n}-{header[2]}" for n in range(1, 13))
    # The report before the move reads the old file and writes nothing.
    r = subprocess.run([POSTERN, "-f", server.conf, "-U", md.path], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout == (f"{md.path}: 12 messages, 12 keep the UIDL of the previous server, "
                        "0 get postern's own (old UIDLs from: courierpop3dsizelist, 12 entries)\n")
    assert not os.path.exists(os.path.join(md.path, "postern-uidls"))
    now, _ = migrate_and_check(server, old, work, idfile, 12)
    server.stop()
    os.unlink(os.path.join(md.path, "courierpop3dsizelist"))
    server.start()
    assert uidl_by_message(server.port) == now


def test_courier_malformed_lines_and_import_off(server_factory):
    """Lines Courier's own reader would reject are skipped and logged; the
    rest keep their UIDL.  uidl_import = no serves postern's own UIDLs and
    writes nothing."""
    server = server_factory()
    md = server.maildirs[USER]
    a = md.add(b"Message-ID: <a>\n\na\n", where="cur", name="1700000001.M1P1.h:2,S")
    b = md.add(b"Message-ID: <b>\n\nb\n", name="1700000002.M2P2.h")
    c = md.add(b"Message-ID: <c>\n\nc\n", name="1700000003.M3P3.h")
    p = os.path.join(md.path, "courierpop3dsizelist")
    with open(p, "w") as f:
        f.write(f"/3 9 1111\n{a} 20 5:1111:0\n{b} 20 x:1111:0\n{c} 20 7:2222\n")
    os.chown(p, md.uid, md.gid)
    server.write_conf(open(server.conf).read() + "uidl_import = no\n")
    server.start()
    off = uidl_by_message(server.port)
    assert sorted(off.values()) == ["1700000001.M1P1.h", "1700000002.M2P2.h", "1700000003.M3P3.h"]
    assert not os.path.exists(os.path.join(md.path, "postern-uidls"))
    server.stop()
    server.write_conf(open(server.conf).read().replace("uidl_import = no\n", ""))
    server.start()
    got = uidl_by_message(server.port)
    assert got == {"Message-ID: <a>": "UID5-1111", "Message-ID: <b>": "1700000002.M2P2.h",
                   "Message-ID: <c>": "UID7-2222"}
    assert "courierpop3dsizelist line 3 skipped: bad uid" in server.logtext()
    st = os.stat(os.path.join(md.path, "postern-uidls"))
    assert st.st_uid == md.uid


def test_both_files_newer_wins_and_bad_files(server_factory):
    """Both old files: for a message both list, the newer file's UIDL; the
    others from whichever lists them.  A file not owned by the mailbox
    owner is not read; a postern-uidls with a bad header is not used
    (logged), and UIDLs are then postern's own."""
    server = server_factory()
    md = server.maildirs[USER]
    a = md.add(b"Message-ID: <a>\n\na\n", name="1700000001.M1P1.h")
    b = md.add(b"Message-ID: <b>\n\nb\n", name="1700000002.M2P2.h")
    c = md.add(b"Message-ID: <c>\n\nc\n", name="1700000003.M3P3.h")
    dc = os.path.join(md.path, "dovecot-uidlist")
    cr = os.path.join(md.path, "courierpop3dsizelist")
    with open(dc, "w") as f:
        f.write(f"3 V77 N3\n1 :{a}\n2 :{b}\n")
    with open(cr, "w") as f:
        f.write(f"/3 9 55\n{b} 1 8:55:0\n{c} 1 9:55:0\n")
    for p in (dc, cr):
        os.chown(p, md.uid, md.gid)
    os.utime(dc, (1700000000, 1700000000))      # Courier's is newer
    server.start()
    got = uidl_by_message(server.port)
    assert got == {"Message-ID: <a>": "%08x%08x" % (1, 77), "Message-ID: <b>": "UID8-55",
                   "Message-ID: <c>": "UID9-55"}
    with open(os.path.join(md.path, "postern-uidls")) as f:
        assert f.readline() == "postern-uidls 1 dovecot+courier\n"
    server.stop()

    # A foreign-owned old file is ignored (and said so).
    os.unlink(os.path.join(md.path, "postern-uidls"))
    os.chown(cr, 0, 0)
    server.start()
    got = uidl_by_message(server.port)
    assert got["Message-ID: <b>"] == "%08x%08x" % (2, 77)
    assert got["Message-ID: <c>"] == c
    assert "cannot read courierpop3dsizelist: not owned by the mailbox owner" in server.logtext()
    server.stop()

    # A damaged postern-uidls: not used (logged), never a wrong UIDL; the
    # old files, still there, are imported again.
    p = os.path.join(md.path, "postern-uidls")
    with open(p, "w") as f:
        f.write(f"postern-uidls 9 x\n{a} WRONG\n")
    os.chown(p, md.uid, md.gid)
    server.start()
    assert uidl_by_message(server.port) == got
    assert "postern-uidls has a bad header" in server.logtext()
    server.stop()
    # ... and without them: postern's own UIDLs.
    with open(p, "w") as f:
        f.write(f"postern-uidls 9 x\n{a} WRONG\n")
    os.chown(p, md.uid, md.gid)
    os.unlink(dc)
    server.start()
    assert sorted(uidl_by_message(server.port).values()) == sorted([a, b, c])
