"""postern-deliver behind a real MTA: a private Postfix instance on a
loopback port (its own config, queue and log directories) hands mail for a
virtual domain to postern-deliver through a pipe(8) transport, the way
postern-deliver(8) tells administrators to set it up; the message is then
fetched over POP3 from postern.  Unknown users bounce, a mailbox that cannot
be written to defers (exit 75) and is delivered once it can."""
import os
import pwd
import shutil
import smtplib
import subprocess
import time

import pytest

import conftest
from pop3util import Pop3, wait_until, wire_body

POSTFIX = "/usr/sbin/postfix"
VMAIL = "ptvmail"
DELIVER = os.environ.get("POSTERN_DELIVER_BIN", os.path.join(conftest.TOP, "postern-deliver"))


def sh(*cmd, **kw):
    return subprocess.run(list(cmd), check=True, capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def vmail_user():
    assert os.path.exists(POSTFIX), \
        "Postfix is missing: make check installs it (contrib/install-deps.sh test)"
    try:
        pwd.getpwnam(VMAIL)
    except KeyError:
        sh("useradd", "--no-create-home", "--home-dir", "/nonexistent",
           "--shell", "/usr/sbin/nologin", VMAIL)
    return pwd.getpwnam(VMAIL)


class PrivatePostfix:
    def __init__(self, tmp, server, vm):
        self.dir = os.path.join(tmp, "postfix")
        self.conf = os.path.join(self.dir, "etc")
        self.queue = os.path.join(self.dir, "spool")
        self.log = os.path.join(self.dir, "maillog")
        self.port = conftest.free_port()
        os.makedirs(self.conf)
        os.makedirs(self.queue)
        data = os.path.join(self.dir, "data")
        os.makedirs(data)
        shutil.chown(data, "postfix", "postfix")
        # pipe(8) passes no environment: the sanitizer build (make asan)
        # gets its options through env(1).
        san = " ".join(f"{k}={os.environ[k]}" for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS")
                       if k in os.environ)
        cmd = f"/usr/bin/env {san} {DELIVER}" if san else DELIVER
        main = f"""
compatibility_level = 3.6
queue_directory = {self.queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.mail.test
mydomain = mail.test
myorigin = mx.mail.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
relay_domains =
virtual_mailbox_domains = mail.test
smtpd_reject_unlisted_recipient = no
virtual_transport = postern
postern_destination_recipient_limit = 1
maillog_file = {self.log}
maillog_file_prefixes = /tmp
biff = no
smtputf8_enable = no
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
bounce_queue_lifetime = 0
""".lstrip()
        master = f"""
127.0.0.1:{self.port} inet n - n - - smtpd
pickup    unix n - n 60 1 pickup
cleanup   unix n - n - 0 cleanup
qmgr      unix n - n 300 1 qmgr
rewrite   unix - - n - - trivial-rewrite
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
verify    unix - - n - 1 verify
flush     unix n - n 1000? 0 flush
proxymap  unix - - n - - proxymap
smtp      unix - - n - - smtp
relay     unix - - n - - smtp
error     unix - - n - - error
retry     unix - - n - - error
discard   unix - - n - - discard
local     unix - n n - - local
virtual   unix - n n - - virtual
lmtp      unix - - n - - lmtp
anvil     unix - - n - 1 anvil
scache    unix - - n - 1 scache
showq     unix n - n - - showq
postlog   unix-dgram n - n - 1 postlogd
postern   unix - n n - - pipe flags=hu user={vm.pw_name}
  argv={cmd} -c {server.conf} -f ${{sender}} -a ${{original_recipient}} -d ${{user}}@${{nexthop}}
""".lstrip()
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(main)
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(master)

    def start(self):
        sh(POSTFIX, "-c", self.conf, "check")      # creates the queue directories
        sh(POSTFIX, "-c", self.conf, "start")
        conftest.wait_port("127.0.0.1", self.port)
        return self

    def stop(self):
        """Stop our instance and wait until its master is gone (it is not
        our child: postfix(1) detached it), so the directory can go."""
        try:
            with open(os.path.join(self.queue, "pid", "master.pid")) as f:
                pid = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pid = None
        subprocess.run([POSTFIX, "-c", self.conf, "stop"], capture_output=True)

        def gone():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    return f.read().rsplit(")", 1)[1].split()[0] == "Z"
            except FileNotFoundError:
                return True
        if pid:
            assert wait_until(gone, 15), "postfix master did not stop"

    def logtext(self):
        try:
            with open(self.log) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def queued(self):
        n = 0
        for sub in ("incoming", "active", "deferred"):
            for _, _, files in os.walk(os.path.join(self.queue, sub)):
                n += len(files)
        return n


@pytest.fixture
def mta(server_factory, vmail_user):
    vm = vmail_user
    s = server_factory()
    home = os.path.join(s.tmp, "vhome")
    os.makedirs(home)
    os.chown(home, vm.pw_uid, vm.pw_gid)
    h = conftest.hash_password(conftest.PASSWORD)
    for u in ("vana", "vbert"):
        s.add_user_line(f"{u}@mail.test:{h}:{vm.pw_uid}:{vm.pw_gid}::{home}/{u}::")
    # The pipe runs as the vmail user, which must be able to read the file
    # (postern-deliver(8): a group shared with postern, here simply 0644).
    os.chmod(s.passwd, 0o644)
    with open(s.conf, "a") as f:
        f.write(f"first_valid_uid = {min(vm.pw_uid, 1000)}\n")
    s.start()
    pf = PrivatePostfix(s.tmp, s, vm).start()
    s.postfix = pf
    s.vhome = home
    yield s
    pf.stop()
    if os.environ.get("POSTERN_LOG_DIR") is None:
        print(pf.logtext()[-3000:])


def send(pf, rcpts, body, sender="sender@example.org"):
    with smtplib.SMTP("127.0.0.1", pf.port, timeout=30) as c:
        return c.sendmail(sender, rcpts, body)


def maildir_files(path):
    try:
        return sorted(os.listdir(os.path.join(path, "new")))
    except FileNotFoundError:
        return []


def test_postfix_delivers_through_postern_deliver_and_pop3_serves_it(mta):
    s, pf = mta, mta.postfix
    body = (b"From: Sender <sender@example.org>\r\nTo: vana@mail.test\r\n"
            b"Subject: via postfix\r\n\r\nhello\r\n.leading dot\r\n")
    send(pf, ["vana@mail.test"], body)
    md = os.path.join(s.vhome, "vana", "Maildir")
    assert wait_until(lambda: maildir_files(md), 30), pf.logtext()[-3000:]
    name = maildir_files(md)[0]
    with open(os.path.join(md, "new", name), "rb") as f:
        stored = f.read()
    assert stored.startswith(b"Return-Path: <sender@example.org>\nDelivered-To: vana@mail.test\n")
    assert b"Subject: via postfix\n" in stored and b"\n.leading dot\n" in stored
    # The pipe agent logs the status after postern-deliver has exited, so
    # the line can come a moment after the message is in the Maildir.
    assert wait_until(lambda: "status=sent (delivered via postern service)" in pf.logtext(),
                      30), pf.logtext()[-3000:]
    c = Pop3(s.port)
    try:
        assert c.login("vana@mail.test").startswith("+OK maildrop has 1")
        assert c.cmd("RETR 1").startswith("+OK")
        assert c.raw_until() == wire_body(stored)
        c.cmd("QUIT")
    finally:
        c.close()


def test_postfix_bounces_unknown_users_and_defers_on_trouble(mta):
    s, pf = mta, mta.postfix
    send(pf, ["nosuch@mail.test"], b"Subject: lost\r\n\r\nx\r\n")
    assert wait_until(lambda: "nosuch@mail.test" in pf.logtext() and
                      "status=bounced" in pf.logtext(), 30), pf.logtext()[-3000:]
    assert "no such user" in pf.logtext()
    # vbert's Maildir cannot be created (a file is in the way, then fixed):
    # postern-deliver says 75, Postfix keeps the mail and retries.
    bert = os.path.join(s.vhome, "vbert")
    with open(bert, "w") as f:
        f.write("in the way")
    send(pf, ["vbert@mail.test"], b"Subject: later\r\n\r\ny\r\n")
    assert wait_until(lambda: "status=deferred" in pf.logtext(), 30), pf.logtext()[-3000:]
    assert pf.queued() >= 1
    os.unlink(bert)
    # Ask for the retry now rather than wait for the queue manager's next
    # scan (on the slow sanitizer build it was not within a minute).
    sh("/usr/sbin/postqueue", "-c", pf.conf, "-f")
    md = os.path.join(bert, "Maildir")
    assert wait_until(lambda: maildir_files(md), 60), pf.logtext()[-3000:]
    assert wait_until(lambda: pf.queued() == 0, 30)
