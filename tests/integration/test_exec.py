#!/usr/bin/env python3
"""The exec plugin, driven through the real daemon."""

import json
import os
import re
import signal
import time

import hookdtest as h
from hookdtest import Daemon, conf, q, qlist, test

HOOKD_VARS = {"HOOKD_EVENT_ID", "HOOKD_EVENT_TYPE", "HOOKD_EVENT_SOURCE",
              "HOOKD_ATTEMPT", "HOOKD_DELIVERY_ID", "HOOKD_TARGET"}
# What /bin/sh may add to the environment of the programs it runs.
SHELL_VARS = {"PWD", "OLDPWD", "SHLVL", "_"}


def script(name, text):
    """Write an executable /bin/sh script into the test folder; its path."""
    path = os.path.join(h.tmpdir(), name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + text)
    os.chmod(path, 0o755)
    return path


def exec_conf(command, name="x", retry=None, extra=""):
    r = "" if retry is None else " retry = [%s];" % ", ".join(str(x) for x in retry)
    return conf("""
handlers = { %s = { plugin = "exec"; command = %s; %s }; };
routes = ( { events = ["*"]; handlers = [%s];%s } );
""" % (name, qlist(command), extra, q(name), r))


@test("command templates render into argv, one word each, no shell")
def argv_rendering():
    t = h.tmpdir()
    out = os.path.join(t, "argv")
    sh = script("argv.sh", 'for a in "$@"; do printf "%%s\\n--\\n" "$a"; done > %s\n'
                % q(out))
    with Daemon(exec_conf(["/bin/sh", sh, "{{type}}", "{{data.x}}", "{{id}}",
                           "lit {{data.nested.y}}!", "{{data.missing | dflt}}",
                           "{{attempt}}", "{{target}}", "{{/data/nested/y}}",
                           "$HOME `id` *", "{{data}}", "{{source}}"],
                          name="argvh")) as d:
        data = {"x": "hello world; rm -rf /", "nested": {"y": 42}}
        d.publish({"type": "exec.argv", "id": "exec-argv-1", "data": data})
        d.wait_log(msg="attempt", event="exec-argv-1", outcome="ok")
        words = open(out).read().split("\n--\n")[:-1]
        assert words[:10] == ["exec.argv", "hello world; rm -rf /", "exec-argv-1",
                              "lit 42!", "dflt", "1", "argvh", "42",
                              "$HOME `id` *", words[9]], words
        assert json.loads(words[9]) == data, words[9]
        assert words[10:] == ["api"], words


@test("stdin is the stored envelope {id, type, timestamp, source, data}")
def stdin_envelope():
    out = os.path.join(h.tmpdir(), "stdin.json")
    sh = script("stdin.sh", "cat > %s\n" % q(out))
    with Daemon(exec_conf(["/bin/sh", sh])) as d:
        data = {"a": [1, 2, {"b": None}], "s": "\u00e9\u00e8 \"q\"", "n": 1.5}
        t0 = time.time()
        ev = d.publish({"type": "in.put", "data": data})
        d.wait_log(msg="attempt", event=ev["id"], outcome="ok")
        env = json.load(open(out, encoding="utf-8"))
        assert sorted(env) == ["data", "id", "source", "timestamp", "type"], env
        assert env["id"] == ev["id"] and env["type"] == "in.put", env
        assert env["source"] == "api" and env["data"] == data, env
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$",
                        env["timestamp"]), env
        ts = h.ts_ms({"ts": env["timestamp"]}) / 1000.0
        assert abs(ts - t0) < 60, (ts, t0)
        # An event without data gets an empty object.
        ev = d.publish({"type": "bare"})
        d.wait_log(msg="attempt", event=ev["id"], outcome="ok")
        env = json.load(open(out))
        assert env["data"] == {} and env["id"] == ev["id"], env


@test("the environment is minimal: PATH, HOOKD_*, configured env; nothing "
      "leaks from hookd's own")
def environment():
    t = h.tmpdir()
    out = os.path.join(t, "env")
    sh = script("env.sh", "env > %s\npwd > %s.pwd\n" % (q(out), q(out)))
    extra = 'env = { GREETING = "hi {{data.x}}"; EMPTY = ""; }; cwd = %s;' % q(t)
    with Daemon(exec_conf(["/bin/sh", sh], name="envh", extra=extra),
                env={"HOOKD_IT_MARKER": "leaked"}) as d:
        ev = d.publish({"type": "env.check", "data": {"x": "there"}})
        a = d.wait_log(msg="attempt", event=ev["id"], outcome="ok")[0]
        pairs = {}
        for line in h.read_lines(out):
            k, _, v = line.partition("=")
            pairs[k] = v
        assert "HOOKD_IT_MARKER" not in pairs, pairs
        assert "leaked" not in open(out).read()
        allowed = HOOKD_VARS | {"PATH", "GREETING", "EMPTY"} | SHELL_VARS
        assert set(pairs) <= allowed, "unexpected: %s" % (set(pairs) - allowed)
        assert HOOKD_VARS <= set(pairs), pairs
        assert pairs["HOOKD_EVENT_ID"] == ev["id"], pairs
        assert pairs["HOOKD_EVENT_TYPE"] == "env.check", pairs
        assert pairs["HOOKD_EVENT_SOURCE"] == "api", pairs
        assert pairs["HOOKD_ATTEMPT"] == "1", pairs
        assert pairs["HOOKD_DELIVERY_ID"] == a["delivery"], (pairs, a)
        assert pairs["HOOKD_TARGET"] == "envh", pairs
        assert pairs["GREETING"] == "hi there", pairs
        assert pairs["EMPTY"] == "", pairs
        assert "/bin" in pairs["PATH"].split(":"), pairs
        assert h.read_lines(out + ".pwd") == [os.path.realpath(t)]


@test("exit 75 is a retry; the next attempt sees HOOKD_ATTEMPT=2")
def exit_75_retry():
    out = os.path.join(h.tmpdir(), "attempts")
    sh = script("tempfail.sh", 'echo "$HOOKD_ATTEMPT" >> %s\necho busy >&2\nexit 75\n'
                % q(out))
    with Daemon(exec_conf(["/bin/sh", sh], retry=[0.05])) as d:
        ev = d.publish({"type": "busy"})
        dead = d.wait_log(msg="dead", event=ev["id"])[0]
        recs = d.records(msg="attempt", event=ev["id"])
        assert [(r["attempt"], r["outcome"]) for r in recs] == \
            [("1", "retry"), ("2", "retry")], recs
        assert "exit 75" in recs[0]["reason"], recs[0]
        assert dead["attempts"] == "2", dead
        assert dead["reason"].startswith("retry schedule exhausted; last: "), dead
        assert h.read_lines(out) == ["1", "2"]


@test("exit 3 is a failure: dead at once, stderr text in the reason")
def exit_3_dead():
    out = os.path.join(h.tmpdir(), "runs")
    sh = script("fail.sh", 'echo run >> %s\necho "some output" \n'
                'echo "  disk on fire  " >&2\necho "second line" >&2\nexit 3\n'
                % q(out))
    with Daemon(exec_conf(["/bin/sh", sh], retry=[0.05, 0.05])) as d:
        ev = d.publish({"type": "boom"})
        dead = d.wait_log(msg="dead", event=ev["id"])[0]
        assert dead["attempts"] == "1", dead
        assert "disk on fire" in dead["reason"], dead
        assert "second line" in dead["reason"], dead
        assert "exit 3" in dead["reason"], dead
        time.sleep(0.3)
        recs = d.records(msg="attempt", event=ev["id"])
        assert [(r["attempt"], r["outcome"]) for r in recs] == [("1", "fail")]
        assert "disk on fire" in recs[0]["reason"], recs
        assert h.read_lines(out) == ["run"]


@test("a program that cannot be executed fails with the exec error")
def not_executable():
    with Daemon(exec_conf([os.path.join(h.tmpdir(), "missing-program")],
                          retry=[0.05])) as d:
        ev = d.publish({"type": "nope"})
        dead = d.wait_log(msg="dead", event=ev["id"])[0]
        assert dead["attempts"] == "1", dead
        assert "missing-program" in dead["reason"], dead


@test("timeout: the attempt is retried and the child's whole process "
      "group is killed", timeout=30)
def timeout_kills_group():
    t = h.tmpdir()
    pids = os.path.join(t, "pids")
    sh = script("hang.sh", "sleep 30 &\necho \"$$ $!\" > %s.tmp\n"
                "mv %s.tmp %s\nwait\n" % (q(pids), q(pids), q(pids)))
    with Daemon(exec_conf(["/bin/sh", sh], retry=[60], extra="timeout = 1;")) as d:
        ev = d.publish({"type": "slow"})
        line = h.wait_lines(pids, 1, timeout=5)[0]
        shell_pid, sleep_pid = (int(x) for x in line.split())
        assert not h.pid_gone(sleep_pid), "the background child did not start"
        a = d.wait_log(msg="attempt", event=ev["id"], timeout=10)[0]
        assert a["outcome"] == "retry", a
        assert "timed out" in a["reason"], a
        assert 900 <= float(a["duration_ms"]) < 5000, a
        try:
            h.wait_for(lambda: h.pid_gone(sleep_pid) and h.pid_gone(shell_pid),
                       3, "the process group (sh %d, sleep %d) to be gone"
                       % (shell_pid, sleep_pid))
        finally:
            # Whatever hookd did, leave no stray process behind.
            for pid in (sleep_pid, shell_pid):
                if not h.pid_gone(pid):
                    os.kill(pid, signal.SIGKILL)
        assert d.records(msg="dead") == []
    # The retry was still scheduled when hookd stopped.
    assert d.records(msg="stopped", unfinished_deliveries="1"), d.records(msg="stopped")


@test("max_output bounds how much of the program's output reaches the reason")
def max_output():
    sh = script("loud.sh", "i=0\nwhile [ $i -lt 200 ]; do echo "
                "'0123456789012345678901234567890123456789' >&2; i=$((i+1)); done\n"
                "exit 3\n")
    with Daemon(exec_conf(["/bin/sh", sh], retry=[],
                          extra="max_output = 50;")) as d:
        ev = d.publish({"type": "loud"})
        dead = d.wait_log(msg="dead", event=ev["id"])[0]
        reason = dead["reason"]
        assert reason.startswith("exit 3: 0123456789"), reason
        # 50 bytes of output at most, plus "exit 3: ", " | " joints, "...".
        assert len(reason) <= 70, (len(reason), reason)


@test("user/group: as root the child runs as that user; otherwise the "
      "setting is refused")
def run_as_user():
    t = h.tmpdir()
    os.chmod(t, 0o777)
    out = os.path.join(t, "ids")
    sh = script("ids.sh", "echo \"$(id -u) $(id -g)\" > %s\n" % q(out))
    os.chmod(sh, 0o755)
    config = exec_conf(["/bin/sh", sh], retry=[],
                       extra='user = "nobody"; group = "nogroup";')
    if os.geteuid() != 0:
        path = os.path.join(t, "user.conf")
        with open(path, "w") as f:
            f.write(config)
        r = h.run_hookd(["--check-config", "-c", path,
                         "--plugin-dir", h.PLUGIN_DIR])
        assert r.returncode == 1 and "does not run as root" in r.stderr, r
        return
    import grp
    import pwd
    uid = pwd.getpwnam("nobody").pw_uid
    gid = grp.getgrnam("nogroup").gr_gid
    with Daemon(config) as d:
        ev = d.publish({"type": "who"})
        a = d.wait_log(msg="attempt", event=ev["id"])[0]
        assert a["outcome"] == "ok", a
        assert h.read_lines(out) == ["%d %d" % (uid, gid)]


if __name__ == "__main__":
    h.main()
