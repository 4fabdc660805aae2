"""The Debian package and the RPM spec, tested the way a host uses them.

`make deb` builds the package from a clean copy of the tree; lintian must
print no E: or W: line; `dpkg -i` installs it on this machine (CI: root on
Debian 12, no systemd as PID 1); the installed daemon is started exactly as
the unit's ExecStart= says, with a NOTIFY_SOCKET this test listens on, and
serves a user added with the installed postern-passwd; reload and stop go as
the unit's ExecReload= and a SIGTERM; the installed fail2ban filter matches
failure lines the installed daemon logged, and fail2ban-client -t accepts
the jails; `systemd-analyze verify` on every installed unit; `dpkg --purge`
leaves no file of the package behind (file lists before and after) and a
Maildir untouched.  `make rpm` builds the RPM.

The tests run in file order and share one installation (module fixture);
the last one purges.  Run as root:
    /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/package
"""
import configparser
import glob
import hashlib
import os
import poplib
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
UNITDIR = "/lib/systemd/system"
CONF = "/etc/postern/postern.conf"
UID = GID = 5123                   # a mailbox owner with no account: virtual
USER, PASSWORD = "pkguser", "pkg test pass"

# Paths that change on any dpkg run or user creation, whoever runs it: the
# package database and logs, caches, and the backups systemd-sysusers makes
# of the account files.  Everything else must be as before after a purge.
VOLATILE = re.compile(r"^(/var/lib/dpkg/|/var/log/|/var/cache/|/var/lib/apt/|"
                      r"/var/tmp/|/run/user/|/etc/(passwd|group|shadow|gshadow)-$|"
                      r"/etc/\.pwd\.lock$|"
                      # Made by every postern that starts (privdrop.c), from
                      # a checkout too: judged on its own after the purge.
                      r"/run/postern/)")
# Where a package or its maintainer scripts (sysusers, tmpfiles,
# deb-systemd-helper) can leave files; /run and the rest of /var are left
# out because other programs change them all the time (/run/postern is
# checked on its own).
SNAP_DIRS = ["/etc", "/usr", "/lib", "/opt", "/srv", "/var/spool", "/var/lib/systemd",
             "/var/mail", "/var/empty"]


def run(cmd, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    return subprocess.run(cmd, **kw)


def changelog_version():
    with open(os.path.join(TOP, "contrib/debian/changelog")) as f:
        return re.match(r"^postern \(([^)]+)\)", f.readline()).group(1)


def snapshot():
    """Every path (files, links, directories) under the system directories,
    except VOLATILE ones and the test's own temporary directories."""
    paths = set()
    for top in SNAP_DIRS:
        if os.path.islink(top) or not os.path.isdir(top):
            continue
        for d, dirs, files in os.walk(top):
            for n in dirs + files:
                p = os.path.join(d, n)
                if not VOLATILE.match(p if n in files else p + "/"):
                    paths.add(p)
    return paths


def tree_digest(top):
    """Names, modes, owners and contents of everything under top."""
    h = hashlib.sha256()
    for d, dirs, files in sorted(os.walk(top)):
        dirs.sort()
        for n in sorted(dirs + files):
            p = os.path.join(d, n)
            st = os.lstat(p)
            h.update(f"{p} {st.st_mode:o} {st.st_uid} {st.st_gid}\n".encode())
            if n in files:
                with open(p, "rb") as f:
                    h.update(f.read())
    return h.hexdigest()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise AssertionError(f"daemon exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listening on 127.0.0.1:{port}")


def other_posterns():
    """Processes of postern running now (this test has stopped its own)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().startswith("postern"):
                    found.append(int(pid))
        except OSError:
            pass
    return found


def unit_lines(unit, key):
    with open(os.path.join(UNITDIR, unit)) as f:
        return [l.split("=", 1)[1].strip() for l in f if l.startswith(key + "=")]


class Pkg:
    """State shared by the tests of this module, in the order they run."""


@pytest.fixture(scope="module")
def pkg():
    if os.geteuid() != 0:
        pytest.fail("the package test installs a package: run it as root")
    if run(["dpkg-query", "-W", "-f=${Status}", "postern"]).stdout.endswith(" installed"):
        pytest.fail("a postern package is installed already; purge it first "
                    "(dpkg --purge postern): this test installs and purges its own")
    p = Pkg()
    p.version = changelog_version()
    r = run(["make", "deb"], cwd=TOP)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    p.deb = os.path.join(TOP, "build-deb", f"postern_{p.version}_amd64.deb")
    p.changes = os.path.join(TOP, "build-deb", f"postern_{p.version}_amd64.changes")
    assert os.path.exists(p.deb) and os.path.exists(p.changes)
    p.work = tempfile.mkdtemp(prefix="postern-pkgtest-")
    os.chmod(p.work, 0o755)
    # A Maildir with one message, owned by the (virtual) mailbox owner.
    p.home = os.path.join(p.work, "home")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(p.home, "Maildir", sub))
    with open(os.path.join(p.home, "Maildir/new/1700000001.M1P1.pkgtest"), "w") as f:
        f.write("From: a@example.org\nSubject: package test\n\nhello from the package test\n")
    for d, dirs, files in os.walk(p.home):
        for n in [d] + [os.path.join(d, x) for x in files]:
            os.chown(n, UID, GID)
    os.chmod(p.home, 0o700)
    p.before = snapshot()
    r = run(["dpkg", "-i", p.deb])
    assert r.returncode == 0, r.stdout + r.stderr
    yield p
    # Normally test_purge has purged already; this is the clean-up when an
    # earlier failure stopped the module.
    if run(["dpkg-query", "-W", "-f=${Status}", "postern"]).stdout.endswith(" installed"):
        run(["dpkg", "--purge", "postern"])
    shutil.rmtree(p.work, ignore_errors=True)


def test_lintian_no_errors_no_warnings(pkg):
    for target in (pkg.changes, pkg.deb):
        r = run(["lintian", "--no-cfg", target])
        bad = [l for l in r.stdout.splitlines() if re.match(r"^[EW]: ", l)]
        assert not bad, "\n".join(bad)
        assert r.returncode == 0, r.stdout + r.stderr


def test_installed_files_and_accounts(pkg):
    for f in ("/usr/sbin/postern", "/usr/sbin/postern-passwd", "/usr/sbin/postern-deliver",
              "/usr/share/man/man8/postern.8.gz", "/usr/share/man/man5/postern.conf.5.gz",
              "/usr/share/man/man8/postern-passwd.8.gz", "/usr/share/man/man8/postern-deliver.8.gz",
              CONF, "/usr/lib/sysusers.d/postern.conf", "/usr/lib/tmpfiles.d/postern.conf",
              "/etc/fail2ban/filter.d/postern.conf", "/etc/fail2ban/jail.d/postern.conf",
              "/etc/pam.d/postern", UNITDIR + "/postern.service"):
        assert os.path.exists(f), f
    conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", "postern"]).stdout
    for f in (CONF, "/etc/fail2ban/filter.d/postern.conf", "/etc/fail2ban/jail.d/postern.conf",
              "/etc/pam.d/postern"):
        assert f in conffiles
    # The credentials file is the admin's: the package never makes it.
    assert not os.path.exists("/etc/postern/passwd")
    assert run(["getent", "passwd", "postern"]).returncode == 0
    assert run(["getent", "group", "postern-drop"]).returncode == 0
    st = os.stat("/run/postern/empty")
    assert (st.st_uid, st.st_mode & 0o7777) == (0, 0o555)
    st = os.stat("/var/spool/postern/drop")
    assert st.st_mode & 0o7777 == 0o1730
    assert st.st_gid == int(run(["getent", "group", "postern-drop"]).stdout.split(":")[2])
    # The standalone service is enabled, the alternatives are not.
    assert os.path.islink("/etc/systemd/system/multi-user.target.wants/postern.service")
    assert not glob.glob("/etc/systemd/system/*.wants/postern[!.]*")
    # The shipped configuration listens on loopback only.
    r = run(["/usr/sbin/postern", "-T"])
    assert r.returncode == 0, r.stderr
    assert re.search(r"^listen = 127\.0\.0\.1:110$", r.stdout, re.M), r.stdout


def test_version_is_the_changelogs(pkg):
    r = run(["/usr/sbin/postern", "-V"])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"postern {pkg.version}"
    assert any(l.startswith("OpenSSL 3") for l in lines), lines
    assert any(re.match(r"^libxcrypt \d", l) for l in lines), lines
    assert any(re.match(r"^seccomp (on|off)", l) for l in lines), lines
    with open(os.path.join(TOP, "contrib/rpm/postern.spec")) as f:
        spec = re.search(r"^Version:\s*(\S+)", f.read(), re.M).group(1)
    assert spec == pkg.version, "contrib/rpm/postern.spec's Version differs from the changelog"


def test_units_verify_and_name_installed_programs(pkg):
    units = sorted(glob.glob(UNITDIR + "/postern*"))
    assert len(units) >= 9, units
    for u in units:
        with open(u) as f:
            for line in f:
                if re.match(r"^Exec\w+=", line):
                    prog = shlex.split(line.split("=", 1)[1])[0].lstrip("-@+!")
                    assert os.access(prog, os.X_OK), f"{u}: {line.strip()}"
                    assert "@" not in line, line
    r = run(["systemd-analyze", "verify"] + units)
    assert r.returncode == 0 and not r.stderr.strip() and not r.stdout.strip(), r.stdout + r.stderr
    for ex in ("inetd.conf.example", "xinetd/pop3", "xinetd/pop3s"):
        with open("/usr/share/doc/postern/examples/" + ex) as f:
            text = f.read()
        assert "/usr/sbin/postern" in text and "@SBINDIR@" not in text, ex


def add_user(pkg):
    r = run(["/usr/sbin/postern-passwd", "add", USER, "-u", str(UID), "-g", str(GID),
             "-d", pkg.home, "--stdin"], input=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    st = os.stat("/etc/postern/passwd")
    assert st.st_mode & 0o777 == 0o640


def test_installed_daemon_as_the_unit_starts_it(pkg):
    """ExecStart= as written, NOTIFY_SOCKET set; a login of a user made with
    the installed postern-passwd; ExecReload= as written; SIGTERM.  The
    notifications are collected here and judged by the next test."""
    add_user(pkg)
    port = free_port()
    with open(CONF) as f:
        text = f.read()
    text = re.sub(r"^listen = 127\.0\.0\.1:110$", f"listen = 127.0.0.1:{port}", text, flags=re.M)
    text += f"first_valid_uid = 1000\nlogin_fail_delay = 1s\n"
    with open(CONF, "w") as f:
        f.write(text)
    notify_path = os.path.join(pkg.work, "notify")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(notify_path)
    pkg.notes = []

    def drain(until=None, timeout=5.0):
        end = time.time() + timeout
        while time.time() < end:
            ns.settimeout(max(0.01, end - time.time()))
            try:
                msg = ns.recv(4096).decode()
            except socket.timeout:
                break
            pkg.notes.append((phase, msg))
            if until and until in msg.split("\n"):
                break

    (cmd,) = unit_lines("postern.service", "ExecStart")
    env = dict(os.environ, NOTIFY_SOCKET=notify_path)
    phase = "start"
    proc = subprocess.Popen(shlex.split(cmd), env=env, stdin=subprocess.DEVNULL)
    try:
        wait_port(port, proc)
        drain(until="READY=1")
        p = poplib.POP3("127.0.0.1", port, timeout=15)
        p.user(USER)
        p.pass_(PASSWORD)
        count, _ = p.stat()
        assert count == 1
        body = b"\n".join(p.retr(1)[1])
        assert b"hello from the package test" in body
        p.quit()
        phase = "reload"
        for line in unit_lines("postern.service", "ExecReload"):
            argv = [a.replace("$MAINPID", str(proc.pid)).replace("${MAINPID}", str(proc.pid))
                    for a in shlex.split(line)]
            # systemd gives NOTIFY_SOCKET to the main process only.
            r = run([argv[0].lstrip("-@+!")] + argv[1:])
            assert r.returncode == 0, f"ExecReload={line}: {r.stderr}"
        drain(until="READY=1")
        wait_port(port, proc)
        phase = "stop"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        drain(timeout=1.0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        ns.close()


def test_sd_notify_protocol(pkg):
    """READY=1 once listening; RELOADING=1 with MONOTONIC_USEC, then READY=1
    around the reload; STOPPING=1 on SIGTERM (systemd's Type=notify)."""
    notes = getattr(pkg, "notes", None)
    assert notes is not None, "the daemon test did not run"
    with open(os.path.join(UNITDIR, "postern.service")) as f:
        assert re.search(r"^Type=notify", f.read(), re.M), "postern.service is not Type=notify"

    def fields(phase):
        return [set(m.split("\n")) for ph, m in notes if ph == phase]
    assert any("READY=1" in f for f in fields("start")), notes
    rel = fields("reload")
    i = next((k for k, f in enumerate(rel) if "RELOADING=1" in f), None)
    assert i is not None, notes
    assert any(x.startswith("MONOTONIC_USEC=") for x in rel[i]), notes
    assert any("READY=1" in f for f in rel[i:]), notes
    assert any("STOPPING=1" in f for f in fields("stop")), notes


def failure_lines(pkg):
    """Run the installed daemon with -d, fail two logins (wrong password,
    unknown user), succeed once, and return what it logged."""
    port = free_port()
    conf = os.path.join(pkg.work, "f2b.conf")
    with open(conf, "w") as f:
        f.write(f"listen = 127.0.0.1:{port}\nfirst_valid_uid = 1000\nlogin_fail_delay = 1s\n"
                f"spare_sessions = 0\n")
    log = open(os.path.join(pkg.work, "f2b.stderr"), "w+")
    proc = subprocess.Popen(["/usr/sbin/postern", "-f", conf, "-d"], stderr=log,
                            stdin=subprocess.DEVNULL)
    try:
        wait_port(port, proc)
        for user, pw in ((USER, "wrong password"), ("nosuchuser", "x")):
            p = poplib.POP3("127.0.0.1", port, timeout=15)
            p.user(user)
            with pytest.raises(poplib.error_proto):
                p.pass_(pw)
            p.quit()
        p = poplib.POP3("127.0.0.1", port, timeout=15)
        p.user(USER)
        p.pass_(PASSWORD)
        p.quit()
        # The logout line is written by the mail process as it ends.
        end = time.time() + 10
        while time.time() < end:
            log.seek(0)
            if "logout:" in log.read():
                break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    log.seek(0)
    lines = [l.rstrip("\n") for l in log if re.match(r"^postern\[\d+\]: ", l)]
    log.close()
    return lines


def test_fail2ban_filter_on_real_failures(pkg):
    lines = failure_lines(pkg)
    fails = [l for l in lines if ": auth failed: " in l]
    assert len(fails) == 2, lines
    assert any(": login: " in l for l in lines), lines
    # As rsyslog writes them to /var/log/mail.log (Debian 12's RFC 3339
    # dates, and the traditional ones); fail2ban's systemd backend hands the
    # filter the same "host ident[pid]: message" after the date.
    now = time.time()
    for stamp in (time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime(now)),
                  time.strftime("%b %d %H:%M:%S", time.localtime(now))):
        path = os.path.join(pkg.work, "mail.log")
        with open(path, "w") as f:
            f.writelines(f"{stamp} mailhost {l}\n" for l in lines)
        r = run(["fail2ban-regex", path, "/etc/fail2ban/filter.d/postern.conf"])
        assert r.returncode == 0, r.stdout + r.stderr
        m = re.search(r"^Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed", r.stdout, re.M)
        assert m, r.stdout
        assert (int(m.group(1)), int(m.group(3))) == (len(lines), len(fails)), r.stdout
        assert "127.0.0.1" in r.stdout


def test_fail2ban_jails(pkg):
    cp = configparser.ConfigParser(interpolation=None)
    cp.read("/etc/fail2ban/jail.d/postern.conf")
    # Shipped disabled; the journal one for a stock Debian 12.
    assert cp["postern"]["enabled"] == "false" and cp["postern"]["backend"] == "systemd"
    assert cp["postern-maillog"]["enabled"] == "false"
    filt = configparser.ConfigParser(interpolation=None)
    filt.read("/etc/fail2ban/filter.d/postern.conf")
    assert filt["Definition"]["journalmatch"].strip() == "SYSLOG_IDENTIFIER=postern"
    # fail2ban-client -t on a copy of this host's /etc/fail2ban with one of
    # the jails enabled, as an admin would in a .local file.
    for jail, extra in (("postern", ""), ("postern-maillog", f"logpath = {pkg.work}/mail.log\n")):
        conf = os.path.join(pkg.work, "fail2ban-" + jail)
        shutil.copytree("/etc/fail2ban", conf)
        with open(os.path.join(conf, "jail.d", "postern.local"), "w") as f:
            f.write(f"[{jail}]\nenabled = true\n{extra}")
        # Debian's own defaults-debian.conf enables sshd, which needs
        # /var/log/auth.log or the journal; it is not what is tested here.
        with open(os.path.join(conf, "jail.d", "zz-no-sshd.local"), "w") as f:
            f.write("[sshd]\nenabled = false\n")
        r = run(["fail2ban-client", "-c", conf, "-t"])
        assert r.returncode == 0 and "OK" in r.stdout + r.stderr, r.stdout + r.stderr
        r = run(["fail2ban-client", "-c", conf, "-d"])
        assert r.returncode == 0, r.stderr
        assert f"'add', '{jail}'" in r.stdout, r.stdout
        if jail == "postern":
            assert "SYSLOG_IDENTIFIER=postern" in r.stdout, r.stdout


def test_purge_leaves_nothing_and_mail_untouched(pkg):
    maildir = tree_digest(pkg.home)
    r = run(["dpkg", "--purge", "postern"])
    assert r.returncode == 0, r.stdout + r.stderr
    after = snapshot()
    left = sorted(after - pkg.before)
    gone = sorted(pkg.before - after)
    assert not left, "left behind by the package:\n" + "\n".join(left)
    assert not gone, "removed by the package:\n" + "\n".join(gone)
    assert tree_digest(pkg.home) == maildir
    assert not os.path.exists("/etc/postern")
    # The runtime directory goes too.  Every postern that starts makes it
    # again: where other postern processes run (a developer's machine with
    # tests running beside; never in CI), it may be theirs.
    if os.path.exists("/run/postern"):
        assert other_posterns(), "/run/postern left behind by the purge"


def test_rpm_builds():
    r = run(["make", "rpm"], cwd=TOP)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rpms = glob.glob(os.path.join(TOP, "build-rpm/RPMS/*/postern-*.rpm"))
    assert len(rpms) == 1, rpms
    files = run(["rpm", "-qlp", rpms[0]]).stdout.split()
    for f in ("/usr/sbin/postern", "/usr/sbin/postern-passwd", "/usr/sbin/postern-deliver",
              "/etc/postern/postern.conf", "/usr/lib/systemd/system/postern.service",
              "/usr/lib/sysusers.d/postern.conf", "/usr/lib/tmpfiles.d/postern.conf",
              "/etc/fail2ban/jail.d/postern.conf", "/etc/pam.d/postern"):
        assert f in files, f
    scripts = run(["rpm", "-qp", "--scripts", rpms[0]]).stdout
    assert "systemd-sysusers" in scripts and "systemctl" in scripts
