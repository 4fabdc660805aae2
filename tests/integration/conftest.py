"""Shared fixtures for postern's integration tests.

They start the real daemon as root on loopback, with real Unix users made for
the test, real Maildirs and real clients.  Run from the repository root after
`make`:  /usr/bin/python3 -m pytest tests/integration
"""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

# Assertions in the shared client runners report their operands too.
pytest.register_assert_rewrite("realclients")

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# The daemon under test: ./postern, or another build (the sanitizer build of
# `make asan` sets POSTERN_BIN=build-asan/postern).
POSTERN = os.environ.get("POSTERN_BIN", os.path.join(TOP, "postern"))
# Extra configuration lines appended to every generated config, separated
# by ';' or newlines.  The ASan build needs "preauth_memory = 0; seccomp = no":
# ASan reserves terabytes of address space (no RLIMIT_AS fits) and makes
# system calls the pre-auth seccomp allowlist refuses.
TEST_CONF = "".join(l.strip() + "\n" for l in
                    os.environ.get("POSTERN_TEST_CONF", "").replace(";", "\n").splitlines()
                    if l.strip())
# When set, each server's log is copied there before its directory is
# removed (make asan scans them for sanitizer reports).
LOG_DIR = os.environ.get("POSTERN_LOG_DIR")
PASSWD_TOOL = os.path.join(TOP, "postern-passwd")
TEST_USERS = ["ptalice", "ptbob", "ptcarol"]
PASSWORD = "s3cret pass"          # has a space on purpose (PASS takes the rest)


def free_port(*avoid):
    """A loopback port that is free now and is none of `avoid`: two calls in
    a row can be handed the same port by the kernel, and a server told to
    listen twice on one port fails with "Address already in use"."""
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in avoid:
            return port


def wait_port(host, port, timeout=30.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {host}:{port}")


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


@pytest.fixture(scope="session", autouse=True)
def system_setup():
    assert os.geteuid() == 0, "integration tests start postern as root"
    assert os.path.exists(POSTERN), "run make first"
    try:
        pwd.getpwnam("postern")
    except KeyError:
        run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
             "--shell", "/usr/sbin/nologin", "postern"])
    for u in TEST_USERS:
        try:
            pwd.getpwnam(u)
        except KeyError:
            run(["useradd", "--no-create-home", "--home-dir", "/nonexistent",
                 "--shell", "/usr/sbin/nologin", u])
    yield


def hash_password(password, scheme="sha512-crypt"):
    r = subprocess.run([PASSWD_TOOL, "hash", "-s", scheme, "--stdin"], input=password + "\n",
                       capture_output=True, text=True, check=True)
    return r.stdout.strip()


class Maildir:
    """A user's Maildir, owned by that user."""
    _seq = 0

    def __init__(self, path, uid, gid):
        self.path, self.uid, self.gid = path, uid, gid
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(path, sub), exist_ok=True)
            os.chown(os.path.join(path, sub), uid, gid)
        os.chown(path, uid, gid)
        os.chmod(path, 0o700)

    def add(self, data: bytes, where="new", name=None, when=None):
        """Deliver data; returns the file name.  Names are in delivery
        order: time, then a sequence number."""
        Maildir._seq += 1
        if name is None:
            t = when if when is not None else 1700000000 + Maildir._seq
            name = f"{t}.M{Maildir._seq}P{os.getpid()}.testhost"
            if where == "cur":
                name += ":2,"
        p = os.path.join(self.path, where, name)
        with open(p, "wb") as f:
            f.write(data)
        os.chown(p, self.uid, self.gid)
        return name

    def files(self):
        out = []
        for sub in ("new", "cur"):
            for n in sorted(os.listdir(os.path.join(self.path, sub))):
                out.append(os.path.join(sub, n))
        return out

    def contents(self):
        """Message bodies currently in the Maildir, as a sorted list."""
        res = []
        for rel in self.files():
            with open(os.path.join(self.path, rel), "rb") as f:
                res.append(f.read())
        return sorted(res)


class Server:
    """A postern instance with its own config, passwd file and users."""

    def __init__(self, tmp, extra_conf="", users=TEST_USERS, scheme="sha512-crypt",
                 tls=None):
        self.tmp = tmp
        self.port = free_port()
        self.tls_port = free_port(self.port) if tls else None
        self.conf = os.path.join(tmp, "postern.conf")
        self.passwd = os.path.join(tmp, "passwd")
        self.log = os.path.join(tmp, "postern.log")
        self.home = os.path.join(tmp, "home")
        self.proc = None
        self.inetd_sock = None
        self.maildirs = {}
        os.makedirs(self.home, exist_ok=True)
        os.chmod(tmp, 0o755)
        os.chmod(self.home, 0o755)
        lines = []
        h = hash_password(PASSWORD, scheme)
        for u in users:
            pw = pwd.getpwnam(u)
            home = os.path.join(self.home, u)
            os.makedirs(home, exist_ok=True)
            os.chown(home, pw.pw_uid, pw.pw_gid)
            self.maildirs[u] = Maildir(os.path.join(home, "Maildir"), pw.pw_uid, pw.pw_gid)
            lines.append(f"{u}:{h}:{pw.pw_uid}:{pw.pw_gid}::{home}::")
        with open(self.passwd, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(self.passwd, 0o640)
        conf = [f"listen = 127.0.0.1:{self.port}",
                f"passwd_file = {self.passwd}",
                "first_valid_uid = 1000",
                "login_fail_delay = 0",
                "max_conn_rate_per_source = 0",
                "max_sessions_per_source = 0"]
        if tls:
            conf += [f"listen_tls = 127.0.0.1:{self.tls_port}"]
            for cert, key in tls:
                conf += [f"ssl_cert = {cert}", f"ssl_key = {key}"]
        self.write_conf("\n".join(conf) + "\n" + extra_conf)

    def write_conf(self, text):
        # A text read back from self.conf ends with TEST_CONF already; its
        # lines written twice would be repeated keys, which `postern -t`
        # warns about on stderr.
        if TEST_CONF and text.endswith(TEST_CONF):
            text = text[:-len(TEST_CONF)]
        if TEST_CONF and text and not text.endswith("\n"):
            text += "\n"
        with open(self.conf, "w") as f:
            f.write(text + TEST_CONF)

    def add_user_line(self, line):
        with open(self.passwd, "a") as f:
            f.write(line + "\n")

    def start(self):
        self.logf = open(self.log, "ab")
        for attempt in range(3):
            log_start = os.path.getsize(self.log)
            self.proc = subprocess.Popen([POSTERN, "-f", self.conf, "-d"], stdout=self.logf,
                                         stderr=self.logf)
            end = time.time() + 30
            while time.time() < end and self.proc.poll() is None:
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        pass
                except OSError:
                    time.sleep(0.05)
                    continue
                # That probe was a session too: let its processes end, so a
                # test that looks for "the" pre-auth process finds only its own.
                end = time.time() + 10
                while self.children() and time.time() < end:
                    time.sleep(0.01)
                return self
            # free_port() only found the port free a moment ago; an outgoing
            # connection of another test can take it before postern binds it.
            # Then (and only then) try again with fresh ports.
            if self.proc.poll() is None or b"Address already in use" not in self.logbytes(log_start):
                break
            self._new_ports()
        # Say why: the fixture removes the log with the directory.
        rc = self.proc.poll()
        tail = "\n".join(self.logtext().splitlines()[-15:])
        raise RuntimeError(f"postern did not start listening on 127.0.0.1:{self.port} "
                           f"(tls port {self.tls_port}, "
                           f"{'still running' if rc is None else f'exit status {rc}'}); "
                           f"log:\n{tail}")

    def _new_ports(self):
        with open(self.conf) as f:
            text = f.read()
        old = {self.port: free_port(self.port, self.tls_port)}
        if self.tls_port:
            old[self.tls_port] = free_port(self.port, self.tls_port, old[self.port])
        for was, now in old.items():
            text = text.replace(f"127.0.0.1:{was}\n", f"127.0.0.1:{now}\n")
        with open(self.conf, "w") as f:
            f.write(text)
        self.port = old[self.port]
        if self.tls_port:
            self.tls_port = old[self.tls_port]

    def start_inetd(self, implicit_tls=False, nonblocking=False):
        """A minimal inetd: one `postern -i` per connection on this port
        (nonblocking: hand the socket over with O_NONBLOCK set)."""
        import threading
        self.logf = open(self.log, "ab")
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.tls_port if implicit_tls else self.port))
        ls.listen(64)
        self.inetd_sock = ls
        self._inetd_children = []
        self._inetd_lock = threading.Lock()
        args = [POSTERN, "-f", self.conf, "-d", "-i"] + (["-S"] if implicit_tls else [])

        def loop():
            while True:
                try:
                    c, _ = ls.accept()
                except OSError:
                    return
                if self.inetd_sock is None:      # stopped: not ours any more
                    c.close()
                    return
                if nonblocking:
                    c.setblocking(False)
                # Held from before the child exists until it is listed: a
                # client that got as far as a greeting finds it listed.
                with self._inetd_lock:
                    try:
                        p = subprocess.Popen(args, stdin=c.fileno(), stdout=c.fileno(),
                                             stderr=self.logf)
                        self._inetd_children.append(p)
                    except Exception as e:  # noqa: BLE001 -- logged, never silent
                        # Like a real inetd: say why in the log, keep serving.
                        self.logf.write(f"mini-inetd: cannot start postern: {e}\n".encode())
                        self.logf.flush()
                c.close()
        threading.Thread(target=loop, daemon=True).start()
        return self

    @property
    def inetd_children(self):
        """The `postern -i` processes the mini-inetd started (Popen objects)."""
        lock = getattr(self, "_inetd_lock", None)
        if lock is None:
            return []
        with lock:
            return list(self._inetd_children)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.inetd_sock:
            # close() alone does not wake a thread blocked in accept(): the
            # listener would live on and start sessions for a dead setup.
            ls, self.inetd_sock = self.inetd_sock, None
            try:
                ls.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            ls.close()
            for p in self.inetd_children:
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()

    def logtext(self):
        return self.logbytes().decode(errors="replace")

    def logbytes(self, start=0):
        with open(self.log, "rb") as f:
            f.seek(start)
            return f.read()

    def children(self):
        """PIDs of all live descendants of the master (standalone), or in
        inetd mode the running `postern -i` processes and their
        descendants (there is no master then)."""
        roots = [self.proc.pid] if self.proc else []
        inetd = [p.pid for p in self.inetd_children if p.poll() is None]
        if not roots and not inetd:
            return []
        out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True,
                             text=True).stdout
        kids, tree = list(inetd), {}
        pairs = [tuple(map(int, l.split())) for l in out.strip().splitlines()]
        for pid, ppid in pairs:
            tree.setdefault(ppid, []).append(pid)
        todo = roots + inetd
        while todo:
            p = todo.pop()
            for c in tree.get(p, []):
                if comm(c) == "postern-spare" or (p in roots and not tree.get(c)
                                                  and self._spare_being_born(c)):
                    continue        # an idle spare (spare_sessions) and its pre-auth
                kids.append(c)
                todo.append(c)
        return kids

    @staticmethod
    def _spare_being_born(pid):
        """A child of the master without children of its own may be a spare
        the master has just forked, before it has renamed itself (a window
        of microseconds that load can stretch to milliseconds): look again."""
        try:
            with open(f"/proc/{pid}/status") as f:
                if not any(l.split()[1:2] == ["0"] for l in f if l.startswith("Uid:")):
                    return False    # spares start as root; a mail process is not
        except OSError:
            return False
        for _ in range(5):
            if comm(pid) != "postern":
                return comm(pid) == "postern-spare"
            time.sleep(0.02)
        return False

    def spares(self):
        """PIDs of the master's idle spare connection processes."""
        if not self.proc:
            return []
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)],
                             capture_output=True, text=True).stdout
        return [int(p) for p in out.split() if comm(int(p)) == "postern-spare"]


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "memory_scan: reads a live process's whole memory (left out of the "
        "ASan pass: its allocator reserves terabytes and its quarantine keeps freed memory)")


# Servers of the running test, so a failure report can show their logs.
CURRENT_SERVERS = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and call.when == "call":
        for s in CURRENT_SERVERS:
            try:
                text = s.logtext()
            except OSError:
                continue
            rep.sections.append((f"postern log {s.log}", text[-6000:]))


@pytest.fixture
def server_factory():
    # Not pytest's tmp_path: it is 0700 and the mail users must traverse it.
    servers = []

    def make(**kw):
        d = tempfile.mkdtemp(prefix="postern-it-", dir="/tmp")
        os.chmod(d, 0o755)
        s = Server(d, **kw)
        servers.append(s)
        CURRENT_SERVERS.append(s)
        return s
    CURRENT_SERVERS.clear()
    yield make
    CURRENT_SERVERS.clear()
    for s in servers:
        s.stop()
        if LOG_DIR and os.path.exists(s.log):
            os.makedirs(LOG_DIR, exist_ok=True)
            shutil.copy(s.log, os.path.join(LOG_DIR, os.path.basename(s.tmp) + ".log"))
        shutil.rmtree(s.tmp, ignore_errors=True)


@pytest.fixture
def server(server_factory):
    """A running standalone postern with users ptalice, ptbob, ptcarol."""
    return server_factory().start()


@pytest.fixture(params=["standalone", "inetd"])
def any_server(request, server_factory):
    """The same setup as `server`, started standalone or under the mini
    inetd (`postern -i` per connection); .mode says which."""
    s = server_factory()
    s.mode = request.param
    return s.start() if request.param == "standalone" else s.start_inetd()


@pytest.fixture
def srv(server_factory, test_ca):
    """A running server with certificates for mail.test (the default) and
    other.test, and tlsutil.MESSAGE in ptalice's mailbox: the server of
    test_tls.py and test_tls_clients.py.  (test_cli.py and test_sasl.py
    define a `srv` of their own, which pytest prefers there.)"""
    from tlsutil import MESSAGE, tls_server    # here: tlsutil imports conftest
    s = tls_server(server_factory, test_ca, names=("mail.test", "other.test"))
    s.start()
    s.maildirs["ptalice"].add(MESSAGE)
    return s


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory):
    """A test CA and ECDSA P-256 server certificates for mail.test (default)
    and other.test (for SNI).  Returns dict of paths."""
    d = str(tmp_path_factory.mktemp("ca"))
    os.chmod(d, 0o755)
    def ossl(*a):
        run(["openssl", *a], cwd=d)
    ossl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key")
    ossl("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=postern test CA",
         "-days", "30", "-out", "ca.pem")
    out = {"ca": os.path.join(d, "ca.pem")}
    for name in ("mail.test", "other.test"):
        ossl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key")
        ossl("req", "-new", "-key", f"{name}.key", "-subj", f"/CN={name}", "-out", f"{name}.csr")
        with open(os.path.join(d, f"{name}.ext"), "w") as f:
            f.write(f"subjectAltName=DNS:{name}\n")
        ossl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "30", "-extfile", f"{name}.ext", "-out", f"{name}.pem")
        out[name] = (os.path.join(d, f"{name}.pem"), os.path.join(d, f"{name}.key"))
    return out
