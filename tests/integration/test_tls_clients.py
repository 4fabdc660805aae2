"""Real POP3 clients over STLS and implicit TLS, each verifying the server
certificate against the test CA by the name mail.test, each fetching one
message that must arrive byte-identical (after CRLF -> LF).  fetchmail,
getmail6, mpop and curl are run by realclients.py."""
import os
import poplib
import re
import socket
import ssl
import subprocess
import tempfile

import pytest

import realclients
from realclients import TLS
from tlsutil import MESSAGE, PASSWORD, client_ctx, lf, sessions_gone, tls_server, wait_log

MODES = ["stls", "implicit"]


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

@pytest.mark.parametrize("mode", MODES)
def test_fetchmail(srv, test_ca, work, mode):
    r = realclients.fetchmail(work, port_for(srv, mode), tls=TLS(mode, test_ca["ca"]))
    assert r.returncode == 0, r.trace
    if mode == "stls":
        assert "STLS" in r.trace
    assert r.messages == [MESSAGE], r.trace
    check_login_logged(srv)
    untouched(srv)


def test_fetchmail_wrong_ca_fails(srv, test_ca, work):
    """sslcertck really checks: the CA of another world is refused."""
    r = realclients.fetchmail(work, srv.tls_port,
                              tls=TLS("implicit", "/etc/ssl/certs/ca-certificates.crt"))
    assert r.returncode != 0 and r.messages == []
    assert "login:" not in srv.logtext()


# ---- getmail6 ----

def test_getmail_ssl(srv, test_ca, work):
    r = realclients.getmail(work, srv.tls_port, tls=TLS("implicit", test_ca["ca"]))
    assert r.returncode == 0, r.trace
    assert r.messages == [MESSAGE], r.trace
    check_login_logged(srv)
    untouched(srv)


# ---- mpop ----

@pytest.mark.parametrize("mode", MODES)
def test_mpop(srv, test_ca, work, mode):
    r = realclients.mpop(work, port_for(srv, mode), tls=TLS(mode, test_ca["ca"]))
    assert r.returncode == 0, r.trace
    assert r.messages == [MESSAGE], r.trace
    check_login_logged(srv, method="USER")
    untouched(srv)


@pytest.mark.parametrize("mode", MODES)
def test_mpop_sasl_plain(srv, test_ca, work, mode):
    """mpop (GNU SASL) with AUTH PLAIN after TLS."""
    r = realclients.mpop(work, port_for(srv, mode), tls=TLS(mode, test_ca["ca"]), auth="plain")
    assert r.returncode == 0, r.trace
    assert r.messages == [MESSAGE]
    check_login_logged(srv, method="PLAIN")


def test_mpop_wrong_name_fails(srv, test_ca, work):
    r = realclients.mpop(work, srv.tls_port, tls=TLS("implicit", test_ca["ca"], "wrong.test"))
    assert r.returncode != 0 and r.messages == []


# ---- curl ----

def curl(srv, test_ca, mode, path="/1", extra=()):
    return realclients.curl(port_for(srv, mode), path, tls=TLS(mode, test_ca["ca"]),
                            extra=extra)


@pytest.mark.parametrize("mode", MODES)
def test_curl(srv, test_ca, mode):
    r = curl(srv, test_ca, mode)
    assert r.returncode == 0, r.trace
    assert lf(r.messages) == MESSAGE
    check_login_logged(srv)
    untouched(srv)


@pytest.mark.parametrize("mode", MODES)
def test_curl_tls12_list(srv, test_ca, mode):
    """TLS 1.2 exactly, and the LIST path."""
    r = curl(srv, test_ca, mode, path="/", extra=("--tlsv1.2", "--tls-max", "1.2"))
    assert r.returncode == 0, r.trace
    assert r.messages == b"1 %d\r\n" % (len(MESSAGE) + MESSAGE.count(b"\n"))
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


def perl_fetch(srv, test_ca, work, mode, name):
    """Runs PERL, which writes message 1 to the returned file."""
    out = os.path.join(work, "perl.out")
    r = subprocess.run(["perl", "-e", PERL, str(port_for(srv, mode)), test_ca["ca"], mode,
                        out, PASSWORD, name], capture_output=True, text=True, timeout=60)
    return r, out


@pytest.mark.parametrize("mode", MODES)
def test_perl_net_pop3(srv, test_ca, work, mode):
    r, out = perl_fetch(srv, test_ca, work, mode, "mail.test")
    assert r.returncode == 0 and r.stdout == "done\n", r.stdout + r.stderr
    with open(out, "rb") as f:
        assert lf(f.read()) == MESSAGE
    check_login_logged(srv, method="USER")
    untouched(srv)


@pytest.mark.parametrize("mode", MODES)
def test_perl_net_pop3_wrong_name(srv, test_ca, work, mode):
    r, out = perl_fetch(srv, test_ca, work, mode, "wrong.test")
    assert r.returncode != 0, r.stdout + r.stderr
    assert not os.path.exists(out)


# ---- inetd mode ----

def fetch_as_alice(p, s):
    """Logs in on poplib connection p to server s and fetches MESSAGE."""
    p.user("ptalice")
    p.pass_(PASSWORD)
    _, lines, _ = p.retr(1)
    assert b"\n".join(lines) + b"\n" == MESSAGE
    p.quit()
    check_login_logged(s)


def test_inetd_implicit_tls(server_factory, test_ca):
    s = tls_server(server_factory, test_ca).start_inetd(implicit_tls=True)
    s.maildirs["ptalice"].add(MESSAGE)
    fetch_as_alice(LoopPOP3_SSL("mail.test", s.tls_port, context=client_ctx(test_ca["ca"]),
                                timeout=10), s)


def test_inetd_stls(server_factory, test_ca):
    s = tls_server(server_factory, test_ca).start_inetd()
    s.maildirs["ptalice"].add(MESSAGE)
    p = LoopPOP3("mail.test", s.port, timeout=10)
    p.stls(context=client_ctx(test_ca["ca"]))
    fetch_as_alice(p, s)
