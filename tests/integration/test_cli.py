"""The command line (issue 2): `postern -t` checks a configuration, `-T`
prints the effective settings, errors name file and line, bad usage is
refused, and a bad configuration stops the daemon before it listens."""
import os
import socket
import subprocess

import pytest

from conftest import POSTERN, free_port


def run(*args, timeout=20):
    return subprocess.run([POSTERN, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def conf(server_factory):
    """A server's (good) config file, never started."""
    return server_factory().conf


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def test_check_good_config(conf):
    r = run("-f", conf, "-t")
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == f"postern: {conf}: configuration OK"
    assert r.stdout == ""


def test_check_commented_example(conf):
    """Comments, blank lines, spaces around '=' and CRLF line ends."""
    write(conf, "# a comment\n\n   # indented comment\r\nlogin_timeout=30s\r\n"
                "  timeout   =   15m  \npasswd_file = /etc/postern/passwd\n")
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
    assert run("-f", conf, "-t").returncode == 0       # syntax is fine
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
    # Checking a configuration does not need root.
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        POSTERN, "-f", conf, "-t"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
