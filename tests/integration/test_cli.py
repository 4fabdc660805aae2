"""The command line (issue 2): `postern -t` checks a configuration, `-T`
prints the effective settings, errors name file and line, bad usage is
refused, and a bad configuration stops the daemon before it listens.
`postern -t` also checks what the daemon checks at start or at a login
(issue 14, point 6): the unprivileged user, empty_dir, the credentials file
line by line, the pickup's postmaster and APOP against {PLAIN} entries; the
certificate and key cases are in test_tls.py (test_bad_key_check_mode)."""
import os
import re
import socket
import subprocess

import pytest

from conftest import POSTERN, TOP, free_port


def run(*args, timeout=20):
    return subprocess.run([POSTERN, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def srv(server_factory):
    """A server (never started) whose config passes `postern -t`: its
    credentials hold the pickup's postmaster."""
    return server_factory(extra_conf="postmaster = ptalice\n")


@pytest.fixture
def conf(srv):
    return srv.conf


def append(path, text):
    with open(path, "a") as f:
        f.write(text)


def check(conf):
    """`postern -t`: (exit status, stderr lines)."""
    r = run("-f", conf, "-t")
    assert r.stdout == ""
    return r.returncode, r.stderr.splitlines()


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def test_check_good_config(conf):
    r = run("-f", conf, "-t")
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == f"postern: {conf}: configuration OK"
    assert r.stdout == ""


def test_check_commented_example(srv):
    """Comments, blank lines, spaces around '=' and CRLF line ends."""
    conf = srv.conf
    write(conf, "# a comment\n\n   # indented comment\r\nlogin_timeout=30s\r\n"
                f"  timeout   =   15m  \npasswd_file = {srv.passwd}\npostmaster=ptbob\n")
    r = run("-f", conf, "-t")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("line,message", [
    ("bogus_key = 1", "unknown key 'bogus_key'"),
    ("Timeout = 10m", "unknown key 'Timeout'"),
    ("timeout = 10 parsecs", "timeout: bad duration '10 parsecs'"),
    ("timeout = -1", "timeout: bad duration '-1'"),
    ("login_timeout = ", "login_timeout: bad duration ''"),
    ("max_login_failures = -1", "max_login_failures: bad number '-1'"),
    ("max_login_failures = 3x", "max_login_failures: bad number '3x'"),
    ("max_login_commands = 99999999999999999999", "max_login_commands: bad number"),
    ("first_valid_uid = root", "first_valid_uid: bad id 'root'"),
    ("apop = maybe", "apop: 'maybe' is not yes or no"),
    ("ssl = sometimes", "ssl: 'sometimes' is not one of required|optional|off"),
    ("max_messages = lots", "max_messages: bad size 'lots'"),
    ("listen = nonsense", "bad address 'nonsense'"),
    ("listen = 127.0.0.1:99999", "bad address '127.0.0.1:99999'"),
    ("just some words", "expected 'key = value'"),
    ("ssl_key = /k.pem", "ssl_key must follow its ssl_cert"),
    ("ssl_cert = relative.pem", "ssl_cert: want an absolute path"),
    ("max_login_failures = 0", "max_login_failures: must be at least 1"),
    ("max_login_commands = 0", "max_login_commands: must be at least 1"),
    ("timeout = 500ms", "timeout: must be at least 1s"),
    ("login_timeout = 0s", "login_timeout: must be at least 1s"),
    ("spare_sessions = 65", "spare_sessions: must be at most 64"),
    ("dovecot_uidl_format = %m", "dovecot_uidl_format: '%m': %m (header MD5) is mbox only"),
    ("dovecot_uidl_format = %v", "dovecot_uidl_format: '%v': the format has none of %u %f %g"),
    ("dovecot_uidl_format = %x", "dovecot_uidl_format: '%x': unknown variable"),
    ("uidl_import = sometimes", "uidl_import: 'sometimes' is not yes or no"),
])
def test_check_bad_config_names_file_and_line(conf, line, message):
    good = open(conf).read().splitlines()
    lines = good[:2] + [line] + good[2:]
    write(conf, "\n".join(lines) + "\n")
    r = run("-f", conf, "-t")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stderr.startswith(f"postern: {conf}:3: {message}"), r.stderr
    assert r.stdout == ""
    # The daemon refuses to start with it, too, in both modes.
    for args in ((), ("-i",)):
        r = run("-f", conf, "-d", *args)
        assert r.returncode == 1
        assert f"{conf}:3: {message}" in r.stderr


@pytest.mark.parametrize("extra,message", [
    ("first_valid_uid = 0", "first_valid_uid must not be 0"),
    ("passwd_file = relative/passwd", "passwd_file must be an absolute path"),
    ("ssl = required", "ssl = required needs ssl_cert and ssl_key"),
])
def test_check_inconsistent_config(conf, extra, message):
    with open(conf, "a") as f:
        f.write(extra + "\n")
    r = run("-f", conf, "-t")
    assert r.returncode == 1
    assert message in r.stderr


def test_check_missing_file(tmp_path):
    r = run("-f", str(tmp_path / "nope.conf"), "-t")
    assert r.returncode == 1
    assert "nope.conf: No such file or directory" in r.stderr


def test_print_effective_settings(conf):
    with open(conf, "a") as f:
        f.write("login_timeout = 2000ms\ntimeout = 20m\napop = yes\n")
    r = run("-f", conf, "-T")
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    text = open(conf).read()
    port = text.split("listen = 127.0.0.1:")[1].split()[0]
    for want in (f"listen = 127.0.0.1:{port}", "login_timeout = 2s", "timeout = 1200s",
                 "apop = yes", "first_valid_uid = 1000", "login_fail_delay = 0s",
                 # defaults for what the file does not set
                 "max_login_failures = 3", "max_login_commands = 30",
                 "mail_location = %h/Maildir", "unpriv_user = postern",
                 "empty_dir = /run/postern/empty", "ssl = optional"):
        assert want in out, (want, out)
    # Every line is "key = value", one per key.
    keys = [l.split(" = ")[0] for l in out if " = " in l]
    assert len(keys) == len(set(keys))
    # The output is itself a valid configuration with the same effect.
    printed = conf + ".printed"
    write(printed, r.stdout)
    r2 = run("-f", printed, "-T")
    assert r2.returncode == 0, r2.stderr
    assert r2.stdout == r.stdout


def test_print_defaults(tmp_path):
    p = tmp_path / "empty.conf"
    p.write_text("")
    r = run("-f", str(p), "-T")
    assert r.returncode == 0
    out = r.stdout.splitlines()
    for want in ("listen = *:110", "timeout = 600s", "login_timeout = 60s",
                 "login_fail_delay = 2s", "first_valid_uid = 500",
                 "passwd_file = /etc/postern/passwd"):
        assert want in out, want


def test_usage_errors():
    for args in (["-x"], ["-S"], ["extra-arg"]):
        r = run(*args)
        assert r.returncode == 2, args
        assert "usage: postern" in r.stderr
    r = run("-h")
    assert r.returncode == 0 and "usage: postern" in r.stdout
    r = run("-V")
    assert r.returncode == 0 and r.stdout.startswith("postern ")


def test_bad_unpriv_user_stops_start(conf):
    with open(conf, "a") as f:
        f.write("unpriv_user = no-such-user-here\n")
    # -t says what the daemon then says (it said "configuration OK").
    r = run("-f", conf, "-t")
    assert r.returncode == 1
    assert "unprivileged user 'no-such-user-here' does not exist" in r.stderr
    r = run("-f", conf, "-d")
    assert r.returncode == 1
    assert "unprivileged user 'no-such-user-here' does not exist" in r.stderr


def test_port_in_use_stops_start(conf):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        text = open(conf).read()
        old = text.split("listen = ")[1].split("\n")[0]
        write(conf, text.replace(f"listen = {old}", f"listen = 127.0.0.1:{port}"))
        r = run("-f", conf, "-d")
        assert r.returncode == 1
        assert f"cannot listen on 127.0.0.1:{port}" in r.stderr
    finally:
        busy.close()


def test_start_needs_root(conf):
    os.chmod(conf, 0o644)
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        POSTERN, "-f", conf, "-d"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 1
    assert "must be started as root" in r.stderr
    # Checking a configuration does not need root; what it could not read
    # (the credentials file, root's) it says it did not check.
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        POSTERN, "-f", conf, "-t"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert "warning: passwd_file " in r.stderr and "not checked" in r.stderr, r.stderr


# ---- postern -t: the system checks ----

def test_check_unpriv_user_with_uid_0(conf):
    append(conf, "unpriv_user = root\n")
    rc, err = check(conf)
    assert rc == 1
    assert "postern: unprivileged user 'root' has uid 0" in err, err
    assert err[-1] == f"postern: {conf}: configuration NOT OK (see above)"


@pytest.mark.parametrize("kind,message", [
    ("file", "must be a directory owned by root, not group/world-writable"),
    ("world-writable", "must be a directory owned by root, not group/world-writable"),
    ("not-root", "must be a directory owned by root, not group/world-writable"),
    ("no-parent", "does not exist and cannot be made"),
])
def test_check_empty_dir(conf, tmp_path, kind, message):
    d = tmp_path / "empty"
    if kind == "file":
        d.write_text("")
    elif kind == "world-writable":
        d.mkdir()
        os.chmod(d, 0o777)
    elif kind == "not-root":
        d.mkdir()
        os.chown(d, 65534, 65534)
        os.chmod(d, 0o555)
    else:
        d = tmp_path / "no" / "such" / "empty"
    append(conf, f"empty_dir = {d}\n")
    rc, err = check(conf)
    assert rc == 1, err
    assert any(l.startswith(f"postern: empty_dir {d} {message}") for l in err), err


def test_check_empty_dir_good_or_made_at_start(conf, tmp_path):
    """A root directory not writable by others, or one the daemon makes
    (missing, its parent or grandparent there), passes."""
    good = tmp_path / "good"
    good.mkdir()
    os.chmod(good, 0o555)
    for d in (good, tmp_path / "new", tmp_path / "newparent" / "empty"):
        append(conf, f"empty_dir = {d}\n")
        rc, err = check(conf)
        assert rc == 0, (d, err)
        assert not (tmp_path / "new").exists()       # -t creates nothing


def test_check_passwd_file_missing_or_world_writable(srv):
    os.rename(srv.passwd, srv.passwd + ".away")
    rc, err = check(srv.conf)
    assert rc == 1
    assert f"postern: passwd_file {srv.passwd}: cannot read: No such file or directory" in err
    os.rename(srv.passwd + ".away", srv.passwd)
    os.chmod(srv.passwd, 0o646)
    rc, err = check(srv.conf)
    assert rc == 1
    assert (f"postern: passwd_file {srv.passwd} is world-writable: the daemon refuses "
            "to use it") in err, err


def test_check_passwd_every_bad_line_with_file_and_line(srv):
    """Each malformed entry is reported with file, line and why; comments,
    blank lines and good entries are not; no password is printed."""
    good = open(srv.passwd).read().splitlines()
    bad = [
        ("nouser:$6$x$y:1000", "fewer than 6 ':'-separated fields"),
        ("bad user:$6$x$y:1000:1000::/home/x::", "bad user name"),
        ("baduid:$6$secrethash$y:10x0:1000::/home/x::", "bad uid"),
        ("badgid:$6$x$y:1000:-1::/home/x::", "bad gid"),
        ("relhome:$6$x$y:1000:1000::home/x::", "home is not an absolute path"),
    ]
    lines = ["# credentials", ""] + good[:1] + [b for b, _ in bad] + good[1:]
    with open(srv.passwd, "w") as f:
        f.write("\n".join(lines) + "\n")
    rc, err = check(srv.conf)
    assert rc == 1
    reported = [l for l in err if "malformed entry" in l]
    assert len(reported) == len(bad), err
    for i, (_, why) in enumerate(bad):
        lineno = 4 + i
        assert any(l.startswith(f"postern: {srv.passwd}:{lineno}: malformed entry, ignored "
                                f"by the daemon: {why}") for l in err), (lineno, err)
    assert "secrethash" not in "\n".join(err)


def test_check_passwd_home_too_long(srv):
    srv.add_user_line(f"longhome:{{PLAIN}}x:1000:1000::/{'h' * 4100}::")
    n = len(open(srv.passwd).read().splitlines())
    rc, err = check(srv.conf)
    assert rc == 1
    assert any(l.startswith(f"postern: {srv.passwd}:{n}: user <longhome>: home longer than")
               for l in err), err


def test_check_passwd_warnings_do_not_fail(srv):
    """A uid below first_valid_uid and a repeated user are reported with
    file and line, but the daemon runs with them: exit 0."""
    srv.add_user_line("lowuid:{PLAIN}x:999:1000::/home/lowuid::")
    srv.add_user_line("ptalice:{PLAIN}other:1001:1001::/home/x::")
    srv.add_user_line("locked:*:0:0::/root::")          # locked: not reported
    n = len(open(srv.passwd).read().splitlines())
    rc, err = check(srv.conf)
    assert rc == 0, err
    assert (f"postern: warning: {srv.passwd}:{n - 2}: user <lowuid> has uid 999 gid 1000, "
            "below first_valid_uid 1000 / first_valid_gid 1: its logins are refused") in err, err
    assert (f"postern: warning: {srv.passwd}:{n - 1}: user <ptalice> again (first on line 1): "
            "this entry is never used") in err, err
    assert not any("locked" in l for l in err), err
    assert err[-1] == f"postern: {srv.conf}: configuration OK"


def test_check_postmaster_missing(srv):
    """A warning, not an error: the daemon itself does not need the
    postmaster, and postern.service runs -t before every reload."""
    append(srv.conf, "postmaster = nobody-here\n")
    rc, err = check(srv.conf)
    assert rc == 0
    assert (f"postern: warning: postmaster <nobody-here> is not a user in {srv.passwd}: the pickup "
            "(postern-deliver -p) has nowhere to put mail for unknown recipients; add the "
            "user or set postmaster to one") in err, err


def test_check_default_postmaster_missing(server_factory):
    """The default postmaster ('postmaster') must exist too."""
    s = server_factory()
    rc, err = check(s.conf)
    assert rc == 0
    assert any(l.startswith("postern: warning: postmaster <postmaster> is not a user in ")
               for l in err), err


def test_check_apop_without_plain_entries(srv):
    append(srv.conf, "apop = yes\n")
    rc, err = check(srv.conf)
    assert rc == 1
    assert any(l.startswith(f"postern: apop = yes, but no entry in {srv.passwd} has a "
                            "{PLAIN} password") for l in err), err
    # One {PLAIN} user: APOP works for them; the others are named as a warning.
    srv.add_user_line("apopuser:{PLAIN}secret:1001:1001::/home/x::")
    rc, err = check(srv.conf)
    assert rc == 0, err
    assert (f"postern: warning: apop = yes: 3 user(s) in {srv.passwd} have no {{PLAIN}} "
            "password and cannot log in with APOP (the first: <ptalice>, line 1)") in err, err


def test_check_repeated_key_warns_with_file_and_line(conf):
    n = len(open(conf).read().splitlines())
    append(conf, "timeout = 5m\ntimeout = 7m\n")
    rc, err = check(conf)
    assert rc == 0, err
    assert (f"postern: warning: {conf}:{n + 2}: timeout is also set on line {n + 1}; "
            "the later value wins") in err, err
    assert "timeout = 420s" in run("-f", conf, "-T").stdout


def test_trailing_comment_after_a_value(srv):
    """Dovecot-style: 'key = value  # comment' is the value; the daemon
    runs with such a file (before: listen gave bad address '#')."""
    text = open(srv.conf).read()
    text = re.sub(r"^(listen = \S+)$", r"\1   # plain POP3, loopback only", text, flags=re.M)
    text += "timeout = 5m\t# five minutes\n#apop = yes\n"
    with open(srv.conf, "w") as f:
        f.write(text)
    rc, err = check(srv.conf)
    assert rc == 0, err
    assert "timeout = 300s" in run("-f", srv.conf, "-T").stdout
    srv.start()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as c:
        assert c.makefile("rb").readline().startswith(b"+OK")


def test_deliver_usage_matches_its_man_page():
    """Every option with an argument in postern-deliver's usage text is
    in the man page's synopsis with the same argument name."""
    r = subprocess.run([os.path.join(TOP, "postern-deliver")], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 64
    usage = set(re.findall(r"\[?-(\w) ([\w-]+)\]?", r.stderr))
    assert ("s", "size") in usage, r.stderr
    man = open(os.path.join(TOP, "man", "postern-deliver.8")).read()
    synopsis = man.split(".Sh SYNOPSIS")[1].split(".Sh ")[0]
    documented = set(re.findall(r"Fl (\w) Ar (\S+)", synopsis))
    assert usage <= documented, (usage - documented)
