#!/usr/bin/env python3
"""The plugin SDK as a third party sees it: `make install` into a staging
folder, the examples in examples/plugins built against that staged tree
only (pkg-config, no source tree), then loaded by the real daemon."""

import json
import os
import re
import shutil
import subprocess
import tempfile

import hookdtest as h
from hookdtest import Daemon, conf, q, run_hookd, test

EXAMPLES = os.path.join(h.SRCDIR, "examples", "plugins")
# The top build folder is where hookd itself was built.
BUILDDIR = os.path.dirname(os.path.abspath(h.HOOKD_BIN))
MAKE = os.environ.get("HOOKD_MAKE") or "make"
MAKE_TIMEOUT = 120.0

# Built once by the first test, reused by the others (tests run in order),
# outside the per-test folders; the last test removes it.
ROOT = os.path.join(tempfile.gettempdir(), "hookd-sdk-%d" % os.getpid())
_sdk = {}


def run(argv, env=None, cwd=None, timeout=MAKE_TIMEOUT):
    """Run argv to completion, bounded in time (killed by PID past it);
    AssertionError with its output when it fails."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    h.context().procs.append(proc)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=5)
        raise AssertionError("%s: no result within %.0f s" % (argv, timeout))
    out = out.decode("utf-8", "replace")
    assert proc.returncode == 0, "%s: exit %d\n%s" % (argv, proc.returncode, out)
    return out


def clean_env(**extra):
    """Our environment without the outer make's flags (its jobserver is not
    ours to use) nor anything that adds include folders behind our back."""
    env = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "CPATH",
              "C_INCLUDE_PATH", "CFLAGS", "CPPFLAGS", "LDFLAGS",
              "PKG_CONFIG_PATH", "PKG_CONFIG_LIBDIR", "PKG_CONFIG_SYSROOT_DIR"):
        env.pop(k, None)
    env.update(extra)
    return env


def build_sdk():
    """Stage an install of hookd, build both examples against it; a dict
    with the staged tree, its pkg-config environment and the .so paths."""
    if _sdk:
        return _sdk
    root = ROOT
    stage = os.path.join(root, "stage")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    run([MAKE, "-C", BUILDDIR, "install", "DESTDIR=" + stage],
        env=clean_env())
    pcs = [os.path.join(d, f) for d, _, fs in os.walk(stage) for f in fs
           if f == "hookd.pc"]
    assert len(pcs) == 1, "hookd.pc in the staged install: %r" % pcs
    env = clean_env(PKG_CONFIG_PATH=os.path.dirname(pcs[0]),
                    PKG_CONFIG_LIBDIR=os.path.dirname(pcs[0]),
                    PKG_CONFIG_SYSROOT_DIR=stage,
                    # -MMD: a .d file names every header the compile read.
                    CFLAGS="-O2 -g -Werror -MMD")
    cflags = run(["pkg-config", "--cflags", "hookd"], env=env).split()
    incs = [f[2:] for f in cflags if f.startswith("-I")]
    assert incs and all(i.startswith(stage + "/") for i in incs), \
        "pkg-config --cflags hookd does not point into %s: %r" % (stage, cflags)
    plugindir = run(["pkg-config", "--variable=plugindir", "hookd"],
                    env=env).strip()
    assert plugindir.startswith(stage + "/"), plugindir
    sos = {}
    for name in ("hello", "notify"):
        # A copy away from the source tree, so no relative include can
        # reach /…/include/hookd.
        work = os.path.join(root, name)
        shutil.copytree(os.path.join(EXAMPLES, name), work)
        for f in os.listdir(work):
            if f not in ("Makefile", name + ".c"):
                os.unlink(os.path.join(work, f))  # leftovers of a manual build
        run([MAKE, "-C", work], env=env)
        so = os.path.join(work, name + ".so")
        assert os.path.isfile(so), "%s was not built" % so
        deps = open(os.path.join(work, name + ".d")).read()
        headers = [w for w in deps.replace("\\\n", " ").split()
                   if w.endswith("plugin.h")]
        assert headers and all(p.startswith(stage + "/") for p in headers), \
            "%s compiled against %r, not the staged header" % (name, headers)
        assert os.path.join(h.SRCDIR, "include") not in deps, deps
        # make install (DESTDIR empty: the sysroot already points into the
        # staging tree) lands in the staged plugindir.
        run([MAKE, "-C", work, "install"], env=env)
        assert os.path.isfile(os.path.join(plugindir, name + ".so")), \
            os.listdir(plugindir)
        sos[name] = so
    _sdk.update(root=root, stage=stage, plugindir=plugindir, sos=sos)
    return _sdk


@test("make install DESTDIR stages the SDK; both examples build against "
      "it alone with pkg-config and export only hookd_plugin_entry",
      timeout=180)
def build_examples():
    sdk = build_sdk()
    for name, so in sdk["sos"].items():
        out = run(["nm", "-D", "--defined-only", so], timeout=20)
        syms = [ln.split()[-1] for ln in out.splitlines()
                if len(ln.split()) == 3 and ln.split()[1] in "TDBRVWGS"]
        assert syms == ["hookd_plugin_entry"], \
            "%s exports %r, want only hookd_plugin_entry" % (name, syms)


def need_sdk():
    if not _sdk:
        h.skip("the examples were not built (see the first test)")
    return _sdk


@test("hello: a 'plugin' log line per event from host->log, attempt ok")
def hello_logs():
    so = need_sdk()["sos"]["hello"]
    with Daemon(conf("""
handlers = { hi = { plugin = %s; }; };
routes = ( { events = ["*"]; handlers = ["hi"]; } );
""" % q(so))) as d:
        ids = [d.publish({"type": "greet.me", "data": {"n": i}})["id"]
               for i in range(2)]
        for eid in ids:
            rec = d.wait_log(msg="plugin", handler="hi",
                             detail=lambda v, e=eid: v is not None and e in v)[0]
            assert rec["level"] == "info", rec
            assert rec["detail"] == "hello: event %s of type greet.me " \
                "(attempt 1)" % eid, rec
        oks = d.wait_log(count=2, msg="attempt", outcome="ok", target="hi")
        assert sorted(r["event"] for r in oks) == sorted(ids), oks


@test("notify: appends the rendered template per event (and the default "
      "template), a fail_every RETRY comes back after its retry hint")
def notify_appends():
    sdk = need_sdk()
    # The installed copy: once by its path, once by its plugin name (found
    # in the staged plugindir that the examples' `make install` filled).
    so = os.path.join(sdk["plugindir"], "notify.so")
    t = h.tmpdir()
    out, plain = os.path.join(t, "out.log"), os.path.join(t, "plain.log")
    with Daemon(conf("""
handlers = {
  n = { plugin = %s; path = %s; line = "{{type}}:{{data.user}}:{{attempt}}";
        fail_every = 2; };
  p = { plugin = "notify"; path = %s; };
};
routes = ( { events = ["*"]; handlers = ["n", "p"]; retry = [0.05, 0.05]; } );
""" % (q(so), q(out), q(plain))), plugin_dir=sdk["plugindir"]) as d:
        a = d.publish({"type": "user.login", "data": {"user": "ada"}})["id"]
        d.wait_log(msg="attempt", event=a, target="n", outcome="ok")
        b = d.publish({"type": "user.logout", "data": {"user": "bob"}})["id"]
        # Call 2 of handler n is the simulated failure: retried, then ok.
        recs = d.wait_log(count=2, msg="attempt", event=b, target="n")
        assert [r["outcome"] for r in recs] == ["retry", "ok"], recs
        assert recs[0]["reason"] == "notify: simulated failure (call 2)", recs
        assert int(recs[0]["retry_in_ms"]) >= 200, recs[0]
        gap = h.ts_ms(recs[1]) - h.ts_ms(recs[0])
        assert gap >= 199, "retried after %d ms, hint was 200" % gap
        assert h.wait_lines(out, 2) == ["user.login:ada:1",
                                        "user.logout:bob:2"]
        assert sorted(h.wait_lines(plain, 2)) == sorted(
            ["user.login " + a, "user.logout " + b])
        assert d.records(msg="dead") == []


@test("notify: an unwritable path is a RETRY with the error and the hint")
def notify_write_fails():
    so = need_sdk()["sos"]["notify"]
    bad = os.path.join(h.tmpdir(), "no-such-dir", "out.log")
    with Daemon(conf("""
handlers = { n = { plugin = %s; path = %s; }; };
routes = ( { events = ["*"]; handlers = ["n"]; retry = [0.05]; } );
""" % (q(so), q(bad)))) as d:
        eid = d.publish({"type": "x"})["id"]
        dead = d.wait_log(msg="dead", event=eid)[0]
        recs = d.records(msg="attempt", event=eid)
        assert [r["outcome"] for r in recs] == ["retry", "retry"], recs
        assert recs[0]["reason"] == "notify: %s: No such file or directory" \
            % bad, recs[0]
        assert int(recs[0]["retry_in_ms"]) >= 200, recs[0]
        assert dead["attempts"] == "2", dead


@test("notify: settings errors reach --check-config as FILE:LINE (missing "
      "path from the key table; bad values from create())")
def notify_check_config():
    so = need_sdk()["sos"]["notify"]
    cases = [
        ('n = { plugin = %s; line = "{{id}}"; };',
         "handler 'n': plugin 'notify' requires key 'path'"),
        ('n = { plugin = %s; path = ""; };',
         "path: set it to the file to append to"),
        ('n = { plugin = %s; path = "relative.log"; };',
         "path: 'relative.log' is not absolute"),
        ('n = { plugin = %s; path = "/tmp/x"; line = "{{nope}}"; };',
         "line: "),
        ('n = { plugin = %s; path = "/tmp/x"; fail_every = -1; };',
         "fail_every: must be 0 (never) or more, not -1"),
    ]
    for k, (handler, want) in enumerate(cases):
        path = os.path.join(h.tmpdir(), "case%d.conf" % k)
        with open(path, "w") as f:
            f.write('server = { listen = "127.0.0.1:0"; };\n'
                    'handlers = {\n'
                    '  %s\n'
                    '};\n'
                    'routes = ( { events = ["*"]; handlers = ["n"]; } );\n'
                    % (handler % q(so)))
        r = run_hookd(["--check-config", "-c", path,
                       "--plugin-dir", h.PLUGIN_DIR])
        assert r.returncode == 1, (handler, r)
        diags = [ln for ln in r.stderr.splitlines() if ln.strip()]
        prefix = path + ":3: "
        assert any(ln.startswith(prefix) and want in ln for ln in diags), \
            "want %r%s in:\n%s" % (prefix, want, r.stderr)
    ok = os.path.join(h.tmpdir(), "ok.conf")
    with open(ok, "w") as f:
        f.write('server = { listen = "127.0.0.1:0"; };\n'
                'handlers = { n = { plugin = %s; path = "/tmp/x"; }; };\n'
                'routes = ( { events = ["*"]; handlers = ["n"]; } );\n' % q(so))
    r = run_hookd(["--check-config", "-c", ok, "--plugin-dir", h.PLUGIN_DIR])
    assert r.returncode == 0 and "configuration OK" in r.stdout, r


DOC = os.path.join(h.SRCDIR, "docs", "writing-plugins.md")


def walkthrough():
    """The walk-through section of docs/writing-plugins.md: its C blocks
    joined into one file, its hookd.conf block, its compile command."""
    text = open(DOC, encoding="utf-8").read()
    start = text.index("## Walk-through")
    section = text[start:text.index("\n## ", start + 1)]
    blocks = re.findall(r"```(\w*)\n(.*?)```", section, re.S)
    c = "".join(body for lang, body in blocks if lang == "c")
    confs = [body for lang, body in blocks if lang == "" and "routes" in body]
    sh = [body for lang, body in blocks if lang == "sh" and "cc " in body]
    assert c and len(confs) == 1 and len(sh) == 1, blocks
    cc = sh[0].split("\n")[0:2]
    return c, confs[0], " ".join(ln.rstrip("\\ ") for ln in cc)


@test("docs/writing-plugins.md walk-through: its code, put together, builds "
      "with its own cc line against the staged SDK (-Werror); its config "
      "routes an event into a file; a relative dir is the FILE:LINE error "
      "the page shows; a missing folder ends the delivery dead", timeout=120)
def doc_walkthrough():
    sdk = need_sdk()
    code, config, cc = walkthrough()
    work = os.path.join(sdk["root"], "spool")
    os.makedirs(work, exist_ok=True)
    with open(os.path.join(work, "spool.c"), "w") as f:
        f.write(code)
    pcdir = os.path.dirname(
        [os.path.join(d, f) for d, _, fs in os.walk(sdk["stage"]) for f in fs
         if f == "hookd.pc"][0])
    env = clean_env(PKG_CONFIG_PATH=pcdir, PKG_CONFIG_LIBDIR=pcdir,
                    PKG_CONFIG_SYSROOT_DIR=sdk["stage"])
    assert cc.startswith("cc -shared -fPIC"), cc
    run(["sh", "-c", cc + " -Werror"], env=env, cwd=work)
    so = os.path.join(work, "spool.so")
    assert os.path.isfile(so), os.listdir(work)

    # The page's configuration, with its folder moved into the test's own.
    spool = os.path.join(h.tmpdir(), "orders")
    os.makedirs(spool)
    body = config.replace('"/var/spool/hookd-orders"', q(spool)) \
                 .replace('plugin = "spool"', "plugin = %s" % q(so))
    assert q(spool) in body and q(so) in body, body
    bad = os.path.join(h.tmpdir(), "relative.conf")
    with open(bad, "w") as f:
        f.write(config.replace('"/var/spool/hookd-orders"', '"orders"')
                      .replace('plugin = "spool"', "plugin = %s" % q(so)))
    r = run_hookd(["--check-config", "-c", bad, "--plugin-dir", h.PLUGIN_DIR])
    want = "%s:5: handler 'archive': dir must be an absolute path: orders" % bad
    assert r.returncode == 1 and want in r.stderr, (want, r)

    with Daemon(conf(body)) as d:
        eid = d.publish({"type": "order.paid",
                         "data": {"order": "A-1001", "amount": 4200}})["id"]
        rec = d.wait_log(msg="attempt", event=eid)[0]
        assert rec["outcome"] == "ok" and rec["target"] == "archive", rec
        with open(os.path.join(spool, eid + ".json")) as f:
            env_doc = json.loads(f.read())
        assert env_doc["id"] == eid and env_doc["type"] == "order.paid", env_doc
        assert env_doc["data"] == {"order": "A-1001", "amount": 4200}, env_doc
        shutil.rmtree(spool)
        eid = d.publish({"type": "order.paid", "data": {"order": "A-1002"}})["id"]
        dead = d.wait_log(msg="dead", event=eid)[0]
        rec = d.records(msg="attempt", event=eid)[-1]
        assert rec["outcome"] == "fail", rec
        assert rec["reason"].endswith("No such file or directory"), rec
        assert dead["attempts"] == "1", dead


@test("clean-up of the staged SDK")
def cleanup():
    if os.environ.get("HOOKD_KEEP_TMP") != "1":
        shutil.rmtree(ROOT, ignore_errors=True)
        assert not os.path.exists(ROOT), ROOT


if __name__ == "__main__":
    h.main()
