#!/usr/bin/env python3
"""`hookd --check-config`, data-driven.

Each tests/data/config/<case>.conf starts with comment lines that say what
hookd must report:

    # expect: LINE: TEXT     a diagnostic "FILE:LINE: ..." containing TEXT
    # expect-ok              exit 0 and "FILE: configuration OK"
    # expect-count: N        exactly N diagnostics (lines on stderr)
    # env: NAME=VALUE        set NAME in hookd's environment
    # unset: NAME            remove NAME from hookd's environment

@TEST_PLUGIN_DIR@ and @PLUGIN_DIR@ (in the file and in the expectations)
become the folders of the test plugins and of the built-in plugins; the
runner checks a substituted copy, so FILE is that copy's path.
"""

import os
import re

import hookdtest as h
from hookdtest import register, run_hookd, test

DATA = os.path.join(h.SRCDIR, "tests", "data", "config")


def substitute(text):
    return (text.replace("@TEST_PLUGIN_DIR@", h.TEST_PLUGIN_DIR)
                .replace("@PLUGIN_DIR@", h.PLUGIN_DIR))


def parse_case(path):
    """The header of a case file: a dict of expectations."""
    case = {"expect": [], "ok": False, "count": None, "env": {}}
    for line in open(path, encoding="utf-8").read().splitlines():
        if not line.startswith("#"):
            break
        m = re.match(r"#\s*expect:\s*(\d+):\s?(.*)$", line)
        if m:
            case["expect"].append((int(m.group(1)), substitute(m.group(2))))
            continue
        if re.match(r"#\s*expect-ok\s*$", line):
            case["ok"] = True
            continue
        m = re.match(r"#\s*expect-count:\s*(\d+)\s*$", line)
        if m:
            case["count"] = int(m.group(1))
            continue
        m = re.match(r"#\s*env:\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line)
        if m:
            case["env"][m.group(1)] = m.group(2)
            continue
        m = re.match(r"#\s*unset:\s*([A-Za-z_][A-Za-z0-9_]*)\s*$", line)
        if m:
            case["env"][m.group(1)] = None
            continue
        assert not re.match(r"#\s*(expect|env|unset)", line), \
            "%s: malformed header line %r" % (path, line)
    assert case["ok"] != bool(case["expect"]), \
        "%s: needs either '# expect-ok' or '# expect: LINE: TEXT' lines" % path
    return case


def check_copy(name, text, env=None):
    """Write text as <tmp>/name and run --check-config on it."""
    path = os.path.join(h.tmpdir(), name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    r = run_hookd(["--check-config", "-c", path, "--plugin-dir", h.PLUGIN_DIR],
                  timeout=20, env=env)
    return path, r


def run_case(name):
    src = os.path.join(DATA, name)
    case = parse_case(src)
    path, r = check_copy(name, substitute(open(src, encoding="utf-8").read()),
                         case["env"])
    diags = [ln for ln in r.stderr.splitlines() if ln.strip()]
    if case["ok"]:
        assert r.returncode == 0, "exit %d; stderr:\n%s" % (r.returncode, r.stderr)
        assert r.stdout == "%s: configuration OK\n" % path, r.stdout
        assert diags == [], diags
        return
    assert r.returncode == 1, "exit %d; stdout %r; stderr:\n%s" % (
        r.returncode, r.stdout, r.stderr)
    assert "configuration OK" not in r.stdout, r.stdout
    # Every problem is reported as FILE:LINE: message.
    for ln in diags:
        assert re.match(re.escape(path) + r":\d+: \S", ln), \
            "not a FILE:LINE: message: %r" % ln
    missing = []
    for line, text in case["expect"]:
        prefix = "%s:%d: " % (path, line)
        if not any(d.startswith(prefix) and text in d[len(prefix):]
                   for d in diags):
            missing.append("%d: %s" % (line, text))
    assert not missing, "not reported:\n  %s\nstderr was:\n  %s" % (
        "\n  ".join(missing), "\n  ".join(diags))
    if case["count"] is not None:
        assert len(diags) == case["count"], \
            "want %d diagnostics, got %d:\n  %s" % (case["count"], len(diags),
                                                    "\n  ".join(diags))


def case_names():
    return sorted(n for n in os.listdir(DATA) if n.endswith(".conf"))


for _name in case_names():
    register(lambda n=_name: run_case(n), "check-config %s" % _name[:-5], 20)


@test("several errors in one file are all listed, each on its own line")
def all_errors_listed():
    src = os.path.join(DATA, "several_errors.conf")
    case = parse_case(src)
    path, r = check_copy("several.conf", substitute(open(src).read()))
    assert r.returncode == 1, r
    diags = r.stderr.splitlines()
    lines = sorted({int(d[len(path) + 1:].split(":")[0]) for d in diags})
    want = sorted({n for n, _ in case["expect"]})
    assert len(want) >= 5, want
    assert lines == want, "errors reported on lines %s, expected %s:\n%s" % (
        lines, want, r.stderr)


@test("a configuration file that cannot be read: exit 1, named in the message")
def missing_file():
    path = os.path.join(h.tmpdir(), "nope", "hookd.conf")
    r = run_hookd(["--check-config", "-c", path, "--plugin-dir", h.PLUGIN_DIR])
    assert r.returncode == 1, r
    assert r.stderr.startswith(path + ":"), r.stderr
    assert "cannot read" in r.stderr, r.stderr
    assert "configuration OK" not in r.stdout, r.stdout


@test("an @include is read relative to the configuration's folder; errors "
      "in it name the included file and its line")
def include_relative():
    t = h.tmpdir()
    with open(os.path.join(t, "routes.inc"), "w") as f:
        f.write('# included\nroutes = ( { events = ["*"];\n'
                '  handlers = ["ghost"]; } );\n')
    path, r = check_copy("main.conf", 'server = { listen = "127.0.0.1:0"; };\n'
                         '@include "routes.inc"\n')
    inc = os.path.join(t, "routes.inc")
    assert r.returncode == 1, r
    assert "unknown handler 'ghost'" in r.stderr, r.stderr
    assert r.stderr.startswith(inc + ":3: ") or \
        r.stderr.startswith("routes.inc:3: "), r.stderr


@test("every config case is listed in tests/integration/Makefile.am.inc")
def cases_distributed():
    mk = open(os.path.join(h.SRCDIR, "tests", "integration",
                           "Makefile.am.inc")).read()
    missing = [n for n in case_names()
               if "tests/data/config/%s" % n not in mk]
    assert not missing, "not in EXTRA_DIST: %s" % missing
    assert len(case_names()) >= 30, case_names()


if __name__ == "__main__":
    h.main()
