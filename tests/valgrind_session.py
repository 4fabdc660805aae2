#!/usr/bin/python3
"""`make valgrind`: one full POP3 session in inetd mode (`postern -i`) and
one against the standalone master, every postern process (master, monitor
that becomes the mail process, pre-auth) under valgrind memcheck.  Fails when a log shows an error or
a definite leak.  Run as root from the repository root after `make`.

Usage: valgrind_session.py --postern PATH --logs DIR
"""
import argparse
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

USER = "ptalice"
PASSWORD = "s3cret pass"
MESSAGES = [
    b"From: a@example.org\nSubject: one\n\nfirst body\n.dot line\n",
    b"Subject: two\r\n\r\nCRLF body\r\n",
    b"Subject: three\n\n" + b"long line " * 3000 + b"\nno final newline",
]


def ensure_user(name, system=False):
    try:
        pwd.getpwnam(name)
    except KeyError:
        args = ["useradd", "--no-create-home", "--home-dir", "/nonexistent",
                "--shell", "/usr/sbin/nologin", name]
        if system:
            args.insert(1, "--system")
        subprocess.run(args, check=True)
    return pwd.getpwnam(name)


class Client:
    def __init__(self, sock):
        self.s = sock
        self.s.settimeout(120)      # valgrind is slow
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise RuntimeError(f"connection closed; got {self.buf!r}")
            self.buf += d
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln.decode("latin-1")

    def multi(self):
        lines = []
        while True:
            ln = self.line()
            if ln == ".":
                return lines
            lines.append(ln)

    def cmd(self, text, multi=False):
        self.s.sendall(text.encode() + b"\r\n")
        st = self.line()
        if not st.startswith("+OK"):
            raise RuntimeError(f"{text.split()[0]}: {st}")
        return (st, self.multi()) if multi else st


def session(sock):
    """The session the issue asks for: login, LIST, UIDL, RETR, TOP, DELE,
    QUIT."""
    c = Client(sock)
    assert c.line().startswith("+OK"), "greeting"
    c.cmd(f"USER {USER}")
    st = c.cmd(f"PASS {PASSWORD}")
    assert st.startswith(f"+OK maildrop has {len(MESSAGES)} messages"), st
    _, lst = c.cmd("LIST", multi=True)
    assert len(lst) == len(MESSAGES), lst
    _, uidl = c.cmd("UIDL", multi=True)
    assert len(uidl) == len(MESSAGES), uidl
    for i in range(1, len(MESSAGES) + 1):
        c.cmd(f"RETR {i}", multi=True)
    c.cmd("TOP 1 1", multi=True)
    c.cmd("DELE 1")
    c.cmd("DELE 3")
    st = c.cmd("QUIT")
    assert st == "+OK postern signing off (2 messages deleted)", st
    sock.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--postern", required=True)
    ap.add_argument("--logs", required=True)
    a = ap.parse_args()
    assert os.geteuid() == 0, "run as root"
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ensure_user("postern", system=True)
    pw = ensure_user(USER)
    os.makedirs(a.logs, exist_ok=True)
    os.chmod(a.logs, 0o1777)

    tmp = tempfile.mkdtemp(prefix="postern-vg-", dir="/tmp")
    os.chmod(tmp, 0o755)
    home = os.path.join(tmp, "home")
    md = os.path.join(home, "Maildir")
    for d in (home, md, md + "/cur", md + "/new", md + "/tmp"):
        os.makedirs(d, exist_ok=True)
        os.chown(d, pw.pw_uid, pw.pw_gid)
    h = subprocess.run([os.path.join(top, "postern-passwd"), "hash", "-s", "sha512-crypt",
                        "--stdin"], input=PASSWORD + "\n", capture_output=True, text=True,
                       check=True).stdout.strip()
    passwd = os.path.join(tmp, "passwd")
    with open(passwd, "w") as f:
        f.write(f"{USER}:{h}:{pw.pw_uid}:{pw.pw_gid}::{home}::\n")
    os.chmod(passwd, 0o640)
    port = free_port()
    conf = os.path.join(tmp, "postern.conf")
    with open(conf, "w") as f:
        f.write(f"listen = 127.0.0.1:{port}\npasswd_file = {passwd}\n"
                "first_valid_uid = 1000\nlogin_fail_delay = 0\n"
                # valgrind's own address space and system calls:
                "preauth_memory = 0\nseccomp = no\n")

    def deliver():
        for n in os.listdir(md + "/cur") + os.listdir(md + "/new"):
            for sub in ("cur", "new"):
                if os.path.exists(os.path.join(md, sub, n)):
                    os.unlink(os.path.join(md, sub, n))
        for i, body in enumerate(MESSAGES):
            p = os.path.join(md, "new", f"{1700000000 + i}.M{i}P1.vg")
            with open(p, "wb") as f:
                f.write(body)
            os.chown(p, pw.pw_uid, pw.pw_gid)

    vg = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite",
          "--show-leak-kinds=definite", "--error-exitcode=99", "--child-silent-after-fork=no",
          f"--log-file={a.logs}/vg.%p.log"]
    daemon_log = open(os.path.join(a.logs, "daemon.log"), "ab")
    rc = 0
    try:
        # 1. inetd mode: the client socket is stdin/stdout.
        deliver()
        ours, theirs = socket.socketpair()
        p = subprocess.Popen(vg + [a.postern, "-f", conf, "-d", "-i"], stdin=theirs.fileno(),
                             stdout=theirs.fileno(), stderr=daemon_log)
        theirs.close()
        session(ours)
        p.wait(180)
        print(f"valgrind: inetd session done (exit {p.returncode})")

        # 2. standalone: the master forks the rest.
        deliver()
        p = subprocess.Popen(vg + [a.postern, "-f", conf, "-d"], stderr=daemon_log)
        end = time.time() + 120
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=120)
                break
            except OSError:
                if time.time() > end or p.poll() is not None:
                    raise RuntimeError("standalone postern did not start")
                time.sleep(0.2)
        session(sock)
        time.sleep(1)
        p.send_signal(signal.SIGTERM)
        p.wait(180)
        # Session processes finish on their own after the master stops.
        time.sleep(2)
        print(f"valgrind: standalone session done (exit {p.returncode})")
    finally:
        daemon_log.close()
        shutil.rmtree(tmp, ignore_errors=True)

    logs = sorted(glob.glob(os.path.join(a.logs, "vg.*.log")))
    bad = []
    for path in logs:
        text = open(path, errors="replace").read()
        m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
        # Every process must have reached its end (the summary is written
        # at exit, after the leak check) with no error and no definite leak.
        if not m or int(m.group(1)) != 0 or re.search(r"definitely lost: [1-9]", text):
            bad.append((path, text[-4000:]))
    print(f"valgrind: {len(logs)} process logs in {a.logs}")
    # Expected: inetd monitor (which becomes the mail process) and pre-auth;
    # master, monitor (mail process) and pre-auth.
    if len(logs) < 5:
        print(f"valgrind: expected at least 5 processes, got {len(logs)}")
        rc = 1
    for path, text in bad:
        print(f"== {path}\n{text}")
        rc = 1
    print("valgrind: no errors, no definite leaks" if rc == 0 else "valgrind: FAILED")
    return rc


if __name__ == "__main__":
    sys.exit(main())
