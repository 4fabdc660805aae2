"""The root monitor keeps its own limits on the pre-auth process: a
subverted pre-auth process (simulated here with gdb and SIGSTOP) gets no
more password checks than max_login_failures, and no more time than the
login timeout allows."""
import os
import signal
import subprocess

from pop3util import Closed, Pop3, procs_by_uid, wait_until
from test_privsep import postern_ids


def preauth_of(s):
    pu, _ = postern_ids()
    # Right after a plain greeting (the master may send it) a spare that
    # took the client is "postern-spare" for a moment, not yet a session.
    wait_until(lambda: len(procs_by_uid(s, pu)) == 1, 5)
    pre = procs_by_uid(s, pu)
    assert len(pre) == 1, pre
    return pre[0]


def test_monitor_stops_answering_after_max_login_failures(server_factory):
    """The pre-auth process's own limit is lifted in its memory (as code
    running there could do); the monitor still ends the session when a
    fourth password comes after three failures."""
    s = server_factory(extra_conf="max_login_failures = 3\n").start()
    c = Pop3(s.port)
    try:
        pre = preauth_of(s)
        r = subprocess.run(["gdb", "-p", str(pre), "-batch", "-nx",
                            "-ex", "set var 'master.c'::M.cfg.max_login_failures = 100"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        for _ in range(3):
            assert c.cmd("USER ptalice").startswith("+OK")
            assert c.cmd("PASS wrong").startswith("-ERR [AUTH]")
        assert c.cmd("USER ptalice").startswith("+OK")
        try:
            answer = c.cmd("PASS wrong")
        except Closed:
            answer = ""
        assert answer == "", answer
        assert wait_until(lambda: "tried again after 3 failed logins" in s.logtext(), 5), \
            s.logtext()
        assert wait_until(lambda: s.children() == [], 5)
    finally:
        c.close()


def test_monitor_ends_a_preauth_process_that_overruns_the_login_timeout(server_factory):
    """A stopped pre-auth process keeps no timeout of its own; the monitor
    kills it after login_timeout plus its margin."""
    s = server_factory(extra_conf="login_timeout = 2s\n").start()
    c = Pop3(s.port)
    try:
        pre = preauth_of(s)
        os.kill(pre, signal.SIGSTOP)
        assert wait_until(lambda: "outlived the login timeout" in s.logtext(), 20), \
            s.logtext()
        assert wait_until(lambda: s.children() == [], 5)
        assert wait_until(lambda: not os.path.exists(f"/proc/{pre}"), 5)
    finally:
        c.close()


def test_monitor_ends_a_preauth_process_that_withholds_the_handover(server_factory):
    """Issue 13 finding 5: a pre-auth process that sends its credentials
    and then no hand-over (stopped here by gdb right at the second sendmsg,
    the hand-over behind IPC_AUTH) must not hold the root monitor and its
    session slot for ever: the same deadline and SIGKILL as every other
    request."""
    s = server_factory(extra_conf="login_timeout = 2s\nlogin_fail_delay = 0\n").start()
    c = Pop3(s.port)
    g = None
    try:
        pre = preauth_of(s)
        g = subprocess.Popen(["gdb", "-p", str(pre), "-batch", "-nx",
                              "-ex", "break sendmsg", "-ex", "ignore 1 1",
                              "-ex", "echo READY\\n", "-ex", "continue",
                              "-ex", f"shell kill -STOP {pre}", "-ex", "detach"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out = ""
        for line in g.stdout:
            out += line
            if "READY" in line:
                break
        assert "READY" in out, out
        assert c.cmd("USER ptalice").startswith("+OK")
        c.send("PASS wrong\r\n")
        rest, _ = g.communicate(timeout=60)
        assert g.returncode == 0, out + rest
        assert "Breakpoint 1" in rest, out + rest
        # The pre-auth process is stopped with the hand-over unsent.
        assert wait_until(lambda: open(f"/proc/{pre}/stat").read().split()[2] == "T", 5)
        assert wait_until(lambda: "outlived the login timeout" in s.logtext(), 30), \
            s.logtext()
        assert wait_until(lambda: not os.path.exists(f"/proc/{pre}"), 5)
        assert wait_until(lambda: s.children() == [], 5)
    finally:
        if g and g.poll() is None:
            g.kill()
            g.wait()
        c.close()
