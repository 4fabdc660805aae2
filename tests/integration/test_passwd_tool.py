"""Integration tests for postern-passwd, the credentials file tool.

Run from the repository root after `make` (the binary is built here if it is
missing):  /usr/bin/python3 -m pytest -q tests/integration/test_passwd_tool.py
Some tests need root (chown to other ids); they are skipped otherwise.
"""
import base64
import ctypes
import ctypes.util
import fcntl
import hashlib
import hmac
import os
import pty
import select
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "postern-passwd"

_libcrypt = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
_libcrypt.crypt.restype = ctypes.c_char_p
_libcrypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]


def crypt_ok(password, hashed):
    """Does hashed (a crypt(3) string) match password?  libcrypt via ctypes:
    Python's crypt module is deprecated."""
    out = _libcrypt.crypt(password.encode(), hashed.encode())
    return out is not None and out.decode() == hashed


def scram_entry(password, salt, iterations):
    """Dovecot's {SCRAM-SHA-256} fields, per RFC 5802 / RFC 7677."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return (base64.b64encode(stored_key).decode(),
            base64.b64encode(server_key).decode())


@pytest.fixture(scope="session", autouse=True)
def tool():
    if not TOOL.exists():
        subprocess.run(["make", "-C", str(ROOT), "postern-passwd"], check=True,
                       stdout=subprocess.DEVNULL)
    assert os.access(TOOL, os.X_OK)
    return TOOL


def run(*args, stdin=None, check_rc=None):
    """Run the tool; stdin is text fed to it (or DEVNULL when None)."""
    p = subprocess.run([str(TOOL), *args],
                       input=stdin.encode() if isinstance(stdin, str) else stdin,
                       stdin=subprocess.DEVNULL if stdin is None else None,
                       capture_output=True, timeout=60)
    p.out = p.stdout.decode()
    p.err = p.stderr.decode()
    if check_rc is not None:
        assert p.returncode == check_rc, (p.returncode, p.out, p.err)
    return p


def add(pwfile, user, password="secret", uid="1000", gid="1000", home=None,
        extra=(), rc=0):
    home = home if home is not None else "/home/" + user
    return run("-f", str(pwfile), "add", user, "-u", uid, "-g", gid, "-d", home,
               *extra, "--stdin", stdin=password + "\n", check_rc=rc)


def entries(pwfile):
    """user -> list of the 8 fields, for every entry line."""
    out = {}
    for line in pwfile.read_text().splitlines():
        if line and not line.startswith("#"):
            fields = line.split(":", 7)
            assert len(fields) == 8, line
            out[fields[0]] = fields
    return out


@pytest.fixture
def pwfile(tmp_path):
    return tmp_path / "passwd"


def snapshot(path):
    st = path.stat()
    return (path.read_bytes(), st.st_ino, st.st_mtime_ns, st.st_mode)


# ---------- round trips ----------

def test_add_list_passwd_delete_round_trip(pwfile):
    add(pwfile, "alice", "s3cret one")
    add(pwfile, "bob@example.org", "hunter2", uid="1001", gid="100",
        home="/var/mail/bob", extra=("-c", "Bob Builder"))
    e = entries(pwfile)
    assert e["alice"][2:] == ["1000", "1000", "", "/home/alice", "", ""]
    assert e["bob@example.org"][2:] == ["1001", "100", "Bob Builder",
                                        "/var/mail/bob", "", ""]
    assert e["alice"][1].startswith("$y$")
    assert crypt_ok("s3cret one", e["alice"][1])
    assert crypt_ok("hunter2", e["bob@example.org"][1])

    p = run("-f", str(pwfile), "list", check_rc=0)
    assert p.out.splitlines() == [
        "alice\t1000\t1000\t/home/alice\tyescrypt",
        "bob@example.org\t1001\t100\t/var/mail/bob\tyescrypt",
    ]
    assert "$" not in p.out and p.err == ""

    before = entries(pwfile)
    run("-f", str(pwfile), "passwd", "alice", "--stdin", stdin="changed\n",
        check_rc=0)
    after = entries(pwfile)
    assert after["alice"][1] != before["alice"][1]
    assert crypt_ok("changed", after["alice"][1])
    assert not crypt_ok("s3cret one", after["alice"][1])
    assert after["alice"][2:] == before["alice"][2:]
    assert after["bob@example.org"] == before["bob@example.org"]

    run("-f", str(pwfile), "delete", "alice", check_rc=0)
    assert list(entries(pwfile)) == ["bob@example.org"]
    assert entries(pwfile)["bob@example.org"] == before["bob@example.org"]
    run("-f", str(pwfile), "delete", "bob@example.org", check_rc=0)
    assert pwfile.read_bytes() == b""
    assert run("-f", str(pwfile), "list", check_rc=0).out == ""


def test_options_after_and_before_user_and_long_forms(pwfile):
    run("-f", str(pwfile), "add", "-u", "1007", "--gid=8", "--home", "/m/c",
        "carol", "--gecos=C", "--scheme=sha256-crypt", "--stdin",
        stdin="pw\n", check_rc=0)
    run("add", "dave", "--file", str(pwfile), "-u1007", "-g", "8", "-d", "/m/d",
        "--stdin", stdin="pw\n", check_rc=0)
    e = entries(pwfile)
    assert e["carol"][2:6] == ["1007", "8", "C", "/m/c"]
    assert e["carol"][1].startswith("$5$")
    assert e["dave"][2:6] == ["1007", "8", "", "/m/d"]


@pytest.mark.parametrize("scheme,prefix", [
    ("yescrypt", "$y$"), ("bcrypt", "$2b$"), ("sha512-crypt", "$6$"),
    ("sha256-crypt", "$5$"), ("YESCRYPT", "$y$"),
])
def test_crypt_schemes_verify(pwfile, scheme, prefix):
    pw = "correct horse: battery staple"     # ':' is fine inside a hash
    add(pwfile, "u1", pw, extra=("-s", scheme))
    h = entries(pwfile)["u1"][1]
    assert h.startswith(prefix)
    assert crypt_ok(pw, h)
    assert not crypt_ok(pw + "x", h)
    label = scheme.lower()
    assert run("-f", str(pwfile), "list", check_rc=0).out.split("\t")[-1] \
        == label + "\n"
    # hash prints the same kind of hash, on stdout only.
    p = run("hash", "-s", scheme, "--stdin", stdin=pw + "\n", check_rc=0)
    assert p.out.endswith("\n") and p.out.count("\n") == 1
    assert p.out.startswith(prefix) and crypt_ok(pw, p.out.strip())
    assert p.err == ""


def test_bcrypt_cost_is_not_the_1999_default():
    p = run("hash", "-s", "bcrypt", "--stdin", stdin="pw\n", check_rc=0)
    assert p.out.startswith("$2b$10$")


def test_scram_sha_256_matches_python(pwfile):
    pw = "pencil"
    add(pwfile, "scram", pw, extra=("-s", "scram-sha-256"))
    field = entries(pwfile)["scram"][1]
    assert field.startswith("{SCRAM-SHA-256}")
    iterations, salt_b64, stored, server = field[len("{SCRAM-SHA-256}"):].split(",")
    assert iterations == "4096"
    salt = base64.b64decode(salt_b64, validate=True)
    assert len(salt) == 16
    assert (stored, server) == scram_entry(pw, salt, 4096)
    assert (stored, server) != scram_entry("pencil2", salt, 4096)
    assert run("-f", str(pwfile), "list", check_rc=0).out.endswith(
        "\tscram-sha-256\n")
    # Random salts: two hashes of one password differ.
    a = run("hash", "-s", "scram-sha-256", "--stdin", stdin="x\n", check_rc=0).out
    b = run("hash", "-s", "scram-sha-256", "--stdin", stdin="x\n", check_rc=0).out
    assert a != b


def test_scram_helper_known_vector():
    # RFC 7677 section 3 example: the ClientProof sent for user "user" with
    # password "pencil" proves the helper computes StoredKey correctly.
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    stored_b64, server_b64 = scram_entry("pencil", salt, 4096)
    auth_message = (b"n=user,r=rOprNGfwEbeRWgbNEkqO,"
                    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                    b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
                    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
    proof = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    sig = hmac.new(base64.b64decode(stored_b64), auth_message,
                   hashlib.sha256).digest()
    client_key = bytes(x ^ y for x, y in zip(proof, sig))
    assert hashlib.sha256(client_key).digest() == base64.b64decode(stored_b64)
    server_sig = hmac.new(base64.b64decode(server_b64), auth_message,
                          hashlib.sha256).digest()
    assert base64.b64encode(server_sig) == \
        b"6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_plain_scheme(pwfile):
    p = add(pwfile, "apop", "opensesame", extra=("-s", "plain"))
    assert "APOP" in p.err and "opensesame" not in p.err
    assert entries(pwfile)["apop"][1] == "{PLAIN}opensesame"
    assert run("-f", str(pwfile), "list", check_rc=0).out.endswith("\tplain\n")
    before = snapshot(pwfile)
    p = add(pwfile, "apop2", "open:sesame", extra=("-s", "plain"), rc=1)
    assert "open:sesame" not in p.err
    assert snapshot(pwfile) == before


# ---------- refusals leave the file alone ----------

def test_duplicate_add_fails(pwfile):
    add(pwfile, "alice")
    before = snapshot(pwfile)
    p = add(pwfile, "alice", "other", rc=1)
    assert p.err.startswith("postern-passwd: ") and "already exists" in p.err
    p = add(pwfile, "ALICE", "other", rc=1)
    assert "already exists" in p.err
    assert snapshot(pwfile) == before


def test_unknown_user_fails(pwfile):
    add(pwfile, "alice")
    before = snapshot(pwfile)
    p = run("-f", str(pwfile), "delete", "nobody", check_rc=1)
    assert p.err.startswith("postern-passwd: ") and "nobody" in p.err
    p = run("-f", str(pwfile), "passwd", "nobody", "--stdin", stdin="x\n",
            check_rc=1)
    assert "nobody" in p.err
    # Names match exactly for passwd and delete.
    run("-f", str(pwfile), "delete", "Alice", check_rc=1)
    assert snapshot(pwfile) == before


def test_missing_file(tmp_path):
    f = tmp_path / "none"
    assert "none" in run("-f", str(f), "list", check_rc=1).err
    run("-f", str(f), "delete", "a", check_rc=1)
    run("-f", str(f), "passwd", "a", "--stdin", stdin="x\n", check_rc=1)
    assert not f.exists()
    # add into a directory that does not exist fails cleanly.
    add(tmp_path / "no" / "passwd", "a", rc=1)


BAD_ADDS = [
    ("../x", {}), ("a/b", {}), ("root:x", {}), ("a" * 300, {}), ("", {}),
    (".hidden", {}), ("-rf", {}), ("a@b@c", {}), ("a b", {}), ("x\ny", {}),
    ("ok", {"uid": "0"}), ("ok", {"gid": "0"}), ("ok", {"uid": "abc"}),
    ("ok", {"uid": "-1"}), ("ok", {"uid": "+5"}), ("ok", {"uid": "1x"}),
    ("ok", {"uid": ""}), ("ok", {"uid": "4294967297"}),
    ("ok", {"gid": "99999999999"}), ("ok", {"home": "relative/dir"}),
    ("ok", {"home": ""}), ("ok", {"home": "/a:b"}), ("ok", {"home": "/a\nb"}),
    ("ok", {"home": "/" + "h" * 4095}),   # 4096 bytes: the daemon would lock it
]


def test_home_at_the_daemons_limit_accepted(pwfile):
    home = "/" + "h" * 4094          # PW_HOME_MAX (4095) bytes
    add(pwfile, "hal", home=home)
    assert entries(pwfile)["hal"][5] == home


@pytest.mark.parametrize("user,kw", BAD_ADDS)
def test_bad_add_arguments_leave_file_unchanged(pwfile, user, kw):
    pwfile.write_text("# comment\nalice:{PLAIN}x:1000:1000::/home/alice::\n")
    before = snapshot(pwfile)
    p = add(pwfile, user, "pw-not-leaked", rc=1, **kw)
    assert p.err.startswith("postern-passwd: ")
    assert "pw-not-leaked" not in p.err + p.out
    assert snapshot(pwfile) == before


@pytest.mark.parametrize("args", [
    ["-c", "a:b"], ["-c", "tab\there"], ["-s", "md5"], ["-s", ""],
])
def test_bad_gecos_or_scheme(pwfile, args):
    pwfile.write_text("alice:{PLAIN}x:1000:1000::/home/alice::\n")
    before = snapshot(pwfile)
    add(pwfile, "bob", extra=args, rc=1)
    assert snapshot(pwfile) == before


def test_missing_required_options(pwfile):
    p = run("-f", str(pwfile), "add", "bob", "-u", "1", "-g", "1", "--stdin",
            stdin="x\n", check_rc=1)
    assert "-d" in p.err
    run("-f", str(pwfile), "add", "--stdin", stdin="x\n", check_rc=1)
    run("-f", str(pwfile), "add", "bob", "-u", check_rc=1)
    assert not pwfile.exists()


@pytest.mark.parametrize("data", [
    b"\n", b"", b"\r\n", b"bad\rpw\n", b"nul\0pw\n", b"x" * 512 + b"\n",
    b"x" * 512 + b"\r\n", b"x" * 5000,
])
def test_bad_passwords_refused(pwfile, data):
    pwfile.write_text("alice:{PLAIN}x:1000:1000::/home/alice::\n")
    before = snapshot(pwfile)
    p = run("-f", str(pwfile), "add", "bob", "-u", "1", "-g", "1", "-d", "/b",
            "--stdin", stdin=data, check_rc=1)
    assert p.err.startswith("postern-passwd: ")
    run("-f", str(pwfile), "passwd", "alice", "--stdin", stdin=data, check_rc=1)
    run("hash", "--stdin", stdin=data, check_rc=1)
    assert snapshot(pwfile) == before


def test_longest_password_accepted():
    # libxcrypt's limit: 511 bytes.
    pw = "y" * 511
    for end in ("\n", "\r\n", ""):
        p = run("hash", "--stdin", stdin=pw + end, check_rc=0)
        assert crypt_ok(pw, p.out.strip())


def test_stdin_crlf_and_no_newline():
    p = run("hash", "-s", "sha512-crypt", "--stdin", stdin="pw\r\n", check_rc=0)
    h = p.out.strip()
    assert crypt_ok("pw", h) and not crypt_ok("pw\r", h)
    p = run("hash", "--stdin", stdin="last line", check_rc=0)
    assert crypt_ok("last line", p.out.strip())
    # Only the first line is the password.
    p = run("hash", "--stdin", stdin="one\ntwo\n", check_rc=0)
    assert crypt_ok("one", p.out.strip())


def test_no_terminal_without_stdin_option(pwfile):
    p = run("hash", check_rc=1)
    assert "--stdin" in p.err and p.out == ""


def test_usage():
    p = run("-h", check_rc=0)
    for word in ("add", "passwd", "delete", "list", "hash", "--stdin",
                 "scram-sha-256", "sha512-crypt"):
        assert word in p.out
    assert run("add", "-h", check_rc=0).out == p.out
    for args in ([], ["bogus"], ["hash", "-x"], ["list", "extra"],
                 ["list", "--stdin"], ["delete", "a", "-u", "1"],
                 ["hash", "user"], ["-f"]):
        p = run(*args, check_rc=1)
        assert p.err.startswith("postern-passwd: "), args


# ---------- the file is rewritten carefully ----------

def test_comments_blank_and_unknown_lines_preserved(pwfile):
    original = (b"# postern users\n"
                b"\n"
                b"   # indented comment\n"
                b"alice:{PLAIN}x:1000:1000:Alice:/home/alice:/bin/false:userdb_quota_rule=*:storage=1G\n"
                b"this line is not an entry\n"
                b"\t\n"
                b"carol:$6$abc$def:1002:1002::/home/carol::\n"
                b"# trailer without newline")
    pwfile.write_bytes(original)
    add(pwfile, "bob", "pw")
    data = pwfile.read_bytes()
    assert data.startswith(original + b"\n")
    assert data.count(b"\n") == original.count(b"\n") + 2

    run("-f", str(pwfile), "passwd", "alice", "--stdin", stdin="new\n",
        check_rc=0)
    lines = pwfile.read_bytes().split(b"\n")
    assert lines[3].startswith(b"alice:$y$")
    assert lines[3].endswith(b":1000:1000:Alice:/home/alice:/bin/false:"
                             b"userdb_quota_rule=*:storage=1G")
    assert crypt_ok("new", lines[3].split(b":")[1].decode())

    run("-f", str(pwfile), "delete", "bob", check_rc=0)
    run("-f", str(pwfile), "delete", "carol", check_rc=0)
    expected = original.split(b"\n")
    expected[3] = lines[3]
    del expected[6]
    assert pwfile.read_bytes().split(b"\n") == expected + [b""]

    p = run("-f", str(pwfile), "list", check_rc=0)
    assert p.out == "alice\t1000\t1000\t/home/alice\tyescrypt\n"
    assert "line 5" in p.err or ":5:" in p.err
    assert "this line" not in p.err


def test_list_schemes_and_no_secrets(pwfile):
    pwfile.write_text(
        "a:{SHA512-CRYPT}$6$salt$hash:1:1::/a::\n"
        "b:$2y$10$abcdefghijklmnopqrstuu:2:2::/b::\n"
        "c:*:3:3::/c::\n"
        "d:{PLAIN}topsecret:4:4::/d::\n"
        "e:{MD5}xyz:5:5::/e::\n"
        "f:abcdefghijklm:6:6::/f::\n"
        "g:$1$x$y:7:7::/g::\n"
        "h:{PLAIN}leak:0:notanumber::/h::\n")
    p = run("-f", str(pwfile), "list", check_rc=0)
    assert [l.split("\t")[-1] for l in p.out.splitlines()] == [
        "sha512-crypt", "bcrypt", "locked", "plain", "locked", "des-crypt",
        "md5-crypt"]
    assert "topsecret" not in p.out and "leak" not in p.out + p.err
    assert "$" not in p.out
    assert ":8:" in p.err


def test_duplicate_entries_all_changed(pwfile):
    pwfile.write_text("dup:{PLAIN}a:1:1::/d::\nx:{PLAIN}b:2:2::/x::\n"
                      "dup:{PLAIN}c:1:1::/d2::\n")
    p = run("-f", str(pwfile), "passwd", "dup", "--stdin", stdin="n\n",
            check_rc=0)
    assert "2 entries" in p.err
    lines = pwfile.read_text().splitlines()
    assert crypt_ok("n", lines[0].split(":")[1])
    assert crypt_ok("n", lines[2].split(":")[1])
    assert lines[1] == "x:{PLAIN}b:2:2::/x::"
    run("-f", str(pwfile), "delete", "dup", check_rc=0)
    assert pwfile.read_text() == "x:{PLAIN}b:2:2::/x::\n"


def needs_root(fn):
    """These tests chown files: they run as root (as CI does) and fail
    loudly otherwise, never skip."""
    def wrapper(*a, **kw):
        assert os.geteuid() == 0, "this test needs root (run the suite as root)"
        return fn(*a, **kw)
    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    import inspect
    wrapper.__signature__ = inspect.signature(fn)
    return wrapper


@needs_root
def daemon_conf(tmp_path, text):
    conf = tmp_path / "postern.conf"
    conf.write_text(text)
    return str(conf)


@pytest.mark.parametrize("ids,limits,bad", [
    (("999", "1000"), "first_valid_uid = 1000\n", "uid 999 is below first_valid_uid 1000"),
    (("1000", "99"), "first_valid_uid = 1000\nfirst_valid_gid = 100\n",
     "gid 99 is below first_valid_gid 100"),
    (("499", "100"), "", "uid 499 is below first_valid_uid 500"),   # the daemon's default
])
def test_ids_below_the_daemons_limits_need_force(pwfile, tmp_path, ids, limits, bad):
    """Issue 14: an entry whose uid (gid) is below first_valid_uid
    (first_valid_gid) would be refused by the daemon at every login: add
    refuses it, with the reason, unless --force."""
    conf = daemon_conf(tmp_path, limits)
    uid, gid = ids
    p = add(pwfile, "low", uid=uid, gid=gid, extra=("--config", conf), rc=1)
    assert bad in p.err and "--force" in p.err, p.err
    assert not pwfile.exists()
    p = add(pwfile, "low", uid=uid, gid=gid, extra=("--config", conf, "--force"))
    assert "warning" in p.err and bad.split(" is")[0] in p.err, p.err
    assert entries(pwfile)["low"][2:4] == [uid, gid]
    # at the limits: no question asked
    add(pwfile, "ok", uid="1000", gid="100", extra=("--config", conf))
    assert "ok" in entries(pwfile)


def test_config_option(pwfile, tmp_path):
    """--config names the daemon's configuration; one that does not load
    stops add; --force and --config are add's only."""
    p = add(pwfile, "x", extra=("--config", str(tmp_path / "missing.conf")), rc=1)
    assert "missing.conf" in p.err
    p = add(pwfile, "x", extra=("--config", daemon_conf(tmp_path, "first_valid_uid = x\n")),
            rc=1)
    assert "first_valid_uid" in p.err
    assert not pwfile.exists()
    add(pwfile, "x", extra=("--config", daemon_conf(tmp_path, "first_valid_uid = 10\n")))
    p = run("-f", str(pwfile), "passwd", "x", "--force", "--stdin", stdin="pw\n", check_rc=1)
    assert "does not apply" in p.err


def test_owner_and_mode_preserved(pwfile):
    add(pwfile, "alice")
    os.chown(pwfile, 4321, 8765)
    os.chmod(pwfile, 0o600)
    ino = pwfile.stat().st_ino
    for args, stdin in ((("add", "bob", "-u", "1001", "-g", "1", "-d", "/b",
                          "--stdin"), "pw\n"),
                        (("passwd", "alice", "--stdin"), "pw2\n"),
                        (("delete", "bob"), None)):
        run("-f", str(pwfile), *args, stdin=stdin, check_rc=0)
        st = pwfile.stat()
        assert (st.st_uid, st.st_gid) == (4321, 8765)
        assert stat.S_IMODE(st.st_mode) == 0o600
        assert st.st_ino != ino          # replaced by rename, not rewritten
        ino = st.st_ino
    os.chmod(pwfile, 0o644)
    add(pwfile, "carol")
    assert stat.S_IMODE(pwfile.stat().st_mode) == 0o644
    # No temporary files are left behind.
    assert sorted(p.name for p in pwfile.parent.iterdir()) == \
        ["passwd", "passwd.lock"]


@needs_root
def test_new_file_mode_and_owner(pwfile):
    import grp
    add(pwfile, "alice")
    st = pwfile.stat()
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert st.st_uid == 0
    try:
        want_gid = grp.getgrnam("postern").gr_gid
    except KeyError:
        want_gid = 0
    assert st.st_gid == want_gid
    lock = pwfile.parent / "passwd.lock"
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600


def test_symlink_refused(tmp_path):
    real = tmp_path / "real"
    real.write_text("alice:{PLAIN}x:1:1::/a::\n")
    link = tmp_path / "passwd"
    link.symlink_to(real)
    p = add(link, "bob", rc=1)
    assert "symbolic link" in p.err
    run("-f", str(link), "delete", "alice", check_rc=1)
    assert link.is_symlink()
    assert real.read_text() == "alice:{PLAIN}x:1:1::/a::\n"


def test_concurrent_adds(pwfile):
    pwfile.write_text("# shared file\n")
    procs = []
    for i in range(20):
        procs.append(subprocess.Popen(
            [str(TOOL), "-f", str(pwfile), "add", f"user{i}", "-u",
             str(2000 + i), "-g", "100", "-d", f"/home/user{i}", "--stdin"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE))
    for i, p in enumerate(procs):
        p.stdin.write(f"pw{i}\n".encode())
        p.stdin.close()
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()
        p.stdout.close()
        p.stderr.close()
    text = pwfile.read_text()
    assert text.startswith("# shared file\n") and text.endswith("\n")
    e = entries(pwfile)
    assert sorted(e) == sorted(f"user{i}" for i in range(20))
    for i in range(20):
        assert e[f"user{i}"][2] == str(2000 + i)
        assert crypt_ok(f"pw{i}", e[f"user{i}"][1])
    assert len(text.splitlines()) == 21


def test_lock_is_waited_for_then_times_out(pwfile):
    add(pwfile, "alice")
    lockfd = os.open(str(pwfile) + ".lock", os.O_RDWR)
    try:
        fcntl.flock(lockfd, fcntl.LOCK_EX)
        # Released after a second: the tool waits and succeeds.
        t = threading.Timer(1.0, fcntl.flock, (lockfd, fcntl.LOCK_UN))
        t.start()
        start = time.monotonic()
        run("-f", str(pwfile), "delete", "alice", check_rc=0)
        assert time.monotonic() - start >= 0.9
        t.join()
        # Never released: the tool gives up after a few seconds.
        fcntl.flock(lockfd, fcntl.LOCK_EX)
        before = snapshot(pwfile)
        start = time.monotonic()
        p = add(pwfile, "bob", rc=1)
        assert 3 <= time.monotonic() - start < 30
        assert "locked" in p.err
        assert snapshot(pwfile) == before
    finally:
        os.close(lockfd)


# ---------- the terminal ----------

def run_on_pty(args, answers, timeout=30):
    """Run the tool on a new pty; send answers[i] after the i-th prompt.
    Returns (exit status, everything the terminal showed)."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execv(str(TOOL), [str(TOOL), *args])
        finally:
            os._exit(127)
    shown = b""
    pending = list(answers)
    prompts_seen = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.5)
        if not r:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:          # EIO: the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
        while pending and shown.count(b"password: ") > prompts_seen:
            prompts_seen += 1
            os.write(fd, pending.pop(0).encode())
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


def test_terminal_add_and_passwd(pwfile):
    rc, shown = run_on_pty(["-f", str(pwfile), "add", "tty", "-u", "1005",
                            "-g", "5", "-d", "/t"],
                           ["Tty-Pass w0rd\n", "Tty-Pass w0rd\n"])
    assert rc == 0, shown
    assert "New password: " in shown and "Retype new password: " in shown
    assert "Tty-Pass" not in shown       # echo was off
    assert crypt_ok("Tty-Pass w0rd", entries(pwfile)["tty"][1])

    rc, shown = run_on_pty(["-f", str(pwfile), "passwd", "tty", "-s", "bcrypt"],
                           ["second\n", "second\n"])
    assert rc == 0, shown
    h = entries(pwfile)["tty"][1]
    assert h.startswith("$2b$") and crypt_ok("second", h)


def test_terminal_mismatch(pwfile):
    add(pwfile, "tty", "first")
    before = snapshot(pwfile)
    rc, shown = run_on_pty(["-f", str(pwfile), "passwd", "tty"],
                           ["one-secret\n", "another-secret\n"])
    assert rc == 1
    assert "do not match" in shown
    assert "secret" not in shown
    assert snapshot(pwfile) == before


def test_terminal_empty_password_and_hash(pwfile):
    rc, shown = run_on_pty(["hash"], ["\n"])
    assert rc == 1 and "empty password" in shown
    rc, shown = run_on_pty(["hash", "-s", "sha256-crypt"], ["abc\n", "abc\n"])
    assert rc == 0
    h = shown.strip().splitlines()[-1].strip()
    assert h.startswith("$5$") and crypt_ok("abc", h)


def test_terminal_echo_restored(pwfile):
    """After a mismatch the terminal echoes again (the tool restored it)."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            # The shell-less child: run the tool, then report the echo flag.
            import termios
            rc = subprocess.run([str(TOOL), "hash"]).returncode
            echo = termios.tcgetattr(0)[3] & termios.ECHO
            os.write(1, f"\nRC={rc} ECHO={1 if echo else 0}\n".encode())
        finally:
            os._exit(0)
    shown = b""
    sent = 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.5)
        if not r:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
        if sent < 2 and shown.count(b"password: ") > sent:
            os.write(fd, [b"a\n", b"b\n"][sent])
            sent += 1
    os.waitpid(pid, 0)
    os.close(fd)
    assert b"RC=1 ECHO=1" in shown
