"""PROXY protocol v1/v2 and per-listener options (issue 16).

A postern master with a plain, an ssl=required and a proxy=yes plain
listener, and a proxy=yes implicit-TLS listener, behind Debian's real
HAProxy (send-proxy and send-proxy-v2, started on loopback with a generated
config and stopped by pid).  Clients bind to 127.0.0.x so the address in the
header differs from HAProxy's (127.0.0.1, the only trusted peer besides
127.0.0.64/26, the test's own "balancer" addresses for crafted headers).
Checked: logins through every kind of listener with the client's address in
the log; a remote address in the header is held to the remote plaintext
policy and the per-source limits although the TCP peer is loopback; an
untrusted peer and a missing, malformed, truncated, over-long or slow header
close the connection with a log line while the master keeps serving; the
bytes after the header (a POP3 command, a TLS ClientHello) reach the
session; `postern -i -P`; `-T` and `-t`."""
import os
import re
import shutil
import socket
import struct
import subprocess
import time

import pytest

from conftest import POSTERN, free_port, wait_port
from tlsutil import Pop, client_ctx, tls_server, wait_for, wait_log

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"   # contrib/install-deps.sh
V2SIG = b"\r\n\r\n\x00\r\nQUIT\n"
PLAINTEXT_REFUSED = "-ERR [AUTH] plaintext authentication is not allowed"


def v1(src, dst=None, sport=40000, dport=110):
    fam = "TCP6" if ":" in src else "TCP4"
    dst = dst or ("::1" if fam == "TCP6" else "127.0.0.1")
    return f"PROXY {fam} {src} {dst} {sport} {dport}\r\n".encode()


def v2(src, dst="127.0.0.1", sport=40000, dport=110, command=1, tlvs=b""):
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack(">HH", sport, dport)
    body += tlvs
    fam = 0x11 if command == 1 else 0x00
    if command == 0:
        body = b""
    return V2SIG + bytes([0x20 | command, fam]) + struct.pack(">H", len(body)) + body


def ssl_tlv(version=b"TLSv1.3", cipher=b"TLS_AES_128_GCM_SHA256"):
    sub = (b"\x21" + struct.pack(">H", len(version)) + version +
           b"\x23" + struct.pack(">H", len(cipher)) + cipher)
    val = b"\x01" + struct.pack(">I", 0) + sub
    return b"\x20" + struct.pack(">H", len(val)) + val


class PPop(Pop):
    """tlsutil.Pop from a chosen source address, sending `header` first."""

    def __init__(self, port, source=None, header=b"", tls_ctx=None, greeting=True,
                 timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.buf = b""
        self.tls = False
        if header:
            self.sock.sendall(header)
        if tls_ctx is not None:
            self.wrap(tls_ctx)
        self.greeting = self.line() if greeting else None

    def closed(self, timeout=10.0):
        """True when the server closes without a byte."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(100) == b""
        except ConnectionResetError:
            return True


@pytest.fixture
def setup(server_factory, test_ca):
    """(server, ports, ca): a started server and HAProxy in front of it."""
    s = tls_server(server_factory, test_ca)
    pp, rq, ptls = (free_port(s.port, s.tls_port) for _ in range(3))
    while len({s.port, s.tls_port, pp, rq, ptls}) < 5:
        pp, rq, ptls = (free_port(s.port, s.tls_port) for _ in range(3))
    extra = (f"listen = 127.0.0.1:{s.port}, 127.0.0.1:{pp} proxy=yes, "
             f"127.0.0.1:{rq} ssl=required\n"
             f"listen_tls = 127.0.0.1:{s.tls_port}, 127.0.0.1:{ptls} proxy=yes\n"
             "proxy_trusted = 127.0.0.1/32 127.0.0.64/26\n"
             "proxy_timeout = 1s\n")
    with open(s.conf, "a") as f:
        f.write(extra)
    s.start()
    ports = {"plain": s.port, "proxy": pp, "required": rq, "tls": s.tls_port,
             "proxy_tls": ptls}
    return s, ports, test_ca["ca"]


@pytest.fixture
def haproxy(setup, tmp_path):
    """Real HAProxy: frontends v1 and v2 to the proxy=yes plain listener,
    tls (v2) to the proxy=yes implicit-TLS one.  Yields their ports."""
    s, ports, _ = setup
    fe = {}
    for name in ("v1", "v2", "tls"):
        fe[name] = free_port(*ports.values(), *fe.values())
    back = {"v1": (ports["proxy"], "send-proxy"), "v2": (ports["proxy"], "send-proxy-v2"),
            "tls": (ports["proxy_tls"], "send-proxy-v2")}
    text = ("global\n\tmaxconn 200\n"
            "defaults\n\tmode tcp\n\ttimeout connect 5s\n\ttimeout client 30s\n"
            "\ttimeout server 30s\n")
    for name, (port, send) in back.items():
        text += (f"frontend fe_{name}\n\tbind 127.0.0.1:{fe[name]}\n\tdefault_backend be_{name}\n"
                 f"backend be_{name}\n\tsource 127.0.0.1\n"
                 f"\tserver postern 127.0.0.1:{port} {send}\n")
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(text)
    proc = subprocess.Popen([HAPROXY, "-db", "-f", str(cfg)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        for p in fe.values():
            wait_port("127.0.0.1", p)
        yield fe
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def login_and_quit(c, user="ptalice"):
    assert c.greeting.startswith("+OK"), c.greeting
    c.login(user)
    assert c.cmd("STAT").startswith("+OK")
    assert c.cmd("QUIT").startswith("+OK")
    c.sock.close()


@pytest.mark.parametrize("fe,src", [("v1", "127.0.0.5"), ("v2", "127.0.0.6")])
def test_haproxy_plain(setup, haproxy, fe, src):
    s, _, _ = setup
    login_and_quit(PPop(haproxy[fe], source=src))
    wait_log(s, rf"proxied: rip={src} via=127\.0\.0\.1")
    wait_log(s, rf"login: user=<ptalice> rip={src} .*tls=plaintext")


def test_haproxy_stls(setup, haproxy):
    s, _, ca = setup
    c = PPop(haproxy["v2"], source="127.0.0.7")
    assert c.greeting.startswith("+OK")
    c.stls(client_ctx(ca))
    c.login()
    assert c.cmd("QUIT").startswith("+OK")
    wait_log(s, r"login: user=<ptalice> rip=127\.0\.0\.7 .*tls=TLSv1\.3")


def test_haproxy_implicit_tls(setup, haproxy):
    """The header comes before the ClientHello; HAProxy passes the TLS bytes
    on untouched and the pre-auth process finds them in the socket."""
    s, _, ca = setup
    c = PPop(haproxy["tls"], source="127.0.0.8", tls_ctx=client_ctx(ca))
    login_and_quit(c)
    wait_log(s, r"login: user=<ptalice> rip=127\.0\.0\.8 .*tls=TLSv1\.3")


def test_remote_address_held_to_remote_policy(setup):
    """HAProxy (here: a trusted test client on 127.0.0.1) is on loopback, but
    the client it speaks for is not: no USER/PASS before TLS."""
    s, ports, ca = setup
    # Direct from loopback: plaintext is allowed (loopback_is_local).
    c = PPop(ports["plain"])
    assert c.cmd("USER ptalice").startswith("+OK")
    c.sock.close()
    for hdr in (v1("192.0.2.10"), v2("192.0.2.11"), v1("2001:db8::12")):
        c = PPop(ports["proxy"], header=hdr)
        assert c.cmd("USER ptalice").startswith(PLAINTEXT_REFUSED)
        c.stls(client_ctx(ca))
        c.login()
        assert c.cmd("QUIT").startswith("+OK")
    wait_log(s, r"login: user=<ptalice> rip=192\.0\.2\.10 .*tls=TLSv1")
    wait_log(s, r"login: user=<ptalice> rip=192\.0\.2\.11 .*tls=TLSv1")
    wait_log(s, r"login: user=<ptalice> rip=2001:db8::12 .*tls=TLSv1")
    # A loopback address in the header is local again.
    c = PPop(ports["proxy"], header=v2("127.0.0.20"))
    assert c.cmd("USER ptalice").startswith("+OK")


def test_remote_address_per_source_limits(setup):
    """max_sessions_per_source counts the address in the header, not the
    balancer's: two sessions of 192.0.2.20 fill its share, 192.0.2.21 still
    gets in, and the refusal names 192.0.2.20."""
    s, ports, _ = setup
    with open(s.conf, "a") as f:
        f.write("max_sessions_per_source = 2\n")
    s.proc.send_signal(1)
    wait_log(s, "configuration reloaded")
    held = [PPop(ports["proxy"], header=v2("192.0.2.20")) for _ in range(2)]
    assert all(h.greeting.startswith("+OK") for h in held)
    third = PPop(ports["proxy"], header=v2("192.0.2.20"))
    assert third.greeting.startswith("-ERR [SYS/TEMP] too many connections")
    other = PPop(ports["proxy"], header=v2("192.0.2.21"))
    assert other.greeting.startswith("+OK")
    wait_log(s, r"connection refused: rip=192\.0\.2\.20 limit=max_sessions_per_source")
    assert "rip=127.0.0.1 limit=max_sessions_per_source" not in s.logtext()


def test_untrusted_source_refused(setup):
    s, ports, _ = setup
    for port in (ports["proxy"], ports["proxy_tls"]):
        c = PPop(port, source="127.0.0.9", header=v2("192.0.2.30"), greeting=False)
        assert c.closed()
    wait_log(s, r"connection refused: rip=127\.0\.0\.9 limit=proxy_trusted")
    assert "rip=192.0.2.30" not in s.logtext()
    # The master serves on.
    login_and_quit(PPop(ports["proxy"], header=v2("127.0.0.21")))


BAD = [
    ("missing", "127.0.0.65", b"USER ptalice\r\n", False, "not a PROXY protocol header"),
    ("v1 malformed", "127.0.0.66", b"PROXY TCP4 1.2.3.4 5.6.7.8 x 110\r\n", False, None),
    ("v1 bad address", "127.0.0.67", b"PROXY TCP4 1.2.3.400 5.6.7.8 1 110\r\n", False, None),
    ("v2 bad version", "127.0.0.68", V2SIG + b"\x11\x11\x00\x0c" + b"\0" * 12, False, None),
    ("v2 bad family", "127.0.0.69", V2SIG + b"\x21\x71\x00\x0c" + b"\0" * 12, False, None),
    ("v1 over-long", "127.0.0.70", b"PROXY TCP4 " + b"1" * 120, False, None),
    ("v2 over-long", "127.0.0.71", V2SIG + b"\x21\x11\xff\xff", False, None),
    ("truncated", "127.0.0.72", v2("192.0.2.40")[:20], True, "closed before the header"),
    ("slow", "127.0.0.73", v1("192.0.2.41")[:10], False, "no complete header within"),
]


@pytest.mark.parametrize("name,src,data,shut,reason", BAD, ids=[b[0] for b in BAD])
def test_bad_header_closes(setup, name, src, data, shut, reason):
    s, ports, _ = setup
    c = PPop(ports["proxy"], source=src, greeting=False)
    c.sock.sendall(data)
    if shut:
        c.sock.shutdown(socket.SHUT_WR)
    assert c.closed(), name
    m = wait_log(s, rf"PROXY header refused: rip={src.replace('.', '[.]')} reason=([^(]+)")
    if reason:
        assert reason in m.group(1), m.group(0)
    assert "192.0.2.4" not in s.logtext()
    # No session was started for it, and the master keeps serving.
    login_and_quit(PPop(ports["proxy"], header=v1("127.0.0.22")))


def test_bytes_after_header_stay(setup):
    """Header and first command in one segment: the command is answered."""
    s, ports, _ = setup
    c = PPop(ports["proxy"], header=v2("127.0.0.23") + b"CAPA\r\n")
    assert c.greeting.startswith("+OK")
    assert c.line().startswith("+OK")
    assert "USER" in c.multi()
    c.sock.close()
    # v1 too, with the whole login pipelined behind the header.
    c = PPop(ports["proxy"], header=v1("127.0.0.24") + b"USER ptalice\r\nPASS s3cret pass\r\n")
    assert c.line().startswith("+OK") and c.line().startswith("+OK")
    assert c.cmd("QUIT").startswith("+OK")
    wait_log(s, r"login: user=<ptalice> rip=127\.0\.0\.24 ")


def test_v2_local_and_ssl_tlv(setup):
    """LOCAL (a health check) keeps the socket's own addresses; the SSL TLV
    is logged."""
    s, ports, _ = setup
    c = PPop(ports["proxy"], source="127.0.0.74", header=v2("0.0.0.0", command=0))
    assert c.greeting.startswith("+OK")
    assert c.cmd("QUIT").startswith("+OK")
    wait_log(s, r"proxied: rip=127\.0\.0\.74 via=127\.0\.0\.74\n")
    c = PPop(ports["proxy"], header=v2("127.0.0.25", tlvs=ssl_tlv()))
    login_and_quit(c)
    wait_log(s, r"proxied: rip=127\.0\.0\.25 via=127\.0\.0\.1 "
             r"proxy_ssl=TLSv1\.3/TLS_AES_128_GCM_SHA256")


def test_listener_ssl_required(setup):
    """ssl=required on one plain port refuses USER before STLS; the plain
    port beside it (global ssl = optional) takes it from loopback."""
    s, ports, ca = setup
    c = PPop(ports["required"])
    assert c.cmd("USER ptalice").startswith(PLAINTEXT_REFUSED)
    assert "USER" not in c.capa()
    c.stls(client_ctx(ca))
    c.login()
    assert c.cmd("QUIT").startswith("+OK")
    c = PPop(ports["plain"])
    assert "USER" in c.capa()
    login_and_quit(c)


def test_no_proxy_listener_takes_no_header(setup):
    """A header on a listener without proxy=yes is just a bad command."""
    s, ports, _ = setup
    c = PPop(ports["plain"], header=v1("192.0.2.50"))
    assert c.line().startswith("-ERR")
    login_and_quit(PPop(ports["plain"]))
    assert "192.0.2.50" not in s.logtext()


def sock_closed(c, timeout=10.0):
    """The server closed c without a byte (a reset: it left unread data)."""
    c.settimeout(timeout)
    try:
        return c.recv(100) == b""
    except ConnectionResetError:
        return True


def inetd_once(s, args, source=None, header=b""):
    """One `postern -i` on a fresh loopback connection; returns the client."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    c = socket.create_connection(ls.getsockname(), source_address=(source, 0) if source else None)
    conn, _ = ls.accept()
    ls.close()
    p = subprocess.Popen([POSTERN, "-f", s.conf, "-d", "-i", *args], stdin=conn.fileno(),
                         stdout=conn.fileno(), stderr=s.logf)
    conn.close()
    if header:
        c.sendall(header)
    return c, p


def test_inetd_proxy(setup):
    s, _, _ = setup
    c, p = inetd_once(s, ["-P"], header=v1("192.0.2.60") + b"USER ptalice\r\n")
    f = c.makefile("rb")
    assert f.readline().startswith(b"+OK")
    assert f.readline().decode().startswith(PLAINTEXT_REFUSED)
    c.sendall(b"QUIT\r\n")
    assert f.readline().startswith(b"+OK")
    c.close()
    p.wait(10)
    wait_log(s, r"proxied: rip=192\.0\.2\.60 via=127\.0\.0\.1")
    # Untrusted peer, and a bad header: closed, logged.
    c, p = inetd_once(s, ["-P"], source="127.0.0.10", header=v1("192.0.2.61"))
    assert sock_closed(c)
    p.wait(10)
    wait_log(s, r"connection refused: rip=127\.0\.0\.10 limit=proxy_trusted")
    c, p = inetd_once(s, ["-P"], source="127.0.0.75", header=b"GARBAGE\r\n")
    assert sock_closed(c)
    p.wait(10)
    wait_log(s, r"PROXY header refused: rip=127\.0\.0\.75 reason=")
    # -i -S -P: the header, then the TLS handshake on the same socket.
    c, p = inetd_once(s, ["-S", "-P"], header=v2("192.0.2.62"))
    t = client_ctx(setup[2]).wrap_socket(c, server_hostname="mail.test")
    f = t.makefile("rb")
    assert f.readline().startswith(b"+OK")
    t.sendall(b"USER ptalice\r\n")
    assert f.readline().startswith(b"+OK")
    t.sendall(b"PASS s3cret pass\r\n")
    assert f.readline().startswith(b"+OK")
    t.sendall(b"QUIT\r\n")
    assert f.readline().startswith(b"+OK")
    t.close()
    p.wait(10)
    wait_log(s, r"login: user=<ptalice> rip=192\.0\.2\.62 .*tls=TLSv1")
    # -P without -i is a usage error.
    r = subprocess.run([POSTERN, "-f", s.conf, "-P"], capture_output=True, text=True)
    assert r.returncode == 2


def test_print_and_check(setup, tmp_path):
    s, ports, _ = setup
    r = subprocess.run([POSTERN, "-f", s.conf, "-T"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"127.0.0.1:{ports['proxy']} proxy=yes" in r.stdout
    assert f"127.0.0.1:{ports['required']} ssl=required" in r.stdout
    assert f"127.0.0.1:{ports['proxy_tls']} proxy=yes" in r.stdout
    assert "proxy_trusted = 127.0.0.1/32 127.0.0.64/26\n" in r.stdout
    assert "proxy_timeout = 1s\n" in r.stdout
    bad = tmp_path / "bad.conf"
    for text, msg in (("proxy_trusted =\n", "proxy=yes needs proxy_trusted"),
                      ("proxy_trusted = 10.0.0.1/8\n", "bad network '10.0.0.1/8'"),
                      ("listen = *:110 ssl=sometimes\n", "ssl=required or ssl=optional")):
        bad.write_text(open(s.conf).read() + text)
        r = subprocess.run([POSTERN, "-f", str(bad), "-t"], capture_output=True, text=True)
        assert r.returncode == 1 and msg in r.stderr, r.stderr


def test_fail2ban_filter(setup, tmp_path):
    """The filter of the checkout bans an untrusted PROXY sender and, behind
    the balancer, the client address from the header; it never matches the
    lines that name the trusted balancer."""
    s, ports, _ = setup
    c = PPop(ports["proxy"], source="127.0.0.11", header=v2("192.0.2.70"), greeting=False)
    assert c.closed()
    c = PPop(ports["proxy"], source="127.0.0.76", greeting=False)
    c.sock.sendall(b"NOT A HEADER\r\n")
    assert c.closed()
    c = PPop(ports["proxy"], header=v2("192.0.2.71"))
    c.stls(client_ctx(setup[2]))
    assert c.cmd("USER ptalice").startswith("+OK")
    assert c.cmd("PASS wrong").startswith("-ERR")
    wait_log(s, r"auth failed: user=<ptalice> rip=192\.0\.2\.71 ")
    wait_log(s, r"PROXY header refused: rip=127\.0\.0\.76 ")
    lines = [l for l in s.logtext().splitlines() if l.startswith("postern[")]
    stamp = time.strftime("%b %d %H:%M:%S", time.localtime())
    log = tmp_path / "mail.log"
    log.write_text("".join(f"{stamp} mailhost {l}\n" for l in lines))
    filt = os.path.join(os.path.dirname(__file__), "..", "..", "contrib", "fail2ban",
                        "filter.d", "postern.conf")
    r = subprocess.run(["fail2ban-regex", "--print-all-matched", str(log), filt],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"Lines: (\d+) lines, \d+ ignored, (\d+) matched", r.stdout)
    assert m and int(m.group(2)) == 2, r.stdout
    hits = r.stdout.split("Matched line(s):")[1].split("Missed line(s):")[0]
    assert "rip=127.0.0.11 limit=proxy_trusted" in hits, r.stdout
    assert "rip=192.0.2.71 method=USER" in hits, r.stdout
    assert "PROXY header refused" not in hits and "proxied:" not in hits, r.stdout


def test_systemd_socket_takes_options_by_port(setup, tmp_path):
    """A socket systemd passes (LISTEN_FDS) gets proxy= from the listen line
    with its port: a header is read on it, a missing one refused."""
    s, _, _ = setup
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    port = ls.getsockname()[1]
    conf = tmp_path / "sd.conf"
    conf.write_text(open(s.conf).read() + f"listen = 127.0.0.1:{port} proxy=yes\n"
                    "listen_tls =\n")
    log = open(tmp_path / "sd.log", "wb")
    fd = ls.fileno()

    def preexec():
        os.dup2(fd, 3)
        os.environ["LISTEN_PID"] = str(os.getpid())
        os.environ["LISTEN_FDS"] = "1"
    p = subprocess.Popen([POSTERN, "-f", str(conf), "-d"], stdout=log, stderr=log,
                         preexec_fn=preexec, pass_fds=(3,) if fd != 3 else ())
    ls.close()
    try:
        c = PPop(port, header=v2("192.0.2.80"))
        assert c.greeting.startswith("+OK")
        assert c.cmd("USER ptalice").startswith(PLAINTEXT_REFUSED)
        c.sock.close()
        c = PPop(port, source="127.0.0.77", greeting=False)
        c.sock.sendall(b"USER ptalice\r\n")
        assert c.closed()
        text = lambda: open(tmp_path / "sd.log", errors="replace").read()  # noqa: E731
        wait_for(lambda: "PROXY header refused: rip=127.0.0.77" in text())
        assert "using 1 socket(s) from systemd" in text()
        assert "proxied: rip=192.0.2.80 via=127.0.0.1" in text()
    finally:
        p.terminate()
        p.wait(10)
