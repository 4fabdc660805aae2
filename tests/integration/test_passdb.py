"""Credential sources other than the passwd file (passdb = pam, checkpassword,
several in order) and auth_mechanisms.

PAM: Debian's libpam-wrapper (LD_PRELOAD=libpam_wrapper.so) points libpam at
a service directory of the test's own, with pam_unix and real Unix users
made here: a good password, a wrong one, an unknown user, an expired
account (chage -E 0), a locked one (usermod -L) and one below
first_valid_uid.  The system's /etc/pam.d is not touched.

checkpassword: small test programs (a password check, exit 111, a hang past
passdb_timeout, a crash, garbage on stdout and on fd 4).
"""
import os
import poplib
import pwd
import subprocess
import time

import pytest

from conftest import PASSWORD, Maildir, POSTERN

PAM_WRAPPER = "/usr/lib/x86_64-linux-gnu/libpam_wrapper.so"
PAM_UNIX = "/lib/x86_64-linux-gnu/security/pam_unix.so"
PAM_MATRIX = "/usr/lib/x86_64-linux-gnu/pam_wrapper/pam_matrix.so"
PAM_USERS = {"ptpamok": {}, "ptpamexp": {}, "ptpamlock": {}, "ptpamsys": {"system": True}}


def sh(*cmd):
    """Run a shadow-utils command; other test runs on this host may hold
    the passwd lock for a moment, so retry a few times."""
    for _ in range(50):
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode == 0:
            return r
        if "lock" not in (r.stderr + r.stdout).lower():
            break
        time.sleep(0.2)
    raise RuntimeError(f"{cmd}: {r.returncode} {r.stderr}")


def pam_user(name, home, system=False):
    try:
        pwd.getpwnam(name)
    except KeyError:
        sh("useradd", *(["--system"] if system else []), "--no-create-home",
           "--home-dir", home, "--shell", "/usr/sbin/nologin", name)
    sh("usermod", "--home", home, name)
    subprocess.run(["chpasswd"], input=f"{name}:{PASSWORD}\n", text=True, check=True,
                   capture_output=True)
    sh("chage", "-E", "-1", "-M", "-1", "-d", "19000", name)
    pw = pwd.getpwnam(name)
    os.makedirs(home, exist_ok=True)
    os.chown(home, pw.pw_uid, pw.pw_gid)
    return Maildir(os.path.join(home, "Maildir"), pw.pw_uid, pw.pw_gid)


def login(srv, user, password=PASSWORD, how="user"):
    """Returns (ok, text): text is the server's answer or error."""
    p = poplib.POP3("127.0.0.1", srv.port, timeout=30)
    try:
        if how == "user":
            p.user(user)
            p.pass_(password)
        else:
            import base64
            tok = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
            r = p._shortcmd(f"AUTH PLAIN {tok}")
            assert r.startswith(b"+OK")
        n, _ = p.stat()
        p.quit()
        return True, n
    except poplib.error_proto as e:
        return False, e.args[0].decode(errors="replace")
    finally:
        try:
            p.close()
        except Exception:  # noqa: BLE001
            pass


@pytest.fixture
def pam_srv(server_factory, monkeypatch):
    made = {}

    def make(stack=None, extra=""):
        srv = server_factory(extra_conf=f"passdb = pam\nlogin_fail_delay = 0\n"
                                        f"passdb_fail_time = 200ms\n{extra}")
        for u, o in PAM_USERS.items():
            made[u] = pam_user(u, os.path.join(srv.home, u), o.get("system", False))
        sh("chage", "-E", "0", "ptpamexp")
        sh("usermod", "-L", "ptpamlock")
        svc = os.path.join(srv.tmp, "pam.d")
        os.makedirs(svc, exist_ok=True)
        with open(os.path.join(svc, "postern"), "w") as f:
            f.write(stack or f"auth required {PAM_UNIX}\naccount required {PAM_UNIX}\n")
        # libpam reads "other" too; without it pam_wrapper logs an error.
        with open(os.path.join(svc, "other"), "w") as f:
            f.write("auth required pam_deny.so\naccount required pam_deny.so\n")
        monkeypatch.setenv("LD_PRELOAD", PAM_WRAPPER)
        monkeypatch.setenv("PAM_WRAPPER", "1")
        monkeypatch.setenv("PAM_WRAPPER_SERVICE_DIR", svc)
        # Without it pam_wrapper dlopens libpam with RTLD_DEEPBIND, which
        # the sanitizer build (make asan) cannot run.  Debian 12's 1.1.4
        # reads the variable under uid_wrapper's name.
        monkeypatch.setenv("PAM_WRAPPER_DISABLE_DEEPBIND", "1")
        monkeypatch.setenv("UID_WRAPPER_DISABLE_DEEPBIND", "1")
        srv.start()
        # Only the daemon has the wrapper: the clients run without it.
        monkeypatch.delenv("LD_PRELOAD")
        return srv, made
    return make


def test_pam_accounts(pam_srv):
    srv, md = pam_srv()
    md["ptpamok"].add(b"Subject: one\n\nbody\n")
    ok, n = login(srv, "ptpamok")
    assert ok and n == 1, n
    # The mail process runs as the account's uid from the password database.
    assert f"user=<ptpamok>" in srv.logtext()
    ok, n = login(srv, "ptpamok", how="plain")
    assert ok and n == 1, n
    cases = [("ptpamok", "wrong password", "wrong password"),
             ("ptnosuchuser", PASSWORD, "unknown user"),
             ("ptpamexp", PASSWORD, "account expired"),
             ("ptpamlock", PASSWORD, "wrong password"),
             ("ptpamsys", PASSWORD, "uid below first_valid_uid"),
             ("../etc", PASSWORD, "invalid user name")]
    for user, pw, why in cases:
        ok, text = login(srv, user, pw)
        assert not ok, user
        # The same answer for every reason: nothing about the account.
        assert text == "-ERR [AUTH] authentication failed", (user, text)
        assert f"reason={why}" in srv.logtext(), (user, why)
    log = srv.logtext()
    assert "reason=account expired" in log
    assert "reason=uid below first_valid_uid" in log


def test_pam_prompts_never_reach_the_client(pam_srv, tmp_path):
    """A stack that asks for something other than a hidden password (here
    pam_matrix's echo option): refused, temporary, never shown."""
    pdb = os.path.join("/tmp", f"pt-matrix-{os.getpid()}")
    with open(pdb, "w") as f:
        f.write(f"ptpamok:{PASSWORD}:postern\n")
    try:
        srv, _ = pam_srv(stack=f"auth required {PAM_MATRIX} passdb={pdb} echo\n"
                               f"account required {PAM_MATRIX} passdb={pdb}\n")
        ok, text = login(srv, "ptpamok")
        assert not ok
        assert text.startswith("-ERR [SYS/TEMP]"), text
        assert "Password" not in text
        assert "PAM asked for more than a password" in srv.logtext()
    finally:
        os.unlink(pdb)


def test_pam_matrix_stack(pam_srv):
    """Another module than pam_unix: the account still comes from the
    password database."""
    pdb = os.path.join("/tmp", f"pt-matrix-{os.getpid()}")
    with open(pdb, "w") as f:
        f.write("ptpamok:matrixpass:postern\n")
    try:
        srv, md = pam_srv(stack=f"auth required {PAM_MATRIX} passdb={pdb}\n"
                                f"account required {PAM_MATRIX} passdb={pdb}\n")
        md["ptpamok"].add(b"Subject: m\n\nx\n")
        assert login(srv, "ptpamok", "matrixpass") == (True, 1)
        ok, text = login(srv, "ptpamok", PASSWORD)
        assert not ok and "[AUTH]" in text
    finally:
        os.unlink(pdb)


def test_passwd_file_then_pam(pam_srv):
    """passdb = passwd-file pam: the file's users, then system accounts."""
    srv, md = pam_srv(extra="passdb = passwd-file pam\n")
    srv.maildirs["ptalice"].add(b"Subject: a\n\nx\n")
    assert login(srv, "ptalice") == (True, 1)
    assert login(srv, "ptpamok") == (True, 0)
    ok, text = login(srv, "ptpamok", "nope")
    assert not ok and "[AUTH]" in text


# ---- checkpassword ----

CHECK = r"""#!/bin/bash
# The qmail interface: user, password and timestamp on fd 3.
IFS= read -r -d '' user <&3
IFS= read -r -d '' pass <&3
IFS= read -r -d '' stamp <&3
echo "$user" >> {tmp}/cpw-calls
env > {tmp}/cpw-env
{body}
"""

GOOD = """[ "$pass" = '{pw}' ] || exit 1
case "$user" in
ptalice) export HOME={home}/ptalice ;;
virt@example.org) export HOME={home}/ptbob userdb_uid={bob_uid} userdb_gid={bob_gid} ;;
renamed) export USER=ptcarol HOME={home}/ptcarol ;;
noreply) exit 0 ;;
*) exit 1 ;;
esac
exec "$@"
"""

BAD = {
    "temp": "exit 111",
    "hang": "echo $$ > {tmp}/cpw-hang.pid; exec sleep 300",
    "crash": "kill -SEGV $$",
    "stdout": "echo garbage; export HOME={home}/ptalice; exec \"$@\"",
    "fd4": "printf 'not a reply' >&4; exit 0",
    "usage": "exit 2",
}


def cpw_server(server_factory, body, extra=""):
    srv = server_factory()
    prog = os.path.join(srv.tmp, "checkpw")
    bob = pwd.getpwnam("ptbob")
    with open(prog, "w") as f:
        f.write(CHECK.format(tmp=srv.tmp, body=body.format(
            pw=PASSWORD, home=srv.home, tmp=srv.tmp, bob_uid=bob.pw_uid, bob_gid=bob.pw_gid)))
    os.chmod(prog, 0o755)
    srv.write_conf(open(srv.conf).read() +
                   f"passdb = checkpassword\ncheckpassword = {prog}\n"
                   f"passdb_timeout = 2s\npassdb_fail_time = 100ms\n"
                   + extra.format(home=srv.home))
    return srv.start()


def test_checkpassword_yes_no(server_factory):
    srv = cpw_server(server_factory, GOOD)
    srv.maildirs["ptalice"].add(b"Subject: a\n\nx\n")
    srv.maildirs["ptbob"].add(b"Subject: b1\n\nx\n")
    srv.maildirs["ptbob"].add(b"Subject: b2\n\nx\n")
    assert login(srv, "ptalice") == (True, 1)
    # uid, gid and home from the reply's environment (userdb_uid/gid, HOME).
    assert login(srv, "virt@example.org") == (True, 2)
    assert "user=<virt@example.org>" in srv.logtext()
    # The program may name the account (USER).
    srv.maildirs["ptcarol"].add(b"Subject: c\n\nx\n")
    assert login(srv, "renamed", how="plain") == (True, 1)
    assert "user=<ptcarol>" in srv.logtext()
    ok, text = login(srv, "ptalice", "wrong")
    assert not ok and text == "-ERR [AUTH] authentication failed"
    assert "reason=wrong password" in srv.logtext()
    ok, text = login(srv, "nobody-here")
    assert not ok and "[AUTH]" in text
    # A clean environment: no variable of postern's own.
    env = open(os.path.join(srv.tmp, "cpw-env")).read()
    assert "SERVICE=pop3" in env and "TCPREMOTEIP=127.0.0.1" in env
    assert "LD_PRELOAD" not in env and "PAM_WRAPPER" not in env


def test_checkpassword_no_reply_uses_passwd_database(server_factory):
    """Exit 0 without running the reply program: the account is the
    password database's (uid, gid), mail where mail_location says."""
    srv = cpw_server(server_factory, "[ \"$pass\" = '{pw}' ] || exit 1\nexit 0",
                     extra="mail_location = {home}/%n/Maildir\n")
    srv.maildirs["ptalice"].add(b"Subject: a\n\nx\n")
    assert login(srv, "ptalice") == (True, 1)
    ok, text = login(srv, "ptalice", "wrong")
    assert not ok and "[AUTH]" in text


@pytest.mark.parametrize("case", sorted(BAD))
def test_checkpassword_failures_are_temporary(server_factory, case):
    srv = cpw_server(server_factory, BAD[case])
    ok, text = login(srv, "ptalice")
    assert not ok
    assert text.startswith("-ERR [SYS/TEMP]"), text
    log = srv.logtext()
    assert "auth unavailable" in log and "login:" not in log
    want = {"temp": "exit status 111", "hang": "gave no answer within passdb_timeout",
            "crash": "killed by signal 11", "stdout": "wrote on stdout: garbage",
            "fd4": "malformed checkpassword-reply", "usage": "exit status 2"}[case]
    assert want in log, log[-2000:]
    if case == "hang":
        pid = int(open(os.path.join(srv.tmp, "cpw-hang.pid")).read())
        assert not os.path.exists(f"/proc/{pid}"), "the hung program was not killed"


def test_checkpassword_config_checks(tmp_path):
    conf = tmp_path / "c.conf"
    conf.write_text("passdb = checkpassword\n")
    r = subprocess.run([POSTERN, "-t", "-f", str(conf)], capture_output=True, text=True)
    assert r.returncode == 1 and "checkpassword" in r.stderr
    conf.write_text("passdb = pam\nauth_mechanisms = plain scram-sha-256\n")
    r = subprocess.run([POSTERN, "-t", "-f", str(conf)], capture_output=True, text=True)
    assert r.returncode == 1 and "SCRAM" in r.stderr
    conf.write_text("passdb = pam pam\n")
    r = subprocess.run([POSTERN, "-t", "-f", str(conf)], capture_output=True, text=True)
    assert r.returncode == 1 and "twice" in r.stderr
    # postern -t: the program must be there; the passwd file is not
    # checked when it is no source; a PAM service without a file warns.
    conf.write_text("passdb = pam checkpassword\ncheckpassword = /nonexistent/cpw\n"
                    "passwd_file = /nonexistent/passwd\npam_service = pt-no-such-svc\n")
    r = subprocess.run([POSTERN, "-t", "-f", str(conf)], capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    assert "checkpassword /nonexistent/cpw: No such file" in r.stderr
    assert "warning: passdb = pam: no /etc/pam.d/pt-no-such-svc" in r.stderr
    assert "passwd_file" not in r.stderr
    conf.write_text("passdb = pam checkpassword\ncheckpassword = /bin/true\n"
                    "passwd_file = /nonexistent/passwd\n")
    r = subprocess.run([POSTERN, "-t", "-f", str(conf)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    conf.write_text("passdb = passwd-file checkpassword\ncheckpassword = /bin/false\n"
                    "auth_mechanisms = PLAIN login scram-sha-256\n")
    r = subprocess.run([POSTERN, "-T", "-f", str(conf)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "passdb = passwd-file checkpassword\n" in r.stdout
    assert "auth_mechanisms = plain login scram-sha-256\n" in r.stdout


# ---- auth_mechanisms ----

def capa_and_auth(srv):
    p = poplib.POP3("127.0.0.1", srv.port, timeout=30)
    try:
        capa = p.capa()
        listing = [l.decode() for l in p._longcmd("AUTH")[1]]
        return capa, listing, p
    except Exception:
        p.close()
        raise


def test_default_mechanisms_no_scram(server_factory):
    """The default offers what works for every user of the passwd file:
    PLAIN and LOGIN, not SCRAM (a yescrypt entry has no SCRAM secret)."""
    srv = server_factory(scheme="yescrypt").start()
    capa, listing, p = capa_and_auth(srv)
    assert capa["SASL"] == ["PLAIN", "LOGIN"]
    assert listing == ["PLAIN", "LOGIN"]
    with pytest.raises(poplib.error_proto) as e:
        p._shortcmd("AUTH SCRAM-SHA-256")
    assert b"unsupported authentication mechanism" in e.value.args[0]
    p.quit()


def test_mechanisms_follow_the_setting(server_factory):
    srv = server_factory(extra_conf="auth_mechanisms = scram-sha-256 plain\n").start()
    capa, listing, p = capa_and_auth(srv)
    assert capa["SASL"] == ["PLAIN", "SCRAM-SHA-256"]
    assert listing == ["PLAIN", "SCRAM-SHA-256"]
    with pytest.raises(poplib.error_proto) as e:
        p._shortcmd("AUTH LOGIN")
    assert b"unsupported authentication mechanism" in e.value.args[0]
    # USER/PASS is not a SASL mechanism: still there.
    assert "USER" in capa
    p.quit()
    srv.stop()
    srv.write_conf(open(srv.conf).read() + "auth_mechanisms =\n")
    srv.start()
    capa, listing, p = capa_and_auth(srv)
    assert "SASL" not in capa and listing == []
    p.quit()


def mpop_run(srv, test_ca, w, port, tls):
    md = os.path.join(w, "Maildir")
    for sub in ("", "cur", "new", "tmp"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    rc = os.path.join(w, "mpoprc")
    with open(rc, "w") as f:
        # No auth line: mpop chooses.  tls as given, otherwise mpop's default.
        f.write(f"account test\nhost 127.0.0.1\nport {port}\n{tls}"
                f"tls_trust_file {test_ca['ca']}\ntls_host_override mail.test\n"
                f"user ptalice\npassword {PASSWORD}\ndelivery maildir {md}\n"
                f"keep on\nuidls_file {w}/uidls\n")
    os.chmod(rc, 0o600)
    r = subprocess.run(["mpop", "-C", rc, "-d", "test"], env=dict(os.environ, HOME=w),
                       capture_output=True, timeout=120)
    return r.returncode, (r.stdout + r.stderr).decode("latin-1"), md


@pytest.mark.parametrize("mode", ["stls", "implicit"])
def test_mpop_default_run_logs_in(server_factory, test_ca, tmp_path, mode):
    """mpop set up as a new user would (TLS on, no auth line) chooses among
    the mechanisms offered: against the default configuration it logs in,
    with a yescrypt user, and tries no SCRAM."""
    srv = server_factory(scheme="yescrypt", tls=[test_ca["mail.test"]]).start()
    srv.maildirs["ptalice"].add(b"Subject: m\n\nhello\n")
    port = srv.tls_port if mode == "implicit" else srv.port
    tls = "tls on\n" + ("tls_starttls off\n" if mode == "implicit" else "")
    rc, trace, md = mpop_run(srv, test_ca, str(tmp_path), port, tls)
    assert rc == 0, trace[-3000:]
    assert "SCRAM" not in trace
    assert len(os.listdir(os.path.join(md, "new"))) == 1
    assert "login: user=<ptalice>" in srv.logtext()


def test_mpop_without_tls_no_failed_login(server_factory, test_ca, tmp_path):
    """mpop's own default is tls off, and then it only tries methods that
    keep the password off the wire.  SCRAM used to be offered to every user,
    so mpop tried it and failed for every yescrypt user ("authentication
    failed (method SCRAM-SHA-256)"), a failure fail2ban counts.  Now it is
    not offered: mpop stops before sending anything, nothing is logged as a
    failed login."""
    srv = server_factory(scheme="yescrypt", tls=[test_ca["mail.test"]]).start()
    rc, trace, _ = mpop_run(srv, test_ca, str(tmp_path), srv.port, "")
    assert rc != 0
    assert "cannot use a secure authentication method" in trace, trace[-2000:]
    assert "authentication failed" not in trace
    assert "auth failed" not in srv.logtext()
