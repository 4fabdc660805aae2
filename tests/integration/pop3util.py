"""Helpers for the core-daemon integration tests: a raw POP3 client that
shows every byte, reference encodings of a stored message as RFC 1939 puts
it on the wire, and /proc inspection of the session processes."""
import hashlib
import os
import pwd
import socket
import subprocess
import time

from conftest import PASSWORD


class Closed(Exception):
    """The server closed the connection."""


class Pop3:
    """A POP3 connection driven line by line, with nothing hidden: no dot
    unstuffing, no CRLF translation unless asked."""

    def __init__(self, port, host="127.0.0.1", timeout=15, greeting=True):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.greeting = self.line() if greeting else None

    # -- low level --
    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self, want=65536):
        d = self.sock.recv(max(want, 65536))
        if not d:
            raise Closed(self.buf)
        self.buf += d

    def line(self):
        """One reply line as str, CRLF removed (it must be CRLF)."""
        while b"\r\n" not in self.buf:
            self._fill()
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln.decode("latin-1")

    def raw_until(self, terminator=b"\r\n.\r\n", start_ok=b".\r\n"):
        """Raw bytes of a multi-line body up to its terminating dot line,
        which is consumed and not returned.  The body is the wire form:
        dot-stuffed, CRLF line ends.  An empty body is just '.\\r\\n'."""
        # An empty body: the terminator comes straight away.
        while len(self.buf) < len(start_ok):
            self._fill()
        if self.buf.startswith(start_ok):
            self.buf = self.buf[len(start_ok):]
            return b""
        data = bytearray(self.buf)
        self.buf = b""
        search_from = 0
        while True:
            i = data.find(terminator, search_from)
            if i >= 0:
                self.buf = bytes(data[i + len(terminator):])
                return bytes(data[:i + 2])
            search_from = max(0, len(data) - len(terminator))
            d = self.sock.recv(1 << 20)
            if not d:
                raise Closed(bytes(data))
            data += d

    def is_closed(self, timeout=5.0):
        """True when the server closes the connection within timeout with
        nothing more to say (extra bytes fail)."""
        self.sock.settimeout(timeout)
        try:
            d = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True
        assert not d or d == b"", f"unexpected bytes: {d[:200]!r}"
        return not d

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    # -- commands --
    def cmd(self, text):
        self.send(text + "\r\n" if isinstance(text, str) else text + b"\r\n")
        return self.line()

    def multi(self, text):
        """Send a command with a multi-line answer: (status, [lines]) with
        lines decoded, dot-unstuffed."""
        st = self.cmd(text)
        if not st.startswith("+OK"):
            return st, None
        return st, [l[1:] if l.startswith(".") else l
                    for l in self.raw_until().decode("latin-1").split("\r\n")[:-1]]

    def retr_raw(self, text):
        """RETR n / TOP n m: (status line, raw wire body)."""
        st = self.cmd(text)
        if not st.startswith("+OK"):
            return st, None
        return st, self.raw_until()

    def login(self, user="ptalice", password=PASSWORD):
        r = self.cmd(f"USER {user}")
        assert r.startswith("+OK"), r
        r = self.cmd(f"PASS {password}")
        return r

    def quit(self):
        r = self.cmd("QUIT")
        return r


def logged_in(port, user="ptalice"):
    c = Pop3(port)
    assert c.greeting.startswith("+OK"), c.greeting
    r = c.login(user)
    assert r.startswith("+OK maildrop has"), r
    return c


# ---- reference wire forms ----

def _lines(data):
    """Split stored bytes into (content, had_lf) lines."""
    out = []
    parts = data.split(b"\n")
    for p in parts[:-1]:
        out.append((p, True))
    if parts[-1]:
        out.append((parts[-1], False))
    return out


def _wire_lines(data):
    """Each stored line in wire form, dot-stuffed, with its line end."""
    for content, had_lf in _lines(data):
        stuffed = b"." + content if content.startswith(b".") else content
        if had_lf and content.endswith(b"\r"):
            end = b"\n"           # CRLF already there: kept, not doubled
        else:
            end = b"\r\n"         # LF -> CRLF; a last line without LF gets one
        yield content, stuffed + end


def wire_body(data, top=None):
    """What RETR (top=None) or TOP n sends for stored bytes `data`, before
    the terminating '.\\r\\n': LF -> CRLF (a CR already before the LF is
    kept, not doubled), lines starting with '.' get another '.', and a
    final CRLF when the message does not end in a line end.  TOP sends the
    header, the empty line, then n body lines."""
    out = []
    in_body = False
    left = top
    for content, wire in _wire_lines(data):
        if in_body and top is not None:
            if left == 0:
                break
            left -= 1
        out.append(wire)
        if not in_body and content in (b"", b"\r"):
            in_body = True
    return b"".join(out)


def wire_size(data):
    """The size LIST/STAT report: octets as sent, before dot-stuffing."""
    return sum(len(w) - (1 if c.startswith(b".") else 0) for c, w in _wire_lines(data))


def unstuff(raw):
    """Undo dot-stuffing of a wire body (CRLF line ends stay)."""
    lines = raw.split(b"\r\n")
    assert lines[-1] == b"", "a wire body ends in CRLF"
    return b"".join((l[1:] if l.startswith(b".") else l) + b"\r\n" for l in lines[:-1])


def uidl_of(name):
    """The UIDL postern gives a Maildir file name (DESIGN.md)."""
    if isinstance(name, str):
        name = name.encode("utf-8", "surrogateescape")
    uniq = name
    for sep in (b",", b":"):
        uniq = uniq.split(sep, 1)[0]
    if 1 <= len(uniq) <= 70 and all(0x21 <= b <= 0x7E for b in uniq):
        return uniq.decode()
    return hashlib.sha256(uniq).hexdigest()[:40]


# ---- processes ----

def status(pid):
    """/proc/PID/status as a dict of str -> str.  A process gone (even
    between open and read, which gives ESRCH) is FileNotFoundError."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for ln in f:
                k, _, v = ln.partition(":")
                out[k] = v.strip()
    except ProcessLookupError as e:
        raise FileNotFoundError(str(e)) from e
    return out


def uid_of(pid):
    return int(status(pid)["Uid"].split()[0])


def uids_of(pid):
    return [int(x) for x in status(pid)["Uid"].split()]


def gids_of(pid):
    return [int(x) for x in status(pid)["Gid"].split()]


def wait_until(pred, timeout=5.0, step=0.02):
    end = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > end:
            return v
        time.sleep(step)


def procs_by_uid(server, uid, timeout=5.0):
    """Live descendants of the server running as uid (waits for one)."""
    def find():
        res = []
        for p in server.children():
            try:
                st = status(p)
            except FileNotFoundError:
                continue
            if st.get("State", "").startswith("Z"):
                continue
            if int(st["Uid"].split()[0]) == uid:
                res.append(p)
        return res
    return wait_until(find, timeout)


def user_uid(name):
    return pwd.getpwnam(name).pw_uid


def zombies(pids):
    res = []
    for p in pids:
        try:
            if status(p).get("State", "").startswith("Z"):
                res.append(p)
        except FileNotFoundError:
            pass
    return res


def defunct_lines():
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,stat=,comm="], capture_output=True,
                         text=True).stdout
    return [l for l in out.splitlines() if "postern" in l and " Z" in l]


def memory_regions(pid):
    """The readable memory of pid (as root), one bytes object per mapping;
    the kernel's [vvar]/[vsyscall] pages and unreadable ranges are left out."""
    with open(f"/proc/{pid}/mem", "rb") as mem:
        for line in open(f"/proc/{pid}/maps"):
            f = line.split()
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            if "r" not in f[1] or (len(f) > 5 and f[5].startswith("[v")):
                continue
            try:
                mem.seek(lo)
                yield mem.read(hi - lo)
            except OSError:
                continue


def slow_retr(conn, msgno=1, chunk=32768, pause=0.05):
    """RETR msgno read at about chunk/pause bytes a second, the way a
    client on a slow line takes it in; returns the wire body.  conn is a
    Pop3 (plain) or a tlsutil.Pop (TLS): both have sock, buf and send."""
    conn.send(f"RETR {msgno}\r\n".encode())
    data = conn.buf
    conn.buf = b""
    while b"\r\n.\r\n" not in data[-8:] and not data.endswith(b"\r\n.\r\n"):
        d = conn.sock.recv(chunk)
        if not d:
            raise Closed(data)
        data += d
        time.sleep(pause)
    end = data.index(b"\r\n.\r\n") + 5 if b"\r\n.\r\n" in data else len(data)
    conn.buf = data[end:]
    return data[:end]
