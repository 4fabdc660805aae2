"""Runners for the real POP3 clients the integration tests script:
fetchmail, getmail6, mpop and curl (test_clients.py, test_tls_clients.py,
test_sasl.py).  One runner a client, each taking the server's port, the
credentials, keep or delete, the TLS mode and extra options, and returning
Run(returncode, trace, messages):

  returncode  the client's exit status (the caller asserts on it);
  trace       its stdout + stderr as text, CRLF turned into LF (fetchmail
              -v and mpop -d print the POP3 dialogue; curl prints errors);
  messages    the messages it delivered, sorted (their file names are
              random), or for curl the bytes it wrote to stdout.

Every run gets a fresh directory below `work` (mode 0755, for getmail's
delivery user), so two runs in one test never see each other's mail.  The
client facts behind the settings are in /work/shared/CLIENTS.md."""
import os
import pwd
import shutil
import subprocess
import tempfile
from collections import namedtuple
from dataclasses import dataclass

from conftest import PASSWORD

Run = namedtuple("Run", "returncode trace messages")

# command -> Debian package (contrib/install-deps.sh installs them)
TOOLS = {"fetchmail": "fetchmail", "getmail": "getmail6", "mpop": "mpop", "curl": "curl"}

TIMEOUT = 120


@dataclass(frozen=True)
class TLS:
    """How a client talks to the server: mode "none" (plaintext), "stls"
    (STLS on the plain port) or "implicit" (TLS port); with TLS the client
    verifies the certificate against the CA file `ca` by the name `name`
    while connecting to 127.0.0.1."""
    mode: str = "none"
    ca: str = None
    name: str = "mail.test"

    def __post_init__(self):
        assert self.mode in ("none", "stls", "implicit"), self.mode
        assert (self.mode == "none") == (self.ca is None), "a CA file goes with TLS"


PLAIN = TLS()


def missing_tools():
    """The Debian packages of the clients that are not installed."""
    return [pkg for tool, pkg in TOOLS.items() if not shutil.which(tool)]


def _rundir(work, name):
    d = tempfile.mkdtemp(prefix=name + "-", dir=work)
    os.chmod(d, 0o755)
    return d


def _maildir(path, owner=None):
    for sub in ("", "cur", "new", "tmp"):
        os.mkdir(os.path.join(path, sub))
        if owner:
            os.chown(os.path.join(path, sub), owner.pw_uid, owner.pw_gid)
    return path


def _read_files(d):
    out = []
    for root, _, files in os.walk(d):
        for n in files:
            with open(os.path.join(root, n), "rb") as f:
                out.append(f.read())
    return sorted(out)


def _write_rc(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)        # fetchmail, getmail and mpop refuse others


def _run(argv, env=None):
    r = subprocess.run(argv, env=env, capture_output=True, timeout=TIMEOUT)
    return r.returncode, (r.stdout + r.stderr).decode("latin-1").replace("\r\n", "\n")


# ---- fetchmail ----

def fetchmail(work, port, user="ptalice", password=PASSWORD, keep=True, tls=PLAIN, extra=""):
    """fetchmail -v in the foreground, fetchall, delivering each message
    through an mda script into a file; `extra` is appended to the poll
    entry (fetchmail keywords).  Exit status 1 means "no mail"."""
    w = _rundir(work, "fetchmail")
    out = os.path.join(w, "out")
    os.mkdir(out)
    mda = os.path.join(w, "mda.sh")
    with open(mda, "w") as f:
        f.write(f'#!/bin/sh\nexec cat > "$(mktemp "{out}/msg.XXXXXXXX")"\n')
    os.chmod(mda, 0o755)
    if tls.mode == "none":
        tls_opts = 'sslproto ""'
    else:
        tls_opts = ("ssl" if tls.mode == "implicit" else 'sslproto "tls1.2+"') + \
            f' sslcertck sslcertfile "{tls.ca}" sslcommonname "{tls.name}"'
    rc = os.path.join(w, "fetchmailrc")
    _write_rc(rc, f'set no syslog\nset no bouncemail\n'
                  f'poll 127.0.0.1 service {port} protocol pop3 auth password\n'
                  f'  user "{user}" there with password "{password}" is root here\n'
                  f'  {tls_opts}\n'
                  f'  fetchall {"keep" if keep else "nokeep"} no rewrite {extra}\n'
                  f'  mda "{mda}"\n')
    code, trace = _run(["fetchmail", "-f", rc, "--nodetach", "--invisible", "-v",
                        "--idfile", os.path.join(w, "ids"), "--pidfile", os.path.join(w, "pid")],
                       env=dict(os.environ, HOME=w, FETCHMAILHOME=w))
    return Run(code, trace, _read_files(out))


# ---- getmail6 ----

def getmail(work, port, user="ptalice", password=PASSWORD, keep=True, tls=PLAIN, extra="",
            restore=None):
    """getmail6 (read_all) delivering into a Maildir as `nobody`, since it
    refuses to deliver as root; checks the files are nobody's.  Debian 12's
    getmail6 has no STLS, so tls is none or implicit.  `extra` is added to
    the [options] section (getmail rc lines).

    getmail's race: getmail 6 installs its SIGCHLD handler after fork() and
    notifies a condition nobody waits on yet, so a delivery child that exits
    at once is never seen ("waiting child pid N timed out").  That is
    getmail's bug, not the server's.  Then, and only then, the run is done
    once more in a new directory, after `restore()` (if given) has put the
    mailbox back as it was before: a run that fails half-way may have
    deleted some."""
    assert tls.mode != "stls", "getmail6 of Debian 12 cannot STLS"
    r = _getmail_once(work, port, user, password, keep, tls, extra)
    if r.returncode != 0 and "waiting child pid" in r.trace:
        if restore:
            restore()
        r = _getmail_once(work, port, user, password, keep, tls, extra)
    return r


def _getmail_once(work, port, user, password, keep, tls, extra):
    nobody = pwd.getpwnam("nobody")
    w = _rundir(work, "getmail")
    md = _maildir(os.path.join(w, "Maildir"), owner=nobody)
    gd = os.path.join(w, "getmaildir")
    os.mkdir(gd)
    if tls.mode == "implicit":
        retriever = (f"SimplePOP3SSLRetriever\nca_certs = {tls.ca}\n"
                     f"ssl_cert_hostname = {tls.name}")
    else:
        retriever = "SimplePOP3Retriever"
    rc = os.path.join(w, "getmailrc")
    _write_rc(rc, f"[retriever]\ntype = {retriever}\nserver = 127.0.0.1\n"
                  f"port = {port}\nusername = {user}\npassword = {password}\n"
                  # also how long getmail waits for its delivery child
                  f"timeout = 20\n\n"
                  f"[destination]\ntype = Maildir\npath = {md}/\nuser = nobody\n\n"
                  f"[options]\nread_all = true\ndelete = {'false' if keep else 'true'}\n"
                  f"delivered_to = false\nreceived = false\nverbose = 2\n{extra}\n")
    code, trace = _run(["getmail", "--rcfile", rc, "--getmaildir", gd])
    # Files written as nobody, as asked.
    for sub in ("new", "cur"):
        for n in os.listdir(os.path.join(md, sub)):
            assert os.stat(os.path.join(md, sub, n)).st_uid == nobody.pw_uid, n
    return Run(code, trace, _read_files(md))


# ---- mpop ----

def mpop(work, port, user="ptalice", password=PASSWORD, keep=True, tls=PLAIN, extra="",
         auth="user"):
    """mpop -d (the dialogue goes to the trace) delivering into a Maildir;
    `auth` is mpop's auth method (user, plain, scram-sha-256, ...) and
    `extra` is added to the account (mpop rc lines)."""
    w = _rundir(work, "mpop")
    md = _maildir(os.path.join(w, "Maildir"))
    if tls.mode == "none":
        tls_opts = "tls off\n"
    else:
        tls_opts = (f"tls on\ntls_starttls {'on' if tls.mode == 'stls' else 'off'}\n"
                    f"tls_trust_file {tls.ca}\ntls_host_override {tls.name}\n")
    rc = os.path.join(w, "mpoprc")
    _write_rc(rc, f"account default\nhost 127.0.0.1\nport {port}\nuser {user}\n"
                  f'password "{password}"\nauth {auth}\n{tls_opts}timeout 30\n'
                  f"delivery maildir {md}\nkeep {'on' if keep else 'off'}\nonly_new off\n"
                  f"uidls_file {w}/uidls\nreceived_header off\n{extra}\n")
    code, trace = _run(["mpop", "-C", rc, "-d"], env=dict(os.environ, HOME=w))
    return Run(code, trace, _read_files(md))


# ---- curl ----

def curl(port, path="/", user="ptalice", password=PASSWORD, tls=PLAIN, extra=()):
    """One curl session: `path` "/" lists, "/N" retrieves message N; `extra`
    are more curl options (e.g. "-X", "DELE 1", "-I").  With TLS the URL
    names tls.name, resolved to 127.0.0.1; stls is pop3:// --ssl-reqd.
    messages is what curl wrote to stdout (bytes, CRLF kept)."""
    if tls.mode == "none":
        url, opts = f"pop3://127.0.0.1:{port}{path}", []
    else:
        scheme = "pop3s" if tls.mode == "implicit" else "pop3"
        url = f"{scheme}://{tls.name}:{port}{path}"
        opts = ["--cacert", tls.ca, "--resolve", f"{tls.name}:{port}:127.0.0.1"]
        if tls.mode == "stls":
            opts.append("--ssl-reqd")
    r = subprocess.run(["curl", "-sS", "--max-time", "60", *opts, "-u", f"{user}:{password}",
                        *extra, url], capture_output=True, timeout=TIMEOUT)
    return Run(r.returncode, r.stderr.decode("latin-1"), r.stdout)
