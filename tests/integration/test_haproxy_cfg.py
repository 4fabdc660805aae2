"""contrib/haproxy/haproxy.cfg (issue 16): Debian's haproxy accepts it, it
has what the README promises (ports 110 and 995, TCP mode, PROXY v2 to
every node, leastconn, a POP3 check expecting +OK), and its port-110 half,
run for real against three fake POP3 nodes on 127.0.0.2-4, sends each
client with a PROXY v2 header carrying the client's own address, and keeps
clients away from a node whose greeting is not +OK or that is down.
The fake nodes stand in for postern until its listeners read the header."""
import os
import re
import select
import shutil
import socket
import struct
import subprocess
import threading
import time

from conftest import TOP, free_port

CFG = os.path.join(TOP, "contrib", "haproxy", "haproxy.cfg")
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"   # contrib/install-deps.sh test
V2SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def check(path):
    return subprocess.run([HAPROXY, "-c", "-f", path], capture_output=True, text=True,
                          timeout=30)


def sections(text):
    """{"frontend pop3": [lines], ...} without comments."""
    out, cur = {}, None
    for line in text.splitlines():
        line = line.split("#", 1)[0].rstrip()
        if not line:
            continue
        if not line[0].isspace():
            cur = line.strip()
            out[cur] = []
        else:
            out[cur].append(" ".join(line.split()))
    return out


def test_config_is_valid():
    r = check(CFG)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Configuration file is valid" in r.stdout + r.stderr


def test_config_check_catches_errors(tmp_path):
    """The check above can fail: a misspelt server option is refused."""
    bad = tmp_path / "bad.cfg"
    bad.write_text(open(CFG).read().replace("send-proxy-v2 check",
                                            "send-proxy-v3 check", 1))
    r = check(str(bad))
    assert r.returncode != 0
    assert "send-proxy-v3" in r.stdout + r.stderr


def test_config_has_what_the_readme_says():
    s = sections(open(CFG).read())
    assert "mode tcp" in s["defaults"]
    assert s["frontend pop3"][0].endswith(":110")
    assert s["frontend pop3s"][0].endswith(":995")
    for be, port in (("backend pop3_nodes", 110), ("backend pop3s_nodes", 995)):
        lines = s[be]
        assert "balance leastconn" in lines
        assert "option tcp-check" in lines
        assert lines.index("tcp-check expect min-recv 3 string +OK") < lines.index(
            "tcp-check send QUIT\\r\\n")
        ds = [ln for ln in lines if ln.startswith("default-server ")]
        assert len(ds) == 1 and " send-proxy-v2 " in ds[0] and " check " in ds[0]
        servers = [ln.split()[2] for ln in lines if ln.startswith("server ")]
        assert servers == [f"127.0.0.{i}:{port}" for i in (2, 3, 4)]


class FakeNode(threading.Thread):
    """A POP3 node on (host, port): reads the PROXY v2 header first, records
    it, greets with `greeting`, answers NOOP with its name, QUIT with +OK."""

    def __init__(self, host, port, name, greeting):
        super().__init__(daemon=True)
        self.name, self.greeting = name, greeting
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(64)
        self.headers = []          # (command, src, sport) per connection
        self.bad = []              # connections without a valid header
        self.stop = False

    def run(self):
        while not self.stop:
            r, _, _ = select.select([self.sock], [], [], 0.1)
            if r:
                c, _ = self.sock.accept()
                threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def recv_exact(self, c, n):
        b = b""
        while len(b) < n:
            d = c.recv(n - len(b))
            if not d:
                raise EOFError
            b += d
        return b

    def serve(self, c):
        try:
            c.settimeout(5)
            h = self.recv_exact(c, 16)
            if h[:12] != V2SIG or h[12] >> 4 != 2:
                self.bad.append(h)
                return
            body = self.recv_exact(c, struct.unpack(">H", h[14:16])[0])
            cmd = h[12] & 0xF
            if cmd == 1 and h[13] == 0x11:
                src = socket.inet_ntoa(body[0:4])
                self.headers.append(("PROXY", src, struct.unpack(">H", body[8:10])[0]))
            else:
                self.headers.append(("LOCAL" if cmd == 0 else "PROXY?", None, None))
            c.sendall(self.greeting)
            buf = b""
            while True:
                d = c.recv(1024)
                if not d:
                    return
                buf += d
                while b"\r\n" in buf:
                    line, buf = buf.split(b"\r\n", 1)
                    if line == b"QUIT":
                        c.sendall(b"+OK bye\r\n")
                        return
                    c.sendall(b"+OK " + self.name.encode() + b"\r\n")
        except (OSError, EOFError):
            pass
        finally:
            c.close()


def pop3_half(port, node_port):
    """The port-110 half of the worked config, on test ports, in the
    foreground, with a fast check interval; nothing else changed."""
    text = open(CFG).read().split("# ---- POP3S")[0]
    text = re.sub(r"^\t(log /dev/log.*|user .*|group .*|daemon)\n", "", text, flags=re.M)
    text = text.replace("bind 127.0.0.1:110", f"bind 127.0.0.1:{port}")
    text = re.sub(r"(127\.0\.0\.[234]):110", rf"\1:{node_port}", text)
    text = text.replace("inter 2s", "inter 200ms")
    assert f"127.0.0.4:{node_port}" in text and "inter 200ms" in text
    return text


def test_pop3_through_haproxy(tmp_path):
    port, node_port = free_port(), free_port()
    good = FakeNode("127.0.0.2", node_port, "node1", b"+OK node1 ready\r\n")
    sick = FakeNode("127.0.0.3", node_port, "node2", b"-ERR [SYS/TEMP] not now\r\n")
    nodes = [good, sick]                      # 127.0.0.4: nothing listens
    for n in nodes:
        n.start()
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(pop3_half(port, node_port))
    assert check(str(cfg)).returncode == 0
    proc = subprocess.Popen([HAPROXY, "-db", "-f", str(cfg)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        # Wait for the checks to mark node2 and node3 down (3 failures each).
        deadline = time.time() + 20
        while time.time() < deadline and sum(1 for h in sick.headers if h[0] == "LOCAL") < 4:
            time.sleep(0.1)
        assert good.headers and all(h[0] == "LOCAL" for h in good.headers)
        time.sleep(0.5)
        seen = []
        for _ in range(6):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                f = c.makefile("rb")
                assert f.readline() == b"+OK node1 ready\r\n"
                c.sendall(b"NOOP\r\n")
                assert f.readline() == b"+OK node1\r\n"
                c.sendall(b"QUIT\r\n")
                assert f.readline() == b"+OK bye\r\n"
                seen.append(c.getsockname()[1])
        proxied = [h for h in good.headers if h[0] == "PROXY"]
        # Each client arrived with its own address and port in the header.
        assert sorted(p for _, _, p in proxied) == sorted(seen)
        assert all(src == "127.0.0.1" for _, src, _ in proxied)
        assert not [h for h in sick.headers if h[0] != "LOCAL"]
        assert not good.bad and not sick.bad
    finally:
        proc.terminate()
        try:
            out = proc.communicate(timeout=10)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            proc.kill()
            out = proc.communicate()[0].decode(errors="replace")
        for n in nodes:
            n.stop = True
    assert "node2 is DOWN" in out and "node3 is DOWN" in out, out
