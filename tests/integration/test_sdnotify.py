"""systemd notify (issue 14 point 3): with NOTIFY_SOCKET set, the standalone
master sends READY=1 once it listens, RELOADING=1 with MONOTONIC_USEC= and
then READY=1 around a SIGHUP reload, STOPPING=1 on SIGTERM, and STATUS=
lines with the session count; each datagram comes from the master itself
(the kernel's SCM_CREDENTIALS say so).  The socket is one the test listens
on, by path and by abstract name ('@'), as systemd passes either."""
import os
import signal
import socket
import struct
import time

import pytest

from pop3util import logged_in, wait_until

SO_PASSCRED = getattr(socket, "SO_PASSCRED", 16)
SCM_CREDENTIALS = getattr(socket, "SCM_CREDENTIALS", 2)


class Notify:
    """A SOCK_DGRAM socket standing in for systemd's notify socket."""

    def __init__(self, tmp, abstract):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_PASSCRED, 1)
        if abstract:
            name = f"postern-test-notify-{os.getpid()}-{id(self)}"
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            self.env = os.path.join(tmp, "notify.sock")
            self.sock.bind(self.env)
        self.got = []          # (pid, {key: value}) in order

    def _recv(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data, anc, _flags, _addr = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            return False
        pid = None
        for level, typ, cdata in anc:
            if level == socket.SOL_SOCKET and typ == SCM_CREDENTIALS:
                pid, _uid, _gid = struct.unpack("iII", cdata[:12])
        fields = {}
        for line in data.decode().split("\n"):
            if line:
                k, _, v = line.partition("=")
                fields[k] = v
        self.got.append((pid, fields))
        return True

    def wait(self, pred, timeout=10):
        """The first message (from the ones not yet taken) for which
        pred(fields) holds; the ones before it are dropped."""
        end = time.time() + timeout
        while True:
            while self.got:
                pid, fields = self.got.pop(0)
                if pred(fields):
                    return pid, fields
            left = end - time.time()
            if left <= 0 or not self._recv(left):
                raise AssertionError(f"no such notification within {timeout} s")

    def close(self):
        self.sock.close()


def start_notified(server_factory, monkeypatch, abstract, extra_conf=""):
    s = server_factory(extra_conf=extra_conf)
    n = Notify(s.tmp, abstract)
    monkeypatch.setenv("NOTIFY_SOCKET", n.env)
    try:
        s.start()
    finally:
        monkeypatch.delenv("NOTIFY_SOCKET")
    return s, n


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_ready_reload_status_stopping(server_factory, monkeypatch, abstract):
    s, n = start_notified(server_factory, monkeypatch, abstract)
    try:
        master = s.proc.pid
        pid, f = n.wait(lambda f: "READY" in f)
        assert pid == master and f["READY"] == "1"
        assert f["STATUS"] == "0 sessions (0 logged in)", f
        # A logged-in session shows in STATUS= (at most one a second).
        c = logged_in(s.port)
        try:
            pid, f = n.wait(lambda f: f.get("STATUS") == "1 sessions (1 logged in)")
            assert pid == master
            # SIGHUP: RELOADING=1 with the monotonic time, then READY=1.
            before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
            s.proc.send_signal(signal.SIGHUP)
            pid, f = n.wait(lambda f: "RELOADING" in f)
            after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
            assert pid == master and f["RELOADING"] == "1"
            assert before <= int(f["MONOTONIC_USEC"]) <= after, (before, f, after)
            pid, f = n.wait(lambda f: True)
            assert pid == master and f.get("READY") == "1", f
            assert "configuration reloaded" in s.logtext()
            # The session ends: the count goes back to 0.
            assert c.cmd("QUIT").startswith("+OK")
        finally:
            c.close()
        pid, f = n.wait(lambda f: f.get("STATUS") == "0 sessions (0 logged in)")
        assert pid == master
        # SIGTERM: STOPPING=1, then the master exits.
        s.proc.send_signal(signal.SIGTERM)
        pid, f = n.wait(lambda f: "STOPPING" in f)
        assert pid == master and f["STOPPING"] == "1"
        assert s.proc.wait(10) == 0
    finally:
        n.close()


def test_failed_reload_is_still_followed_by_ready(server_factory, monkeypatch):
    """A reload that fails keeps the running configuration: the service is
    ready again, not left "reloading"."""
    s, n = start_notified(server_factory, monkeypatch, False)
    try:
        n.wait(lambda f: "READY" in f)
        with open(s.conf, "a") as f:
            f.write("no_such_key = 1\n")
        s.proc.send_signal(signal.SIGHUP)
        n.wait(lambda f: "RELOADING" in f)
        _pid, f = n.wait(lambda f: True)
        assert f.get("READY") == "1", f
        assert "reload failed" in f.get("STATUS", ""), f
        assert wait_until(lambda: "reload failed" in s.logtext(), 5)
    finally:
        n.close()


def test_sessions_not_logged_in_are_counted(server_factory, monkeypatch):
    s, n = start_notified(server_factory, monkeypatch, True)
    try:
        n.wait(lambda f: "READY" in f)
        c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        try:
            assert c.recv(100).startswith(b"+OK")
            n.wait(lambda f: f.get("STATUS") == "1 sessions (0 logged in)")
        finally:
            c.close()
    finally:
        n.close()


@pytest.mark.parametrize("value", ["relative/path", "/nonexistent/notify.sock"])
def test_unusable_notify_socket_is_not_fatal(server_factory, monkeypatch, value):
    """A NOTIFY_SOCKET that is not an address, or where nobody listens:
    postern serves as without one and says so once in the log."""
    s = server_factory()
    monkeypatch.setenv("NOTIFY_SOCKET", value)
    try:
        s.start()
    finally:
        monkeypatch.delenv("NOTIFY_SOCKET")
    c = logged_in(s.port)
    assert c.cmd("QUIT").startswith("+OK")
    c.close()
    s.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: "configuration reloaded" in s.logtext(), 5)
    log = s.logtext()
    assert log.count("NOTIFY_SOCKET") + log.count("cannot notify the service manager") == 1, log
