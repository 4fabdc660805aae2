"""The cluster test (issue 16): three postern hosts behind HAProxy, one
shared Maildir tree on real distributed storage (GlusterFS, replica 3,
mounted through FUSE once per host), under load from 50 clients of 20
mailboxes while mail keeps arriving, and one host killed midway.

Afterwards the Maildirs, the clients' records and the nodes' logs must show:
- every delivered message is still in its Maildir, or was deleted by a
  session whose QUIT got +OK (messages of a session whose QUIT got no
  answer because its host died are counted apart: either outcome is right);
- no committed deletion is undone, no message is altered, none is in its
  Maildir twice but as the two names of a link+unlink move seen half done
  (counted in the summary);
- no session listed or was served a message whose deletion another session
  had already committed;
- no mailbox was held by two sessions at once;
- after the kill every mailbox can be opened again (the dead host's locks
  went with it);
- the surviving hosts log the clients' own addresses (each client has its
  own, 127.0.1.N), which reach them in HAProxy's PROXY v2 headers, never
  HAProxy's (127.0.0.9).

Run with `make cluster-test` (as root, after make).  Bounded: about 45 s of
load; all processes and mounts are removed even when it fails."""
import hashlib
import os
import pwd
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import cluster  # noqa: E402
from cluster import Gluster, HAProxy, Node  # noqa: E402

NODES = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
HAPROXY_SOURCE = "127.0.0.9"          # HAProxy's own address towards the nodes
USERS = [f"cu{i:02d}" for i in range(20)]
CLIENTS = 50
LOAD_SECONDS = float(os.environ.get("CLUSTER_LOAD_SECONDS", "45"))
PASSWORD = "cluster pass"
VMAIL = "ptvmail"                     # the Unix owner of every mailbox


def client_addr(i):
    return f"127.0.1.{i + 1}"


def ensure_user(name, system):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        args = ["useradd", "--no-create-home", "--home-dir", "/nonexistent",
                "--shell", "/usr/sbin/nologin", name]
        subprocess.run(args + (["--system"] if system else []), check=True)
        return pwd.getpwnam(name)


def proxy_settings(tmp, port):
    """The settings of a node listener behind HAProxy: PROXY v2 headers,
    from HAProxy's address only.  postern -t must accept them."""
    passwd = os.path.join(tmp, "probe.passwd")
    open(passwd, "w").close()
    os.chmod(passwd, 0o640)
    extra = f"proxy_trusted = {HAPROXY_SOURCE}/32\n"
    conf = os.path.join(tmp, "probe.conf")
    with open(conf, "w") as f:
        f.write(f"listen = 127.0.0.2:{port} proxy=yes\npasswd_file = {passwd}\n" + extra)
    r = subprocess.run([cluster.POSTERN, "-t", "-f", conf], capture_output=True, text=True)
    assert r.returncode == 0, f"postern -t refuses the PROXY settings: {r.stdout}{r.stderr}"
    return extra


# ---- a small POP3 client that records what it sees ----------------------

class Broken(Exception):
    pass


class Pop3:
    def __init__(self, src, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15,
                                             source_address=(src, 0))
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            try:
                d = self.sock.recv(65536)
            except OSError as e:
                raise Broken(str(e))
            if not d:
                raise Broken("connection closed")
            self.buf += d
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def cmd(self, text):
        try:
            self.sock.sendall(text.encode() + b"\r\n")
        except OSError as e:
            raise Broken(str(e))
        return self.line()

    def multi(self):
        out = []
        while True:
            ln = self.line()
            if ln == b".":
                return out
            out.append(ln[1:] if ln.startswith(b".") else ln)

    def close(self):
        self.sock.close()


class Session:
    """What one client saw in one session."""

    def __init__(self, client, user):
        self.client, self.user = client, user
        self.login = None           # ok, inuse, temp, err, broken
        self.t_pass = self.t_ok = self.t_hold_end = self.t_quit_ok = None
        self.listed = []            # UIDLs
        self.retr = []              # (uidl, token, digest)
        self.dele = []              # UIDLs marked
        self.end = None             # quit-ok, quit-err, quit-unknown, dropped, broken


def run_client(i, port, deadline, sessions, lock, uidl_token):
    rnd = random.Random(i)
    user = USERS[i % len(USERS)]
    seen = set()
    while time.time() < deadline:
        s = Session(i, user)
        c = None
        try:
            c = Pop3(client_addr(i), port)
            if not c.line().startswith(b"+OK"):
                raise Broken("greeting")
            c.cmd(f"USER {user}")
            s.t_pass = time.time()
            r = c.cmd(f"PASS {PASSWORD}")
            if r.startswith(b"+OK"):
                s.login, s.t_ok = "ok", time.time()
                s.t_hold_end = s.t_ok
            else:
                s.login = ("inuse" if b"[IN-USE]" in r else
                           "temp" if b"[SYS/TEMP]" in r else "err:" + r.decode(errors="replace"))
                s.end = "refused"
                c.cmd("QUIT")
                raise StopIteration
            if not c.cmd("UIDL").startswith(b"+OK"):
                raise Broken("UIDL")
            lst = [ln.decode().split() for ln in c.multi()]
            s.listed = [u for _, u in lst]
            s.t_hold_end = time.time()
            fresh = [(n, u) for n, u in lst if u not in seen][:8]
            for n, u in fresh:
                if not c.cmd(f"RETR {n}").startswith(b"+OK"):
                    raise Broken("RETR")
                body = b"\n".join(c.multi()) + b"\n"
                s.t_hold_end = time.time()
                m = re.search(rb"^X-Cluster-Token: (\S+)$", body, re.M)
                tok = m.group(1).decode() if m else None
                s.retr.append((u, tok, hashlib.sha256(body).hexdigest()))
                seen.add(u)
                if rnd.random() < 0.5:
                    if not c.cmd(f"DELE {n}").startswith(b"+OK"):
                        raise Broken("DELE")
                    s.t_hold_end = time.time()
                    s.dele.append(u)
            if rnd.random() < 0.15:
                s.end = "dropped"                # no QUIT: nothing is deleted
                c.sock.close()
                s.t_hold_end = time.time()
            else:
                s.t_hold_end = time.time()
                try:
                    r = c.cmd("QUIT")
                except Broken:
                    s.end = "quit-unknown"
                else:
                    if r.startswith(b"+OK"):
                        s.end, s.t_quit_ok = "quit-ok", time.time()
                    else:
                        s.end = "quit-err"
        except StopIteration:
            pass
        except Broken:
            if s.login is None:
                s.login = "broken"
            s.end = s.end or "broken"
        except OSError:
            s.login = s.login or "conn"
            s.end = s.end or "broken"
        finally:
            if c is not None:
                c.close()
        with lock:
            sessions.append(s)
            for u, tok, _ in s.retr:
                uidl_token[(user, u)] = tok
        time.sleep(rnd.uniform(0.1, 0.6))


# ---- delivery -------------------------------------------------------------

def message(user, seq, rnd):
    tok = f"{user}-{seq}"
    lines = [f"From: sender{seq}@example.org", f"To: {user}@example.org",
             f"Subject: cluster message {seq}", f"Message-ID: <{tok}@cluster.test>",
             f"X-Cluster-Token: {tok}", ""]
    for k in range(rnd.randint(1, 40)):
        ln = "".join(rnd.choice("abcdef .") for _ in range(rnd.randint(0, 70)))
        lines.append(ln)
    lines.append(".leading dot line")
    data = ("\n".join(lines) + "\n").encode()
    return tok, data


def deliver(conf, user, data):
    r = subprocess.run([cluster.DELIVER, "-c", conf, "-d", user], input=data,
                       capture_output=True, timeout=30)
    return r.returncode, r.stderr.decode(errors="replace")


def run_delivery(conf, deadline, delivered, failures, seq0=0):
    rnd = random.Random(4242)
    seq = seq0
    while time.time() < deadline:
        user = rnd.choice(USERS)
        seq += 1
        tok, data = message(user, seq, rnd)
        rc, err = deliver(conf, user, data)
        if rc == 0:
            delivered[tok] = (user, hashlib.sha256(data).hexdigest())
        else:
            failures.append((tok, rc, err))
        time.sleep(0.02)


# ---- the test -------------------------------------------------------------

def unique(name):
    return re.split(r"[,:]", name, maxsplit=1)[0]


def base(uidl):
    return re.sub(r"\.dup\d+$", "", uidl)


def maildir_state(root):
    """{user: {token: [file names]}} read through a mount, and
    {(user, name): inode}."""
    out, inodes = {}, {}
    for u in USERS:
        md = os.path.join(root, "home", u, "Maildir")
        toks = out.setdefault(u, {})
        for sub in ("new", "cur"):
            for n in os.listdir(os.path.join(md, sub)):
                with open(os.path.join(md, sub, n), "rb") as f:
                    m = re.search(rb"^X-Cluster-Token: (\S+)$", f.read(), re.M)
                    inodes[(u, n)] = os.fstat(f.fileno()).st_ino
                toks.setdefault(m.group(1).decode() if m else "?" + n, []).append(n)
    return out, inodes


@pytest.fixture
def world():
    tmp = tempfile.mkdtemp(prefix="postern-cluster-")
    os.chmod(tmp, 0o755)
    w = {"tmp": tmp, "nodes": [], "haproxy": None,
         "gluster": Gluster(tmp, f"postern{os.getpid()}")}
    try:
        yield w
    finally:
        if w["haproxy"]:
            w["haproxy"].stop()
        for n in w["nodes"]:
            n.stop()
        w["gluster"].stop()
        keep = os.environ.get("POSTERN_LOG_DIR")   # as in tests/integration
        if keep:
            os.makedirs(keep, exist_ok=True)
            for n in w["nodes"]:
                shutil.copy(n.log, os.path.join(keep, f"cluster-{os.getpid()}-node{n.idx}.log"))
        subprocess.run(["rm", "-rf", tmp])


def test_cluster(world):
    tmp, g = world["tmp"], world["gluster"]
    assert os.path.exists(cluster.POSTERN), "run make first"
    ensure_user("postern", True)
    vm = ensure_user(VMAIL, False)
    g.start(cluster.COHERENT)
    mnts = {k: os.path.join(tmp, "mnt", k) for k in ("node1", "node2", "node3", "mx")}
    for m in mnts.values():
        g.mount(m)

    # The users' homes and Maildirs, made through the delivery host's mount.
    h = subprocess.run([cluster.PASSWD_TOOL, "hash", "--stdin"], input=PASSWORD + "\n",
                       capture_output=True, text=True, check=True).stdout.strip()
    lines = []
    for u in USERS:
        home = os.path.join(mnts["mx"], "home", u)
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(home, "Maildir", sub))
        for dirpath, _, _ in os.walk(home):
            os.chown(dirpath, vm.pw_uid, vm.pw_gid)
        lines.append(f"{u}:{h}:{vm.pw_uid}:{vm.pw_gid}::@MNT@/home/{u}::")
    os.chmod(os.path.join(mnts["mx"], "home"), 0o755)

    port = cluster.free_port()
    proxy_conf = proxy_settings(tmp, port)
    nodes = [Node(tmp, i + 1, a, port, mnts[f"node{i + 1}"], lines, proxy_conf)
             for i, a in enumerate(NODES)]
    world["nodes"] = nodes
    mx_dir = os.path.join(tmp, "mx")
    os.makedirs(mx_dir)
    mx_conf = os.path.join(mx_dir, "postern.conf")
    with open(os.path.join(mx_dir, "passwd"), "w") as f:
        f.write("".join(ln.replace("@MNT@", mnts["mx"]) + "\n" for ln in lines))
    with open(mx_conf, "w") as f:
        f.write(f"passwd_file = {mx_dir}/passwd\nfirst_valid_uid = 1000\n")

    delivered, dfail = {}, []
    rnd = random.Random(7)
    for k, u in enumerate(USERS * 3):     # every mailbox starts with mail
        tok, data = message(u, 100000 + k, rnd)
        rc, err = deliver(mx_conf, u, data)
        assert rc == 0, f"postern-deliver on GlusterFS: exit {rc}: {err}"
        delivered[tok] = (u, hashlib.sha256(data).hexdigest())

    for n in nodes:
        n.start()
    hp_port = cluster.free_port()
    hp = HAProxy(tmp, hp_port, nodes, HAPROXY_SOURCE, proxy=True)
    world["haproxy"] = hp
    hp.start()
    time.sleep(1.5)                       # the first health checks pass

    start = time.time()
    deadline = start + LOAD_SECONDS
    sessions, lock, uidl_token = [], threading.Lock(), {}
    threads = [threading.Thread(target=run_client,
                                args=(i, hp_port, deadline, sessions, lock, uidl_token))
               for i in range(CLIENTS)]
    threads.append(threading.Thread(target=run_delivery,
                                    args=(mx_conf, deadline - 2, delivered, dfail)))
    for t in threads:
        t.start()
    time.sleep(LOAD_SECONDS / 2)
    victim = nodes[1]
    t_kill = time.time()
    killed = victim.kill()                # the host dies: postern and
    g.kill_mount(victim.mnt)              # its file system client at once
    for t in threads:
        t.join(LOAD_SECONDS + 60)
    assert not any(t.is_alive() for t in threads), "clients did not finish"
    hp.stop()
    for n in nodes:
        n.stop()

    # ---- the invariants --------------------------------------------------
    state, inodes = maildir_state(mnts["mx"])
    present, present_uidls = {}, set()
    problems = []
    # This file system has no RENAME_NOREPLACE: postern moves a message by
    # link() and unlink().  A host that dies between the two leaves it under
    # two names with one unique part; the next login renames one to U.dupN
    # and both are served, the same message twice.  On this GlusterFS a
    # later session on another host sometimes also finds both names of a
    # completed move (a flag change at QUIT) before any host died.  Such
    # twins (same message, UIDLs U and U.dupN) are counted, before and
    # after the kill, not failed; any other twin is an error.
    crash_dups = set()
    early_dups = set()
    linked_dups = 0          # ... still in the Maildir as hard links of one file
    for u, toks in state.items():
        for tok, names in toks.items():
            if len(names) > 1:
                if len({base(unique(n)) for n in names}) == 1:
                    crash_dups.add((u, tok))
                    if len({inodes[(u, n)] for n in names}) == 1:
                        linked_dups += 1
                else:
                    problems.append(f"{u}: {tok} is there {len(names)} times: {names}")
            if tok not in delivered or delivered[tok][0] != u:
                problems.append(f"{u}: {tok} was never delivered to it ({names})")
            present[tok] = u
            present_uidls.update((u, unique(n)) for n in names)
    uidls_of = {}
    for s in sessions:
        for uidl, tok, _ in s.retr:
            uidls_of.setdefault((s.user, tok), set()).add(uidl)
        if s.t_pass is not None and s.t_pass < t_kill:
            early_dups.update((s.user, base(x)) for x in s.listed
                              if re.search(r"\.dup\d+$", x))
    for (u, tok), us in uidls_of.items():
        if len(us) > 1:
            if len({base(x) for x in us}) == 1:
                crash_dups.add((u, tok))
            else:
                problems.append(f"{u}: {tok} served under UIDLs {us}")
    committed, committer, uncertain = {}, {}, set()
    for s in sessions:
        for uidl in s.dele:
            tok = uidl_token.get((s.user, uidl))
            if s.end == "quit-ok":
                committed.setdefault((s.user, uidl), s.t_quit_ok)
                committer.setdefault((s.user, uidl), s.client)
                if (s.user, uidl) in present_uidls:
                    problems.append(f"{tok} deleted by a QUIT with +OK but still there")
            elif s.end == "quit-unknown":
                uncertain.add(tok)
    deleted_toks = {uidl_token.get(k) for k in committed}
    assert None not in deleted_toks
    lost = [t for t in delivered if t not in present and t not in deleted_toks
            and t not in uncertain]
    for t in lost:
        problems.append(f"{t} lost: not in its Maildir and no committed deletion")
    gone_deleted = [t for t in delivered if t not in present and t in deleted_toks]
    gone_uncertain = [t for t in delivered if t not in present and t not in deleted_toks
                      and t in uncertain]
    if len(present) + len(gone_deleted) + len(gone_uncertain) + len(lost) != len(delivered):
        problems.append(f"accounts do not add up: present {len(present)} + deleted "
                        f"{len(gone_deleted)} + uncertain {len(gone_uncertain)} + lost "
                        f"{len(lost)} != delivered {len(delivered)}")
    for s in sessions:
        for r in s.retr:
            if r[1] is None or delivered.get(r[1], (None, None))[1] != r[2]:
                problems.append(f"client {s.client} got a message that differs from "
                                f"what was delivered: {r[1]}")
    # Served after a committed deletion: a session that logged in after
    # another one's QUIT +OK must not list that message.
    served_deleted = 0
    for s in sessions:
        if s.login != "ok":
            continue
        for uidl in set(s.listed):
            t = committed.get((s.user, uidl))
            if t is not None and t < s.t_pass:
                served_deleted += 1
                problems.append(f"{s.user}: {uidl} listed by client {s.client} at "
                                f"{s.t_pass - start:.2f} s, {s.t_pass - t:.3f} s after client "
                                f"{committer[(s.user, uidl)]}'s QUIT deleting it got +OK "
                                f"(node2 killed at {t_kill - start:.2f} s)")
    # One session per mailbox: while a session certainly held the mailbox
    # (from its +OK to PASS until the QUIT or drop left the client), no other
    # session of that mailbox can have got its +OK.
    overlaps = 0
    for u in USERS:
        iv = sorted((s.t_ok, s.t_hold_end, s.client) for s in sessions
                    if s.user == u and s.login == "ok")
        for a, b in zip(iv, iv[1:]):
            if b[0] < a[1]:
                overlaps += 1
                problems.append(f"{u}: clients {a[2]} and {b[2]} held it at once")
    # The dead host's locks did not outlive it: every mailbox opened again.
    after = {s.user for s in sessions if s.login == "ok" and s.t_pass > t_kill + 3}
    for u in USERS:
        if u not in after:
            problems.append(f"{u}: no successful login after the node was killed")
    # The logs of the surviving hosts name the clients.
    rips = {}
    for n in nodes:
        if n is victim:
            continue
        found = re.findall(r"login: user=<\S+> rip=(\S+)", n.log_text())
        rips[n.idx] = found
        if not found:
            problems.append(f"node{n.idx} logged no login")
        # The clients' own addresses (127.0.1.x) from the PROXY v2 headers,
        # never HAProxy's (its "source").
        want = {client_addr(i) for i in range(CLIENTS)}
        wrong = set(found) - want
        if wrong:
            problems.append(f"node{n.idx} logged logins from {sorted(wrong)}")

    count = lambda pred: sum(1 for s in sessions if pred(s))  # noqa: E731
    # Every login a client saw is in some host's log (the killed host's
    # log file stays behind).
    logged = sum(len(re.findall(r"login: user=<", n.log_text())) for n in nodes)
    if logged < count(lambda s: s.login == "ok"):
        problems.append(f"{logged} logins logged, {count(lambda s: s.login == 'ok')} seen")
    print("\ncluster test summary"
          f"\n  GlusterFS volume: replica {g.replica}, client caches off, 4 FUSE mounts; "
          "PROXY v2 from HAProxy"
          f"\n  load: {CLIENTS} clients, {len(USERS)} mailboxes, {LOAD_SECONDS:.0f} s; "
          f"node2 killed at {t_kill - start:.1f} s ({killed} processes and its mount)"
          f"\n  deliveries: {len(delivered)} ok, {len(dfail)} failed"
          f"\n  sessions: {len(sessions)}: logged in {count(lambda s: s.login == 'ok')}, "
          f"[IN-USE] {count(lambda s: s.login == 'inuse')}, "
          f"[SYS/TEMP] {count(lambda s: s.login == 'temp')}, "
          f"no connection/broken before login "
          f"{count(lambda s: s.login in ('conn', 'broken'))}"
          f"\n  ends: QUIT +OK {count(lambda s: s.end == 'quit-ok')}, "
          f"QUIT -ERR {count(lambda s: s.end == 'quit-err')}, "
          f"QUIT unanswered {count(lambda s: s.end == 'quit-unknown')}, "
          f"dropped {count(lambda s: s.end == 'dropped')}, "
          f"broken {count(lambda s: s.login == 'ok' and s.end == 'broken')}"
          f"\n  messages: retrieved {sum(len(s.retr) for s in sessions)}, "
          f"deletions committed {len(committed)}, uncertain (QUIT unanswered) "
          f"{len(uncertain)} (of which gone: {len(gone_uncertain)}), "
          f"left in Maildirs {len(present)}, one message under two names (a "
          f"link+unlink move seen half done) {len(crash_dups)}, {len(early_dups)} of "
          f"them before the kill, {linked_dups} left as two links of one file"
          f"\n  lost {len(lost)}, served after committed deletion {served_deleted}, "
          f"mailbox held twice {overlaps}, logins on surviving nodes "
          + ", ".join(f"node{k}: {len(v)} ({len(set(v))} addresses)" for k, v in rips.items()))
    assert not dfail, f"deliveries failed: {dfail[:5]}"
    assert not problems, "\n".join(problems[:40])
    # Not vacuous: the load did what it is meant to.
    assert len(committed) > 0 and count(lambda s: s.end == "quit-ok") > 50
    assert len(delivered) > 100
