"""Real POP3 clients over STLS and implicit TLS, each verifying the server
certificate against the test CA by the name mail.test, each fetching one
message that must arrive byte-identical (after CRLF -> LF)."""
import glob
import os
import poplib
import pwd
import re
import socket
import ssl
import subprocess
import tempfile

import pytest

from tlsutil import MESSAGE, PASSWORD, client_ctx, lf, sessions_gone, tls_server, wait_log

MODES = ["stls", "implicit"]


@pytest.fixture
def srv(server_factory, test_ca):
    s = tls_server(server_factory, test_ca, names=("mail.test", "other.test"))
    s.start()
    s.maildirs["ptalice"].add(MESSAGE)
    return s


@pytest.fixture
def work():
    d = tempfile.mkdtemp(prefix="postern-cl-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    subprocess.run(["rm", "-rf", d])


def port_for(srv, mode):
    return srv.tls_port if mode == "implicit" else srv.port


def check_login_logged(srv, user="ptalice", method=None):
    m = wait_log(srv, rf"login: user=<{user}> rip=127\.0\.0\.1 lport=\d+ "
                      rf"tls=(TLSv1\.[23])/(\S+) method=(\S+)")
    if method:
        assert m.group(3) == method, m.group(0)
    return m


def untouched(srv):
    """The client kept the message (keep/no delete)."""
    sessions_gone(srv)
    assert srv.maildirs["ptalice"].contents() == [MESSAGE]


# ---- Python poplib ----

class LoopPOP3(poplib.POP3):
    """poplib connecting to 127.0.0.1 while naming the server mail.test,
    so the certificate name is checked for real."""
    def _create_socket(self, timeout):
        return socket.create_connection(("127.0.0.1", self.port), timeout)


class LoopPOP3_SSL(poplib.POP3_SSL):
    def _create_socket(self, timeout):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout)
        return self.context.wrap_socket(sock, server_hostname=self.host)


def poplib_connect(srv, mode, ctx, name="mail.test"):
    if mode == "implicit":
        return LoopPOP3_SSL(name, srv.tls_port, context=ctx, timeout=10)
    p = LoopPOP3(name, srv.port, timeout=10)
    p.stls(context=ctx)
    return p


@pytest.mark.parametrize("mode", MODES)
def test_poplib(srv, test_ca, mode):
    p = poplib_connect(srv, mode, client_ctx(test_ca["ca"]))
    assert p.getwelcome().startswith(b"+OK")
    assert "STLS" not in p.capa()
    p.user("ptalice")
    p.pass_(PASSWORD)
    resp, lines, octets = p.retr(1)
    assert b"\n".join(lines) + b"\n" == MESSAGE
    assert octets == len(MESSAGE) + MESSAGE.count(b"\n")   # CRLF size
    p.quit()
    check_login_logged(srv, method="USER")
    untouched(srv)


@pytest.mark.parametrize("mode", MODES)
def test_poplib_rejects_wrong_name(srv, test_ca, mode):
    """The verification in these tests is real: another name fails."""
    with pytest.raises(ssl.SSLCertVerificationError):
        poplib_connect(srv, mode, client_ctx(test_ca["ca"]), name="wrong.test")


def test_poplib_large_message(srv, test_ca):
    """A 6 MB message through the TLS relay, byte for byte."""
    big = b"Subject: big\n\n" + b"".join(
        b"%07d " % i + (b"." if i % 7 == 0 else b"") + b"x" * (i % 200) + b"\n"
        for i in range(60000))
    srv.maildirs["ptbob"].add(big)
    p = poplib_connect(srv, "implicit", client_ctx(test_ca["ca"]))
    p.user("ptbob")
    p.pass_(PASSWORD)
    _, lines, _ = p.retr(1)
    assert b"\n".join(lines) + b"\n" == big
    p.quit()


# ---- fetchmail ----

def fetchmail(work, port, ca, tls_opts, extra=""):
    home = os.path.join(work, "fm")
    out = os.path.join(work, "out")
    os.makedirs(home, exist_ok=True)
    os.makedirs(out, exist_ok=True)
    deliver = os.path.join(work, "deliver.sh")
    with open(deliver, "w") as f:
        f.write('#!/bin/sh\ncat > "$1/msg.$$"\n')
    os.chmod(deliver, 0o755)
    rc = os.path.join(home, "fetchmailrc")
    with open(rc, "w") as f:
        f.write(f'set no syslog\n'
                f'poll 127.0.0.1 with proto POP3 service {port} auth password\n'
                f'  user "ptalice" there with password "{PASSWORD}" is "root" here\n'
                f'  {tls_opts} sslcertck sslcertfile "{ca}" sslcommonname "mail.test"\n'
                f'  fetchall keep {extra}\n'
                f'  mda "{deliver} {out}"\n')
    os.chmod(rc, 0o600)
    env = dict(os.environ, HOME=home, FETCHMAILHOME=home)
    r = subprocess.run(["fetchmail", "-f", rc, "--nodetach", "--invisible",
                        "--idfile", os.path.join(home, "ids"),
                        "--pidfile", os.path.join(home, "pid"), "-v"],
                       env=env, capture_output=True, text=True, timeout=60)
    msgs = []
    for p in sorted(glob.glob(os.path.join(out, "msg.*"))):
        with open(p, "rb") as f:
            msgs.append(f.read())
    return r, msgs


@pytest.mark.parametrize("mode", MODES)
def test_fetchmail(srv, test_ca, work, mode):
    tls_opts = "ssl" if mode == "implicit" else 'sslproto "tls1.2+"'
    r, msgs = fetchmail(work, port_for(srv, mode), test_ca["ca"], tls_opts)
    assert r.returncode == 0, r.stdout + r.stderr
    if mode == "stls":
        assert "STLS" in r.stdout + r.stderr
    assert msgs == [MESSAGE], r.stdout + r.stderr
    check_login_logged(srv)
    untouched(srv)


def test_fetchmail_wrong_ca_fails(srv, test_ca, work):
    """sslcertck really checks: the CA of another world is refused."""
    r, msgs = fetchmail(work, srv.tls_port, "/etc/ssl/certs/ca-certificates.crt", "ssl")
    assert r.returncode != 0 and msgs == []
    assert "login:" not in srv.logtext()


# ---- getmail6 ----

def test_getmail_ssl(srv, test_ca, work):
    nobody = pwd.getpwnam("nobody")
    md = os.path.join(work, "gmdest")
    for sub in ("", "/cur", "/new", "/tmp"):
        os.makedirs(md + sub, exist_ok=True)
        os.chown(md + sub, nobody.pw_uid, nobody.pw_gid)
    gmdir = os.path.join(work, "getmail")
    os.makedirs(gmdir)
    rc = os.path.join(gmdir, "rc")
    with open(rc, "w") as f:
        f.write(f"[retriever]\ntype = SimplePOP3SSLRetriever\nserver = 127.0.0.1\n"
                f"port = {srv.tls_port}\nusername = ptalice\npassword = {PASSWORD}\n"
                f"ca_certs = {test_ca['ca']}\nssl_cert_hostname = mail.test\n"
                f"[destination]\ntype = Maildir\npath = {md}/\nuser = nobody\n"
                f"[options]\nread_all = true\ndelete = false\ndelivered_to = false\n"
                f"received = false\nverbose = 1\n")
    os.chmod(rc, 0o600)
    r = subprocess.run(["getmail", "--rcfile", rc, "--getmaildir", gmdir],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    got = []
    for p in glob.glob(md + "/new/*") + glob.glob(md + "/cur/*"):
        with open(p, "rb") as f:
            got.append(f.read())
    assert got == [MESSAGE], r.stdout + r.stderr
    check_login_logged(srv)
    untouched(srv)


# ---- mpop ----

def mpop(work, port, ca, starttls, auth="user", user="ptalice", password=PASSWORD,
         host_override="mail.test"):
    home = os.path.join(work, "mp")
    md = os.path.join(work, "mpdest")
    for sub in ("", "/cur", "/new", "/tmp"):
        os.makedirs(md + sub, exist_ok=True)
    os.makedirs(home, exist_ok=True)
    rc = os.path.join(home, "mpoprc")
    with open(rc, "w") as f:
        f.write(f"account default\nhost 127.0.0.1\nport {port}\nuser {user}\n"
                f'password "{password}"\nauth {auth}\ntls on\n'
                f"tls_starttls {'on' if starttls else 'off'}\ntls_trust_file {ca}\n"
                f"tls_host_override {host_override}\ntimeout 30\n"
                f"delivery maildir {md}\nkeep on\nonly_new off\n"
                f"uidls_file {home}/uidls\nreceived_header off\n")
    os.chmod(rc, 0o600)
    r = subprocess.run(["mpop", "-C", rc, "-q"], env=dict(os.environ, HOME=home),
                       capture_output=True, text=True, timeout=60)
    got = []
    for p in glob.glob(md + "/new/*") + glob.glob(md + "/cur/*"):
        with open(p, "rb") as f:
            got.append(f.read())
    return r, got


@pytest.mark.parametrize("mode", MODES)
def test_mpop(srv, test_ca, work, mode):
    r, got = mpop(work, port_for(srv, mode), test_ca["ca"], mode == "stls")
    assert r.returncode == 0, r.stdout + r.stderr
    assert got == [MESSAGE], r.stdout + r.stderr
    check_login_logged(srv, method="USER")
    untouched(srv)


@pytest.mark.parametrize("mode", MODES)
def test_mpop_sasl_plain(srv, test_ca, work, mode):
    """mpop (GNU SASL) with AUTH PLAIN after TLS."""
    r, got = mpop(work, port_for(srv, mode), test_ca["ca"], mode == "stls", auth="plain")
    assert r.returncode == 0, r.stdout + r.stderr
    assert got == [MESSAGE]
    check_login_logged(srv, method="PLAIN")


def test_mpop_wrong_name_fails(srv, test_ca, work):
    r, got = mpop(work, srv.tls_port, test_ca["ca"], False, host_override="wrong.test")
    assert r.returncode != 0 and got == []


# ---- curl ----

def curl(srv, test_ca, mode, path="/1", extra=()):
    if mode == "implicit":
        url = f"pop3s://mail.test:{srv.tls_port}{path}"
        port = srv.tls_port
    else:
        url = f"pop3://mail.test:{srv.port}{path}"
        port = srv.port
        extra = ("--ssl-reqd",) + tuple(extra)
    return subprocess.run(["curl", "-sS", "--max-time", "30", "--cacert", test_ca["ca"],
                           "--resolve", f"mail.test:{port}:127.0.0.1",
                           "-u", f"ptalice:{PASSWORD}", *extra, url],
                          capture_output=True, timeout=60)


@pytest.mark.parametrize("mode", MODES)
def test_curl(srv, test_ca, mode):
    r = curl(srv, test_ca, mode)
    assert r.returncode == 0, r.stderr
    assert lf(r.stdout) == MESSAGE
    check_login_logged(srv)
    untouched(srv)


@pytest.mark.parametrize("mode", MODES)
def test_curl_tls12_list(srv, test_ca, mode):
    """TLS 1.2 exactly, and the LIST path."""
    r = curl(srv, test_ca, mode, path="/", extra=("--tlsv1.2", "--tls-max", "1.2"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"1 %d\r\n" % (len(MESSAGE) + MESSAGE.count(b"\n"))
    m = check_login_logged(srv)
    assert m.group(1) == "TLSv1.2"


# ---- openssl s_client ----

def s_client_fetch(srv, test_ca, mode):
    args = ["openssl", "s_client", "-quiet", "-crlf", "-ign_eof", "-verify_return_error",
            "-CAfile", test_ca["ca"], "-servername", "mail.test",
            "-verify_hostname", "mail.test"]
    if mode == "implicit":
        args += ["-connect", f"127.0.0.1:{srv.tls_port}"]
    else:
        args += ["-connect", f"127.0.0.1:{srv.port}", "-starttls", "pop3"]
    script = f"USER ptalice\nPASS {PASSWORD}\nRETR 1\nQUIT\n".encode()
    return subprocess.run(args, input=script, capture_output=True, timeout=30)


@pytest.mark.parametrize("mode", MODES)
def test_openssl_s_client(srv, test_ca, mode):
    r = s_client_fetch(srv, test_ca, mode)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    m = re.search(rb"\+OK \d+ octets\r\n", out)
    assert m, out
    body = out[m.end():].split(b"\r\n.\r\n", 1)
    assert len(body) == 2 and body[1].startswith(b"+OK"), out
    unstuffed = b"".join(l[1:] if l.startswith(b".") else l
                         for l in (body[0] + b"\r\n").splitlines(keepends=True))
    assert lf(unstuffed) == MESSAGE
    check_login_logged(srv)
    untouched(srv)


# ---- Perl Net::POP3 ----

PERL = r'''
use strict; use warnings; use Net::POP3;
my ($port, $ca, $mode, $out, $pw, $name) = @ARGV;
my %ssl = (SSL_ca_file => $ca, SSL_hostname => $name, SSL_verifycn_name => $name,
           SSL_verifycn_scheme => 'default', SSL_verify_mode => 1);
my $pop;
if ($mode eq 'implicit') {
    $pop = Net::POP3->new('127.0.0.1', Port => $port, Timeout => 30, SSL => 1, %ssl)
        or die "connect: $@\n";
} else {
    $pop = Net::POP3->new('127.0.0.1', Port => $port, Timeout => 30) or die "connect: $@\n";
    $pop->starttls(%ssl) or die "starttls: " . ($IO::Socket::SSL::SSL_ERROR // '') . "\n";
}
defined $pop->login('ptalice', $pw) or die "login failed\n";
my $lines = $pop->get(1) or die "get failed\n";
open(my $f, '>:raw', $out) or die;
print $f @$lines;
close $f;
$pop->quit or die "quit failed\n";
print "done\n";
'''


@pytest.mark.parametrize("mode", MODES)
def test_perl_net_pop3(srv, test_ca, work, mode):
    out = os.path.join(work, "perl.out")
    r = subprocess.run(["perl", "-e", PERL, str(port_for(srv, mode)), test_ca["ca"], mode,
                        out, PASSWORD, "mail.test"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == "done\n", r.stdout + r.stderr
    with open(out, "rb") as f:
        assert lf(f.read()) == MESSAGE
    check_login_logged(srv, method="USER")
    untouched(srv)


@pytest.mark.parametrize("mode", MODES)
def test_perl_net_pop3_wrong_name(srv, test_ca, work, mode):
    out = os.path.join(work, "perl.out")
    r = subprocess.run(["perl", "-e", PERL, str(port_for(srv, mode)), test_ca["ca"], mode,
                        out, PASSWORD, "wrong.test"], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0, r.stdout + r.stderr
    assert not os.path.exists(out)


# ---- inetd mode ----

def test_inetd_implicit_tls(server_factory, test_ca):
    s = tls_server(server_factory, test_ca).start_inetd(implicit_tls=True)
    s.maildirs["ptalice"].add(MESSAGE)
    p = LoopPOP3_SSL("mail.test", s.tls_port, context=client_ctx(test_ca["ca"]), timeout=10)
    p.user("ptalice")
    p.pass_(PASSWORD)
    _, lines, _ = p.retr(1)
    assert b"\n".join(lines) + b"\n" == MESSAGE
    p.quit()
    check_login_logged(s)


def test_inetd_stls(server_factory, test_ca):
    s = tls_server(server_factory, test_ca).start_inetd()
    s.maildirs["ptalice"].add(MESSAGE)
    p = LoopPOP3("mail.test", s.port, timeout=10)
    p.stls(context=client_ctx(test_ca["ca"]))
    p.user("ptalice")
    p.pass_(PASSWORD)
    _, lines, _ = p.retr(1)
    assert b"\n".join(lines) + b"\n" == MESSAGE
    p.quit()
    check_login_logged(s)
