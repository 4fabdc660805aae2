"""contrib/demo.sh (make run): the demo it sets up, and every command line it
prints for plain POP3, STLS and implicit TLS (curl, mpop, fetchmail), run as
printed.  The demo runs in a temporary DEMO_DIR on free loopback ports, from
the built tree (`make all` first).  Root:
    /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/package/test_demo.py
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def free_port(*avoid):
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in avoid:
            return port


def wait_port(port, proc, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise AssertionError(f"demo exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listening on 127.0.0.1:{port}")


@pytest.fixture(scope="module")
def demo():
    if os.geteuid() != 0:
        pytest.fail("the demo needs root")
    work = tempfile.mkdtemp(prefix="postern-demotest-")
    os.chmod(work, 0o755)             # the mailbox owner walks into it
    port = free_port()
    tls_port = free_port(port)
    env = dict(os.environ, DEMO_DIR=os.path.join(work, "demo"), DEMO_PORT=str(port),
               DEMO_TLS_PORT=str(tls_port))
    out = open(os.path.join(work, "stdout"), "w+")
    err = open(os.path.join(work, "stderr"), "w+")
    proc = subprocess.Popen(["sh", "contrib/demo.sh"], cwd=TOP, env=env, stdout=out,
                            stderr=err, stdin=subprocess.DEVNULL)
    try:
        wait_port(port, proc)
        wait_port(tls_port, proc)
        out.seek(0)
        yield out.read(), port, tls_port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
        out.close()
        err.close()
        shutil.rmtree(work, ignore_errors=True)


def printed(text, section):
    """The command lines the demo printed under the heading `section`."""
    block = re.search(rf"^{section}.*\n((?:  .*\n)+)", text, re.M)
    assert block, text
    return [l.strip() for l in block.group(1).splitlines()]


@pytest.mark.parametrize("section", ["plain POP3", "STLS", "implicit TLS"])
def test_printed_lines_work(demo, section):
    text, port, tls_port = demo
    lines = printed(text, section)
    assert [l.split()[0] for l in lines] == ["curl", "mpop", "fetchmail"], lines
    want_port = tls_port if section == "implicit TLS" else port
    for line in lines:
        if line.startswith("fetchmail"):
            with open(line.split()[2]) as f:       # its run control file
                rc = f.read()
            assert re.search(rf"service {want_port}\b", rc), rc
            assert ("sslcertck" in rc) == (section != "plain POP3"), rc
        else:
            assert f":{want_port}/" in line or f"--port={want_port} " in line, line
        r = subprocess.run(["sh", "-c", line], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"{line}\n{r.stdout}\n{r.stderr}"
        if line.startswith("curl"):
            assert "Hello from postern, message 1." in r.stdout, r.stdout
        elif line.startswith("mpop"):
            assert re.search(r"\b3 messages\b", r.stdout), r.stdout
        else:
            assert re.search(r"\b3 messages for demo at 127\.0\.0\.1", r.stdout + r.stderr), r.stdout + r.stderr


def test_tls_lines_really_use_tls(demo):
    """The STLS and implicit-TLS lines fail against a server that is not the
    demo's certificate: curl with --ssl-reqd refuses a server without STLS."""
    text, port, tls_port = demo
    (curl_stls,) = [l for l in printed(text, "STLS") if l.startswith("curl")]
    # A plain server that offers no STLS: curl --ssl-reqd must give up.
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    fake = srv.getsockname()[1]
    line = curl_stls.replace(f":{port}/", f":{fake}/")
    p = subprocess.Popen(["sh", "-c", line + " --max-time 10"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    c, _ = srv.accept()
    c.sendall(b"+OK fake\r\n")
    c.recv(100)                       # CAPA
    c.sendall(b"+OK\r\nUSER\r\n.\r\n")
    rc = p.wait(timeout=30)
    c.close()
    srv.close()
    assert rc != 0
