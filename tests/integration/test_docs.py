"""The documentation in step with the code: every configuration key of
src/config.c's key table is described in postern.conf(5) and listed in
etc/postern.conf, with the defaults `postern -T` prints; README's settings
table states the same defaults; every option in the usage text of postern,
postern-passwd and postern-deliver has an entry in its man page (and the
man page no entry the program lacks); and every man page is clean under
`mandoc -T lint -W warning` and `groff -ww`.

The defaults are compared through the daemon itself: the documented value
is written to a configuration and `postern -T` must print the same line as
for an empty one, so "10m" in a page and "600s" in the output agree."""
import os
import re
import subprocess

import pytest

from conftest import POSTERN, TOP

MAN = os.path.join(TOP, "man")
PAGES = ["postern.8", "postern-passwd.8", "postern-deliver.8", "postern.conf.5"]
# Keys whose unset value is "none" and that `postern -T` prints only when
# set (printing them loads the certificates).
UNSET_KEYS = {"ssl_cert", "ssl_key"}


def read(*path):
    with open(os.path.join(TOP, *path)) as f:
        return f.read()


def table_keys():
    """The key names of config.c's table, in its order."""
    src = read("src", "config.c")
    table = src.split("static const struct key keys[] = {")[1].split("};")[0]
    keys = re.findall(r'^\s*\{ "(\w+)", K_\w+,', table, re.M)
    assert len(keys) > 30, keys
    return keys


def settings(tmp_path, text, name="c.conf"):
    """`postern -T` of a configuration holding text: {key: value}."""
    p = tmp_path / name
    p.write_text(text)
    r = subprocess.run([POSTERN, "-f", str(p), "-T"], capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 0, (text, r.stderr)
    out = {}
    for line in r.stdout.splitlines():
        key, sep, value = line.partition(" = ")
        if not sep and line.endswith(" ="):
            key, value = line[:-2], ""
        out[key] = value
    return out


@pytest.fixture(scope="module")
def defaults(tmp_path_factory):
    return settings(tmp_path_factory.mktemp("docs"), "")


def same_as_default(tmp_path, defaults, key, value):
    """Does `key = value` give what the daemon uses when key is unset?"""
    got = settings(tmp_path, f"{key} = {value}\n", f"{key}.conf")
    return got.get(key) == defaults.get(key)


def test_print_lists_every_table_key(defaults):
    """`postern -T` (the source of the defaults below) prints every key of
    the table, in the table's order, except the unset certificate keys."""
    keys = table_keys()
    assert list(defaults) == [k for k in keys if k not in UNSET_KEYS]


def conf5_entries():
    """postern.conf(5)'s key entries: {key: text up to the next entry}."""
    man = read("man", "postern.conf.5")
    parts = re.split(r"^\.It Cm (\w+) = .*$", man, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def test_every_key_has_an_entry_in_postern_conf_5():
    keys = table_keys()
    entries = conf5_entries()
    assert [k for k in keys if k not in entries] == []
    assert [k for k in entries if k not in keys] == []   # no entry for a gone key


def man_default(body):
    """The value after "Default:" in a postern.conf(5) entry, or None."""
    m = re.search(r"Default:(?:\s*\n\.(?:Ql|Cm|Pa) (.+?) \.$| (\S+)\.$)", body, re.M)
    if not m:
        return None
    value = m.group(1) if m.group(1) is not None else m.group(2)
    value = value.replace("\\:", "").replace("\\&", "")
    return "" if value == "empty" else value


def test_postern_conf_5_defaults_are_the_daemons(tmp_path, defaults):
    entries = conf5_entries()
    missing, wrong = [], []
    for key, body in entries.items():
        value = man_default(body)
        if value is None:
            if key not in UNSET_KEYS:
                missing.append(key)
        elif not same_as_default(tmp_path, defaults, key, value):
            wrong.append((key, value, defaults.get(key)))
    assert missing == [] and wrong == []


def example_lines():
    """etc/postern.conf's setting lines, active or commented: [(key, value, active)]."""
    return [(m.group(2), m.group(3).strip(), m.group(1) == "")
            for m in re.finditer(r"^(#?)(\w+) =(.*)$", read("etc", "postern.conf"), re.M)]


def test_every_key_is_in_the_example_config():
    keys = table_keys()
    listed = [k for k, _, _ in example_lines()]
    assert [k for k in keys if k not in listed] == []
    assert [k for k in listed if k not in keys] == []


def test_example_config_loads(tmp_path, defaults):
    """The file as shipped is read by the daemon: only its active lines
    differ from the defaults."""
    got = settings(tmp_path, read("etc", "postern.conf"))
    active = {k: v for k, v, on in example_lines() if on}
    assert active == {"listen": "127.0.0.1:110"}
    assert {k: v for k, v in got.items() if defaults.get(k) != v} == active


def test_example_config_comments_out_the_defaults(tmp_path, defaults):
    """README: etc/postern.conf lists every key "commented out at their
    defaults" (the certificate paths are examples: no default exists)."""
    wrong = [(k, v, defaults.get(k)) for k, v, active in example_lines()
             if not active and k not in UNSET_KEYS
             and not same_as_default(tmp_path, defaults, k, v)]
    assert wrong == []


def readme_settings():
    """README's settings table: [(key, default)]; "(none)" is None."""
    text = read("README.md")
    table = text.split("| key | default | meaning |")[1].split("\n\n")[0]
    rows = []
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        keys = re.findall(r"`(\w+)`", cells[0])
        if cells[0].startswith("(after an address)"):
            continue        # the per-listener options, not keys of their own
        if cells[1] == "(none)":
            values = [None] * len(keys)
        else:
            # "`0` (half of `max_sessions`)": the words after the values explain.
            values = [v.strip().strip("`") for v in cells[1].split(" (")[0].split(",")]
        assert len(values) == len(keys), line
        rows += zip(keys, values)
    return rows


def test_readme_settings_defaults_are_the_daemons(tmp_path, defaults):
    rows = readme_settings()
    assert len(rows) > 20
    keys = table_keys()
    assert [k for k, _ in rows if k not in keys] == []
    wrong = []
    for key, value in rows:
        if value is None:
            if defaults.get(key, "") != "":
                wrong.append((key, "(none)", defaults[key]))
        elif not same_as_default(tmp_path, defaults, key, value):
            wrong.append((key, value, defaults.get(key)))
    assert wrong == []


def usage_text(prog):
    """The usage text a program prints (postern-deliver has no -h: its
    usage comes with a usage error)."""
    path = os.path.join(TOP, prog)
    if prog == "postern-deliver":
        r = subprocess.run([path], capture_output=True, text=True, timeout=20)
        assert r.returncode == 64
        return r.stderr
    r = subprocess.run([path, "-h"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    return r.stdout


def options(text, fl):
    """Option names ("d", "--stdin") in usage text (fl = "-") or in mdoc
    .It lines (fl = "Fl ")."""
    if fl == "-":
        short = re.findall(r"(?<![\w-])-([A-Za-z])(?![\w-])", text)
        long = re.findall(r"(?<![\w-])--([a-z][\w-]*)", text)
    else:
        short = re.findall(r"\bFl ([A-Za-z])\b", text)
        long = re.findall(r"\bFl \\-([a-z][\w-]*)", text)
    return set(short) | {"--" + o for o in long}


@pytest.mark.parametrize("prog", ["postern", "postern-passwd", "postern-deliver"])
def test_usage_options_are_in_the_man_page(prog):
    text = usage_text(prog)
    usage = options(text, "-")
    assert len(usage) >= 4, usage
    # The usage lines proper, before the option descriptions.
    head = text.split("\n\n")[0]
    head = re.split(r"^ +-", head, maxsplit=1, flags=re.M)[0]
    in_usage_lines = options(head, "-")
    man = read("man", prog + ".8")
    # The entries of the option list (postern(8) has an OPTIONS section,
    # the others list their options in DESCRIPTION).
    listed = options("\n".join(l for l in man.splitlines() if l.startswith(".It Fl ")), "Fl ")
    assert usage - listed == set()          # an option without an entry
    assert listed - usage == set()          # an entry for an option the program lacks
    synopsis = options(man.split(".Sh SYNOPSIS")[1].split("\n.Sh ")[0], "Fl ")
    # The synopsis writes "Fl t | T" for -t or -T.
    synopsis |= set(re.findall(r"\| ([A-Za-z])\b", man.split(".Sh SYNOPSIS")[1]
                               .split("\n.Sh ")[0]))
    assert in_usage_lines - synopsis == set()


def test_option_scan_finds_an_undocumented_option():
    """The options test above can fail: an undocumented option is found."""
    assert options("usage: x [-q] [--zap Z]", "-") - options(".It Fl q", "Fl ") == {"--zap"}


@pytest.mark.parametrize("page", PAGES)
def test_man_page_is_clean(page):
    path = os.path.join(MAN, page)
    r = subprocess.run(["mandoc", "-T", "lint", "-W", "warning", path], capture_output=True,
                       text=True, timeout=30)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    for macros in ("-man", "-mandoc"):
        r = subprocess.run(["groff", macros, "-ww", "-z", path], capture_output=True,
                           text=True, timeout=30)
        assert (r.returncode, r.stderr) == (0, ""), macros
