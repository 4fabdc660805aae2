"""make install / make uninstall into a DESTDIR: what the installed units and
examples name is what was installed, and uninstall takes away every file
install put (a configuration file changed since stays).  Needs `make all`.
    /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/package/test_install.py
"""
import glob
import os
import re
import shlex
import shutil
import subprocess
import tempfile

import pytest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def make(*args):
    r = subprocess.run(["make", "-s"] + list(args), cwd=TOP, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def files(top):
    return sorted(os.path.relpath(os.path.join(d, n), top)
                  for d, _, fs in os.walk(top) for n in fs)


@pytest.fixture
def dest():
    d = tempfile.mkdtemp(prefix="postern-install-")
    yield d
    shutil.rmtree(d)


@pytest.mark.parametrize("prefix", ["/usr/local", "/opt/postern"])
def test_installed_units_and_examples_name_installed_programs(dest, prefix):
    make("install", f"DESTDIR={dest}", f"PREFIX={prefix}")
    units = glob.glob(f"{dest}{prefix}/lib/systemd/system/postern*")
    assert len(units) == len(glob.glob(os.path.join(TOP, "contrib/systemd/postern*")))
    examples = [f"{dest}{prefix}/share/doc/postern/examples/{e}"
                for e in ("inetd.conf.example", "xinetd/pop3", "xinetd/pop3s")]
    named = 0
    for path in units + examples:
        with open(path) as f:
            text = f.read()
        assert "@SBINDIR@" not in text, path
        for prog in re.findall(r"(/\S*/sbin/postern[\w-]*)", text):
            assert prog.startswith(f"{prefix}/sbin/"), (path, prog)
            assert os.access(dest + prog, os.X_OK), (path, prog)
            named += 1
    assert named >= 10
    for f in ("etc/postern/postern.conf", "etc/fail2ban/filter.d/postern.conf",
              "etc/fail2ban/jail.d/postern.conf", "etc/pam.d/postern", f"{prefix[1:]}/lib/sysusers.d/postern.conf",
              f"{prefix[1:]}/lib/tmpfiles.d/postern.conf",
              f"{prefix[1:]}/share/man/man5/postern.conf.5"):
        assert os.path.isfile(os.path.join(dest, f)), f
    r = subprocess.run(["systemd-analyze", "verify", "--man=no"] +
                       [u for u in units if "@" not in os.path.basename(u)],
                       capture_output=True, text=True)
    # The programs are in DESTDIR, not at the path the units name: only
    # those complaints are expected here (the package test verifies fully).
    other = [l for l in (r.stdout + r.stderr).splitlines()
             if l.strip() and "is not executable" not in l]
    assert not other, other


def test_uninstall_removes_what_install_put(dest):
    make("install", f"DESTDIR={dest}")
    assert len(files(dest)) >= 20
    make("uninstall", f"DESTDIR={dest}")
    assert files(dest) == []


def test_uninstall_keeps_changed_configuration(dest):
    make("install", f"DESTDIR={dest}")
    conf = os.path.join(dest, "etc/postern/postern.conf")
    with open(conf, "a") as f:
        f.write("timeout = 20m\n")
    # A second install does not overwrite it.
    make("install", f"DESTDIR={dest}")
    with open(conf) as f:
        assert f.read().endswith("timeout = 20m\n")
    out = make("uninstall", f"DESTDIR={dest}")
    assert files(dest) == ["etc/postern/postern.conf"]
    assert "kept" in out


def test_readme_sysusers_and_tmpfiles_steps_after_install(dest):
    """README's quick setup after make install: systemd-sysusers postern.conf
    and systemd-tmpfiles --create postern.conf find the snippets below
    /usr/local/lib (here in a --root) and make the accounts and directories."""
    make("install", f"DESTDIR={dest}")
    for cmd in (["systemd-sysusers", f"--root={dest}", "postern.conf"],
                ["systemd-tmpfiles", f"--root={dest}", "--create", "postern.conf"]):
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    with open(os.path.join(dest, "etc/passwd")) as f:
        assert re.search(r"^postern:x:\d+:\d+:.*:/nonexistent:/usr/sbin/nologin$", f.read(), re.M)
    with open(os.path.join(dest, "etc/group")) as f:
        assert re.search(r"^postern-drop:x:\d+:", f.read(), re.M)
    st = os.stat(os.path.join(dest, "run/postern/empty"))
    assert (st.st_uid, st.st_mode & 0o7777) == (0, 0o555)
    assert os.stat(os.path.join(dest, "var/spool/postern/drop")).st_mode & 0o7777 == 0o1730
