"""The size cache on shared storage (issue 16, point 3): host B must not list
a message that host A deleted and committed just before.

postern-sizes stands in for listing cur/ when cur/'s mtime equals the one
it recorded, so a host that takes the lock must see cur/'s current mtime
and the current postern-sizes.  Both hosts serve one Maildir on one
replica-3 GlusterFS volume, each through its own FUSE mount, configured as
README "Scaling out" says (cluster.COHERENT and cluster.MOUNT_OPTIONS: no
client caching).  With GlusterFS's default client caches instead, B lists
the deleted message when it logs in within a second of A's QUIT, which
this test does.  The clients talk to each host directly."""
import os
import poplib
import pwd
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import cluster  # noqa: E402
from cluster import Gluster, Node  # noqa: E402

USER = "cs01"
PASSWORD = "stale pass"


@pytest.fixture
def two_hosts():
    tmp = tempfile.mkdtemp(prefix="postern-stale-")
    os.chmod(tmp, 0o755)
    g = Gluster(tmp, f"posterns{os.getpid()}")
    nodes = []
    try:
        assert os.path.exists(cluster.POSTERN), "run make first"
        try:
            vm = pwd.getpwnam("ptvmail")
        except KeyError:
            subprocess.run(["useradd", "--no-create-home", "--home-dir", "/nonexistent",
                            "--shell", "/usr/sbin/nologin", "ptvmail"], check=True)
            vm = pwd.getpwnam("ptvmail")
        g.start(cluster.COHERENT)
        ma, mb = os.path.join(tmp, "mnt", "a"), os.path.join(tmp, "mnt", "b")
        g.mount(ma)
        g.mount(mb)
        md = os.path.join(ma, "home", USER, "Maildir")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(md, sub))
        for d, _, _ in os.walk(os.path.join(ma, "home", USER)):
            os.chown(d, vm.pw_uid, vm.pw_gid)
        os.chmod(os.path.join(ma, "home"), 0o755)
        for i in range(3):
            p = os.path.join(md, "cur", f"17000000{i:02d}.M{i}P1.host:2,")
            with open(p, "w") as f:
                f.write(f"Subject: message {i}\n\nbody {i}\n")
            os.chown(p, vm.pw_uid, vm.pw_gid)
        old = time.time() - 100          # cur/ unchanged for a while
        os.utime(os.path.join(md, "cur"), (old, old))
        h = subprocess.run([cluster.PASSWD_TOOL, "hash", "--stdin"], input=PASSWORD + "\n",
                           capture_output=True, text=True, check=True).stdout.strip()
        line = [f"{USER}:{h}:{vm.pw_uid}:{vm.pw_gid}::@MNT@/home/{USER}::"]
        port = cluster.free_port()
        nodes = [Node(tmp, 1, "127.0.0.2", port, ma, line, ""),
                 Node(tmp, 2, "127.0.0.3", port, mb, line, "")]
        for n in nodes:
            n.start()
        yield nodes, md
    finally:
        for n in nodes:
            n.stop()
        g.stop()
        subprocess.run(["rm", "-rf", tmp])


def session(node, dele=(), retr=()):
    p = poplib.POP3(node.addr, node.port, timeout=30)
    p.user(USER)
    p.pass_(PASSWORD)
    uidls = [ln.decode().split()[1] for ln in p.uidl()[1]]
    got = {}
    for n in retr:
        got[uidls[n - 1]] = b"\n".join(p.retr(n)[1])
    for n in dele:
        p.dele(n)
    assert p.quit().startswith(b"+OK")
    return uidls, got


def test_deletion_on_one_host_is_seen_by_the_other(two_hosts):
    (a, b), md = two_hosts
    first, _ = session(b)                 # B lists cur/ and records its mtime
    again, _ = session(b)                 # B may now trust the record
    assert again == first and len(first) == 3
    gone = first[0]
    after_a, _ = session(a, dele=[1], retr=[2])   # A deletes one, flags one
    assert after_a == first
    assert not any(n.startswith(gone) for n in os.listdir(os.path.join(md, "cur")))
    listed, got = session(b, retr=[1, 2])
    assert gone not in listed, "host B listed a message host A had deleted"
    assert listed == first[1:]
    assert set(got) == set(first[1:])     # both still readable, the flagged one too
    # And A, which deleted it, agrees.
    assert session(a)[0] == first[1:]
