"""The machinery of the cluster test (tests/cluster/test_cluster.py): a
private GlusterFS (glusterd, one replica-3 volume, FUSE mounts), postern
masters on 127.0.0.2-4 each serving the volume through its own mount, and
Debian's haproxy in front of them on 127.0.0.1.  Everything is started by
the test and stopped by pid; nothing here runs apt-get (the packages come
from contrib/install-deps.sh test).

GlusterFS refuses bricks on 127.0.0.1 or localhost, so glusterd listens on
127.0.0.5 alone and the three bricks are 127.0.0.5:<dir> (force: all on one
host).  glusterd keeps its state in a working directory of the test; its
brick and self-heal processes put their pid files and sockets under
/var/run/gluster, named after the volume, which carries the test's pid."""
import glob
import os
import signal
import socket
import subprocess
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# POSTERN_BIN: another build of the daemon, as in tests/integration.
POSTERN = os.environ.get("POSTERN_BIN", os.path.join(TOP, "postern"))
DELIVER = os.path.join(TOP, "postern-deliver")
PASSWD_TOOL = os.path.join(TOP, "postern-passwd")
GLUSTERD = "/usr/sbin/glusterd"
GLUSTERFS = "/usr/sbin/glusterfs"
GLUSTER = "/usr/sbin/gluster"
HAPROXY = "/usr/sbin/haproxy"
GLUSTER_HOST = "127.0.0.5"
GLUSTER_PORT = 24007
RUNDIR = "/var/run/gluster"
# What README "Scaling out" asks of GlusterFS: no client-side caching of
# names, attributes, directory listings or small files, so that a host that
# takes a mailbox's lock sees what the previous holder on another host
# did.  With the defaults (and even with cache invalidation, which is
# asynchronous) a host may for a moment list messages another host's QUIT
# has deleted, or find a message under its old and its new name after a
# move and give it a second UIDL (tests/cluster/test_stale_index.py and
# the cluster test fail so).
COHERENT = {"performance.stat-prefetch": "off", "performance.quick-read": "off",
            "performance.io-cache": "off", "performance.readdir-ahead": "off",
            "performance.open-behind": "off", "performance.read-ahead": "off"}
MOUNT_OPTIONS = ("--attribute-timeout=0", "--entry-timeout=0", "--negative-timeout=0")


def wait_port(host, port, timeout, proc=None, what="server"):
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode}")
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what}: nothing listening on {host}:{port} after {timeout}s")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def port_in_use(host, port):
    """Someone listens there (connections of an earlier run in TIME_WAIT
    do not count: glusterd binds with SO_REUSEADDR too)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def tail(path, n=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError as e:
        return f"({path}: {e})"


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def kill_pid(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def parent_map():
    """{pid: parent pid} of every live process, from /proc."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if fields[0] != "Z":
            out[int(d)] = int(fields[1])
    return out


def tree(root):
    """root and every live descendant of it."""
    children = {}
    for pid, ppid in parent_map().items():
        children.setdefault(ppid, []).append(pid)
    out, todo = set(), [root]
    while todo:
        p = todo.pop()
        if p not in out:
            out.add(p)
            todo.extend(children.get(p, []))
    return out


def mounted(path):
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == path for line in f)


class Gluster:
    """glusterd with a private working directory, one volume of three
    bricks (replica 3), and FUSE mounts of it."""

    def __init__(self, tmp, name):
        self.tmp = os.path.join(tmp, "gluster")
        self.vol = name
        self.wd = os.path.join(self.tmp, "wd")
        self.logs = os.path.join(self.tmp, "logs")
        self.bricks = [os.path.join(self.tmp, "bricks", f"b{i}") for i in (1, 2, 3)]
        self.proc = None
        self.mounts = {}           # mount point -> pid of its glusterfs client
        self.rundir_before = set(os.listdir(RUNDIR)) if os.path.isdir(RUNDIR) else set()
        self.replica = None

    def cli(self, *args, timeout=60, check=True):
        r = subprocess.run([GLUSTER, "--mode=script", *args], capture_output=True,
                           text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"gluster {' '.join(args)}: {r.stdout}{r.stderr}\n"
                               f"glusterd log:\n{tail(os.path.join(self.logs, 'glusterd.log'))}")
        return r

    def start(self, options=None):
        """glusterd, then the volume, with options {KEY: VALUE} (gluster
        volume set) before it starts."""
        for p in (GLUSTERD, GLUSTERFS, GLUSTER):
            if not os.access(p, os.X_OK):
                raise RuntimeError(f"{p} missing: run contrib/install-deps.sh test "
                                   "(glusterfs-server, glusterfs-client)")
        if not os.path.exists("/dev/fuse"):
            raise RuntimeError("/dev/fuse missing: the cluster test needs FUSE")
        if port_in_use(GLUSTER_HOST, GLUSTER_PORT):
            raise RuntimeError(f"port {GLUSTER_PORT} is taken (another glusterd?): "
                               "the cluster test runs a private one")
        for d in [self.wd, self.logs] + self.bricks:
            os.makedirs(d)
        os.makedirs(RUNDIR, exist_ok=True)
        vol = os.path.join(self.tmp, "glusterd.vol")
        with open(vol, "w") as f:
            f.write("volume management\n"
                    "    type mgmt/glusterd\n"
                    f"    option working-directory {self.wd}\n"
                    "    option transport-type socket\n"
                    f"    option transport.socket.listen-port {GLUSTER_PORT}\n"
                    f"    option transport.socket.bind-address {GLUSTER_HOST}\n"
                    "    option ping-timeout 0\n"
                    "    option event-threads 1\n"
                    "end-volume\n")
        self.proc = subprocess.Popen([GLUSTERD, "--no-daemon", "-f", vol,
                                      "-p", os.path.join(self.tmp, "glusterd.pid"),
                                      "-l", os.path.join(self.logs, "glusterd.log")],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_port(GLUSTER_HOST, GLUSTER_PORT, 30, self.proc, "glusterd")
        except RuntimeError as e:
            raise RuntimeError(f"{e}\n{tail(os.path.join(self.logs, 'glusterd.log'))}")
        # glusterd answers on its port before the CLI socket is ready.
        end = time.time() + 30
        while self.cli("volume", "list", check=False).returncode != 0:
            if time.time() > end:
                self.cli("volume", "list")
            time.sleep(0.2)
        bricks = [f"{GLUSTER_HOST}:{b}" for b in self.bricks]
        r = self.cli("volume", "create", self.vol, "replica", "3", *bricks, "force", check=False)
        if r.returncode == 0:
            self.replica = 3
        else:
            # Not expected on Debian 12; a plain volume still shares the tree.
            self.cli("volume", "create", self.vol, bricks[0], "force")
            self.replica = 1
        for k, v in (options or {}).items():
            self.cli("volume", "set", self.vol, k, v)
        self.cli("volume", "start", self.vol)

    def mount(self, mnt, *options):
        """Mount the volume at mnt; options go to glusterfs (for example
        --attribute-timeout=30)."""
        os.makedirs(mnt, exist_ok=True)
        name = os.path.basename(mnt)
        pidf = os.path.join(self.tmp, f"mount-{name}.pid")
        r = subprocess.run([GLUSTERFS, f"--volfile-server={GLUSTER_HOST}",
                            f"--volfile-id={self.vol}", *MOUNT_OPTIONS, *options, "-l",
                            os.path.join(self.logs, f"mount-{name}.log"), "-p", pidf, mnt],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0 or not mounted(mnt):
            raise RuntimeError(f"glusterfs mount of {mnt} failed: {r.stdout}{r.stderr}\n"
                               f"{tail(os.path.join(self.logs, f'mount-{name}.log'))}")
        with open(pidf) as f:
            self.mounts[mnt] = int(f.read().strip())
        return self.mounts[mnt]

    def kill_mount(self, mnt):
        """The mount's client process dies as with its host: SIGKILL, then
        the dead mount point is detached."""
        pid = self.mounts.pop(mnt, None)
        if pid and "glusterfs" in cmdline(pid):
            kill_pid(pid)
        subprocess.run(["umount", "-l", mnt], capture_output=True)

    def volume_pids(self):
        """Brick and self-heal processes of this volume, from their pid
        files, checked against their command lines."""
        out = []
        for pf in glob.glob(f"{RUNDIR}/vols/{self.vol}/*.pid") + \
                glob.glob(f"{RUNDIR}/shd/{self.vol}/*.pid"):
            try:
                pid = int(open(pf).read().strip())
            except (OSError, ValueError):
                continue
            if self.vol in cmdline(pid):
                out.append(pid)
        return out

    def stop(self):
        for mnt in list(self.mounts):
            pid = self.mounts.pop(mnt)
            subprocess.run(["umount", "-l", mnt], capture_output=True)
            if "glusterfs" in cmdline(pid):
                kill_pid(pid, signal.SIGTERM)
        if self.proc is not None and self.proc.poll() is None:
            pids = self.volume_pids()
            self.cli("volume", "stop", self.vol, "force", timeout=30, check=False)
            for pid in pids + self.volume_pids():
                kill_pid(pid)
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in self.volume_pids():
            kill_pid(pid)
        for d in (f"{RUNDIR}/vols/{self.vol}", f"{RUNDIR}/shd/{self.vol}"):
            subprocess.run(["rm", "-rf", d])
        if os.path.isdir(RUNDIR):
            for n in set(os.listdir(RUNDIR)) - self.rundir_before:
                if n.endswith(".socket"):
                    try:
                        os.unlink(os.path.join(RUNDIR, n))
                    except OSError:
                        pass
        # The bricks' own logs go to /var/log/glusterfs/bricks/, named
        # after the brick path (slashes as dashes).
        for b in self.bricks:
            for lf in glob.glob("/var/log/glusterfs/bricks/" + b.strip("/").replace("/", "-")
                                + ".log*"):
                os.unlink(lf)


class Node:
    """A postern master on its own loopback address, serving the Maildir
    tree through its own mount."""

    def __init__(self, tmp, idx, addr, port, mnt, passwd_lines, proxy_conf):
        self.idx, self.addr, self.port, self.mnt = idx, addr, port, mnt
        d = os.path.join(tmp, f"node{idx}")
        os.makedirs(d)
        os.chmod(d, 0o755)
        self.conf = os.path.join(d, "postern.conf")
        self.passwd = os.path.join(d, "passwd")
        self.log = os.path.join(d, "postern.log")
        with open(self.passwd, "w") as f:
            f.write("".join(line.replace("@MNT@", mnt) + "\n" for line in passwd_lines))
        os.chmod(self.passwd, 0o640)
        listen = f"{addr}:{port}" + (" proxy=yes" if proxy_conf else "")
        with open(self.conf, "w") as f:
            f.write(f"listen = {listen}\n"
                    f"passwd_file = {self.passwd}\n"
                    "first_valid_uid = 1000\n"
                    "login_fail_delay = 0\n"
                    "max_conn_rate_per_source = 0\n"
                    "max_sessions_per_source = 0\n"
                    "timeout = 30s\n" + proxy_conf)
        self.proc = None

    def start(self):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([POSTERN, "-f", self.conf, "-d"], stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=self.logf, start_new_session=True)
        try:
            wait_port(self.addr, self.port, 30, self.proc, f"postern node{self.idx}")
        except RuntimeError as e:
            raise RuntimeError(f"{e}\n{tail(self.log)}")

    def kill(self):
        """SIGKILL to the master and every process it forked, at once, as
        if the host died.  Sessions have process groups of their own, so
        the tree is found from /proc: stopped first (nothing forks any
        more, nothing is reparented), then killed together."""
        if self.proc is None or self.proc.poll() is not None:
            return 0
        pids = {self.proc.pid}
        for _ in range(100):
            for pid in pids:
                kill_pid(pid, signal.SIGSTOP)
            now = tree(self.proc.pid)
            if now <= pids:
                break
            pids |= now
        for pid in pids:
            kill_pid(pid)
        self.proc.wait()
        end = time.time() + 10
        while time.time() < end and set(parent_map()) & (pids - {self.proc.pid}):
            time.sleep(0.05)
        return len(pids)

    def stop(self):
        """The end of the test: the whole tree, as kill() (a SIGTERM would
        leave sessions in progress running on their own)."""
        self.kill()
        if self.proc is not None and not self.logf.closed:
            self.logf.close()

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()


class HAProxy:
    """Debian's haproxy in the foreground, TCP mode, leastconn over the
    nodes, a POP3 health check; PROXY v2 to the nodes when asked."""

    def __init__(self, tmp, port, nodes, source, proxy):
        self.cfg = os.path.join(tmp, "haproxy.cfg")
        self.log = os.path.join(tmp, "haproxy.log")
        self.port = port
        pv2 = " send-proxy-v2" if proxy else ""
        servers = "".join(f"\tserver node{n.idx} {n.addr}:{n.port}\n" for n in nodes)
        with open(self.cfg, "w") as f:
            f.write("global\n\tmaxconn 1000\n"
                    "defaults\n\tmode tcp\n\toption redispatch\n\tretries 3\n"
                    "\ttimeout connect 2s\n\ttimeout client 60s\n\ttimeout server 60s\n"
                    "\ttimeout check 2s\n"
                    f"frontend pop3\n\tbind 127.0.0.1:{port}\n\tdefault_backend nodes\n"
                    "backend nodes\n\tbalance leastconn\n"
                    f"\tsource {source}\n"
                    "\toption tcp-check\n"
                    "\ttcp-check expect min-recv 3 string +OK\n"
                    "\ttcp-check send QUIT\\r\\n\n"
                    "\ttcp-check expect min-recv 3 string +OK\n"
                    f"\tdefault-server{pv2} check inter 500ms fall 2 rise 2"
                    " on-marked-down shutdown-sessions\n" + servers)
        self.proc = None

    def start(self):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", self.cfg], stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=self.logf)
        try:
            wait_port("127.0.0.1", self.port, 30, self.proc, "haproxy")
        except RuntimeError as e:
            raise RuntimeError(f"{e}\n{tail(self.log)}")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            self.logf.close()
