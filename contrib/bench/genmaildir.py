#!/usr/bin/python3
"""genmaildir.py - seeded Maildir generator for the postern benchmark.

Writes OUT/NAME/Maildir/{cur,new,tmp} (for each --mailbox) with COUNT realistic messages
(RFC 5322 headers, text bodies, some base64 attachments; sizes 2 KB-200 KB,
log-normal-ish; LF line ends; some body lines start with '.'), or with one
message of exactly --single-size bytes.  File names are Maildir style:
  <time>.M<usec>P<pid>Q<n>.benchhost,S=<size>:2,<flags>   in cur/
  <time>.M<usec>P<pid>Q<n>.benchhost,S=<size>             in new/ (about 10%)
(no ,W= field, so servers must compute the CRLF size themselves).

Also writes OUT/NAME.manifest: one line per message,
  <unique name> <octets with CRLF line ends, before dot-stuffing> <md5 of that>
which loadgen --manifest uses to check LIST sizes and RETR content.

The output depends only on --seed, NAME and the size parameters, so every
server gets identical data.  A stamp file OUT/NAME.stamp makes reruns
with the same parameters a no-op.
"""
import argparse
import hashlib
import math
import os
import random
import shutil
import sys

WORDS = ("the of and to in is that for it as was with be by on not he this are or his from at which but have "
         "an had they you were their one all we can her has there been if more when will would who so no "
         "mail server message delivery queue mailbox account password invoice meeting schedule report "
         "project release version update please thanks regards attached review budget quarter customer "
         "support ticket issue resolved pending network storage backup restore monday tuesday friday "
         "weekend office remote travel hotel flight agenda minutes draft final approved signature").split()

FIRST = "alice bob carol dave erin frank grace heidi ivan judy mallory niaj olivia peggy rupert sybil trent victor walter".split()
DOMAINS = "example.com example.org example.net mail.example.com lists.example.org".split()


def make_text_corpus(rng, nbytes):
    """Lines of wrapped words; ~1% of lines start with '.' (incl. '.', '..')."""
    lines = []
    total = 0
    while total < nbytes:
        r = rng.random()
        if r < 0.004:
            line = "."
        elif r < 0.007:
            line = ".."
        elif r < 0.012:
            line = "." + " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 8)))
        elif r < 0.06:
            line = ""
        elif r < 0.08:
            line = "> " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 11)))
        else:
            words = []
            ln = 0
            target = rng.randint(40, 76)
            while ln < target:
                w = rng.choice(WORDS)
                words.append(w)
                ln += len(w) + 1
            line = " ".join(words)
            if rng.random() < 0.3:
                line = line.capitalize() + "."
        lines.append(line + "\n")
        total += len(line) + 1
    return "".join(lines).encode("ascii")


def make_b64_corpus(rng, nbytes):
    import base64
    raw = rng.randbytes(nbytes * 3 // 4)
    enc = base64.b64encode(raw)
    return b"".join(enc[i:i + 76] + b"\n" for i in range(0, len(enc), 76))


def line_starts(buf):
    starts = [0]
    i = buf.find(b"\n")
    while i != -1:
        starts.append(i + 1)
        i = buf.find(b"\n", i + 1)
    return starts


def take_lines(rng, corpus, starts, nbytes):
    """A run of whole lines from the corpus, about nbytes long."""
    import bisect
    nbytes = max(1, min(nbytes, len(corpus) // 2))
    i = rng.randrange(0, len(starts) - 1)
    a = starts[i]
    if a + nbytes >= len(corpus):
        a = 0
    j = bisect.bisect_left(starts, a + nbytes)
    b = starts[min(j, len(starts) - 1)]
    if b <= a:
        b = starts[1]
    return corpus[a:b]


def crlf_size(data):
    n = len(data) + data.count(b"\n")
    if data and not data.endswith(b"\n"):
        n += 2
    return n


_CORPUS = {}


class Gen:
    def __init__(self, seed, name):
        self.rng = random.Random("%s/%s" % (seed, name))
        if seed not in _CORPUS:
            crng = random.Random("%s/corpus" % seed)
            text = make_text_corpus(crng, 4 << 20)
            b64 = make_b64_corpus(crng, 2 << 20)
            _CORPUS[seed] = (text, line_starts(text), b64, line_starts(b64))
        self.text, self.text_starts, self.b64, self.b64_starts = _CORPUS[seed]

    def size(self):
        # log-normal, median ~9 KB, clamped to 2 KB-200 KB
        s = int(math.exp(self.rng.gauss(math.log(9000), 1.1)))
        return max(2048, min(200 * 1024, s))

    def headers(self, n, t):
        r = self.rng
        frm = "%s.%s@%s" % (r.choice(FIRST), r.choice(FIRST), r.choice(DOMAINS))
        to = "%s@%s" % (r.choice(FIRST), r.choice(DOMAINS))
        subj = " ".join(r.choice(WORDS) for _ in range(r.randint(2, 9))).capitalize()
        import email.utils
        date = email.utils.formatdate(t, localtime=False)
        h = [
            "Return-Path: <%s>" % frm,
            "Delivered-To: %s" % to,
            "Received: from mx%d.%s (mx%d.%s [192.0.2.%d])\n\tby benchhost (Postfix) with ESMTPS id %08X\n\tfor <%s>; %s"
            % (r.randint(1, 9), r.choice(DOMAINS), r.randint(1, 9), r.choice(DOMAINS), r.randint(1, 254),
               r.getrandbits(32), to, date),
            "Received: from [198.51.100.%d] by mx.%s with ESMTPSA; %s" % (r.randint(1, 254), r.choice(DOMAINS), date),
            "Date: %s" % date,
            "From: %s" % frm,
            "To: %s" % to,
            "Subject: %s" % subj,
            "Message-ID: <%d.%08x@%s>" % (t, r.getrandbits(32), r.choice(DOMAINS)),
            "MIME-Version: 1.0",
        ]
        return h

    def message(self, n, t):
        r = self.rng
        target = self.size()
        h = self.headers(n, t)
        if target > 30000 and r.random() < 0.5:
            bnd = "=_bench_%08x" % r.getrandbits(32)
            h.append('Content-Type: multipart/mixed; boundary="%s"' % bnd)
            head = ("\n".join(h) + "\n\n").encode()
            text = take_lines(r, self.text, self.text_starts, r.randint(500, 4000))
            att_len = max(1000, target - len(head) - len(text) - 300)
            att = take_lines(r, self.b64, self.b64_starts, att_len)
            body = (b"This is a multi-part message in MIME format.\n\n--" + bnd.encode() +
                    b"\nContent-Type: text/plain; charset=us-ascii\n\n" + text +
                    b"\n--" + bnd.encode() +
                    b"\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n"
                    b'Content-Disposition: attachment; filename="file%d.bin"\n\n' % n + att +
                    b"--" + bnd.encode() + b"--\n")
        else:
            h.append("Content-Type: text/plain; charset=us-ascii")
            head = ("\n".join(h) + "\n\n").encode()
            body = take_lines(r, self.text, self.text_starts, max(200, target - len(head)))
        return head + body


def single_message(seed, size):
    """One message of exactly `size` bytes (LF line ends), built from blocks."""
    rng = random.Random("%s/single/%d" % (seed, size))
    head = ("Return-Path: <big@example.com>\nDate: Mon, 01 Jan 2024 00:00:00 +0000\n"
            "From: big@example.com\nTo: bench@example.org\nSubject: big message %d bytes\n"
            "Message-ID: <big%d@example.com>\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=us-ascii\n\n" % (size, size)).encode()
    block = make_text_corpus(rng, 1 << 20)
    block = block[:block.rfind(b"\n") + 1]
    return head, block


def write_single(path, seed, size):
    head, block = single_message(seed, size)
    md = hashlib.md5()
    octets = 0
    with open(path, "wb") as f:
        def put(b):
            nonlocal octets
            f.write(b)
            c = b.replace(b"\n", b"\r\n")
            md.update(c)
            octets += len(c)
        put(head)
        left = size - len(head)
        bc = block.replace(b"\n", b"\r\n")
        while left > len(block):
            f.write(block)
            md.update(bc)
            octets += len(bc)
            left -= len(block)
        tail = block[:left - 1] + b"\n" if left > 0 else b""
        if left > 0:
            put(tail)
    return octets, md.hexdigest()


def generate(out, name, count, single_size, seed, new_fraction, md5):
    stamp = os.path.join(out, name + ".stamp")
    want = "v2 seed=%s count=%d single=%d new=%g md5=%d\n" % (seed, count, single_size, new_fraction,
                                                             1 if md5 else 0)
    try:
        with open(stamp) as f:
            if f.read() == want:
                return
    except OSError:
        pass
    top = os.path.join(out, name)
    if os.path.exists(top):
        shutil.rmtree(top)
    md = os.path.join(top, "Maildir")
    for d in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(md, d))
    man = []
    rng = random.Random("%s/%s/names" % (seed, name))
    t0 = 1700000000
    pid = rng.randint(1000, 60000)
    if single_size:
        uniq = "%d.M%dP%dQ1.benchhost" % (t0, 1, pid)
        tmp = os.path.join(md, "tmp", uniq)
        octets, h = write_single(tmp, seed, single_size)
        fn = "%s,S=%d:2," % (uniq, os.path.getsize(tmp))
        os.rename(tmp, os.path.join(md, "cur", fn))
        man.append("%s %d %s\n" % (uniq, octets, h))
    else:
        g = Gen(seed, name)
        t = t0
        for i in range(1, count + 1):
            t += rng.randint(0, 120)
            usec = rng.randint(0, 999999)
            data = g.message(i, t)
            uniq = "%d.M%dP%dQ%d.benchhost" % (t, usec, pid, i)
            base = "%s,S=%d" % (uniq, len(data))
            if rng.random() < new_fraction:
                path = os.path.join(md, "new", base)
            else:
                flags = rng.choice(["", "", "S", "S", "RS", "FS"])
                path = os.path.join(md, "cur", base + ":2," + flags)
            with open(path, "wb") as f:
                f.write(data)
            os.utime(path, (t, t))
            if md5:
                man.append("%s %d %s\n" % (uniq, crlf_size(data),
                                          hashlib.md5(data.replace(b"\n", b"\r\n")).hexdigest()))
            else:
                man.append("%s %d\n" % (uniq, crlf_size(data)))
    with open(os.path.join(out, name + ".manifest"), "w") as f:
        f.writelines(man)
    with open(stamp, "w") as f:
        f.write(want)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", help="one mailbox: its name (with --count or --single-size)")
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--single-size", type=int, default=0)
    ap.add_argument("--mailbox", action="append", default=[], metavar="NAME:COUNT|NAME:=SIZE",
                    help="several mailboxes in one go: NAME:COUNT (messages) or NAME:=SIZE (one message)")
    ap.add_argument("--seed", default="postern-bench-1")
    ap.add_argument("--new-fraction", type=float, default=0.1)
    ap.add_argument("--no-md5", action="store_true", help="manifest without MD5 (faster)")
    a = ap.parse_args()
    specs = []
    if a.name:
        specs.append((a.name, a.count, a.single_size))
    for m in a.mailbox:
        name, _, v = m.partition(":")
        specs.append((name, 0, int(v[1:])) if v.startswith("=") else (name, int(v), 0))
    if not specs:
        ap.error("--name or --mailbox needed")
    for name, count, single in specs:
        generate(a.out, name, count, single, a.seed, a.new_fraction, not a.no_md5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
