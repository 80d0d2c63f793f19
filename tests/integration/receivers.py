"""
Webhook receivers for the black-box tests (test_http.py,
test_subscriptions.py): http_sink.py run as a subprocess, and the Node
verifier (verify_sigs.mjs) that checks recorded requests' signatures with
the receivers' own npm libraries.

Standard library only (Node and npm are needed for the verifier alone).
Every process is stopped by its PID; every wait is bounded.
"""

import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys

import hookdtest as h

SINK = os.path.join(h.HERE, "http_sink.py")
VERIFY = os.path.join(h.HERE, "verify_sigs.mjs")
NODE_PACKAGE = os.path.join(h.SRCDIR, "tests", "integration", "node",
                            "package.json")

_specs = itertools.count(1)


class Sink:
    """http_sink.py in a subprocess on 127.0.0.1, stopped by its PID.
    tls: None, or {"cert": PEM, "key": PEM[, "client_ca": PEM]} for an
    HTTPS receiver (requiring a client certificate with client_ca)."""

    def __init__(self, name="sink", tls=None):
        t = h.tmpdir()
        self.port_file = os.path.join(t, name + ".port")
        self.log = os.path.join(t, name + ".jsonl")
        self.err = os.path.join(t, name + ".err")
        self.tls = tls
        self.proc = None
        self.port = None

    def __enter__(self):
        args = [sys.executable, SINK, "--port-file", self.port_file,
                "--log", self.log]
        if self.tls:
            args += ["--tls-cert", self.tls["cert"],
                     "--tls-key", self.tls["key"]]
            if self.tls.get("client_ca"):
                args += ["--client-ca", self.tls["client_ca"]]
        with open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err)
        h.context().procs.append(self.proc)

        def port():
            if self.proc.poll() is not None:
                raise AssertionError("the sink exited with %s: %s" % (
                    self.proc.returncode, open(self.err).read()))
            lines = h.read_lines(self.port_file)
            return int(lines[0]) if lines else None
        self.port = h.wait_for(port, 10, "the sink's port file")
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        return False

    def url(self, path, host="127.0.0.1"):
        return "%s://%s:%d%s" % ("https" if self.tls else "http", host,
                                 self.port, path)

    def requests(self, prefix=""):
        """Recorded requests whose path starts with prefix, in order; each
        with "body" (bytes) and "hdr" (lower-case names) added."""
        out = []
        try:
            with open(self.log, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            text = ""
        # Whole lines only: the sink may be writing the last one now.
        for line in text.split("\n")[:-1]:
            rec = json.loads(line)
            if rec["path"].startswith(prefix):
                rec["body"] = base64.b64decode(rec["body_b64"])
                rec["hdr"] = {k.lower(): v for k, v in rec["headers"]}
                out.append(rec)
        return out

    def wait_requests(self, prefix, n, timeout=10.0):
        return h.wait_for(lambda: (lambda rs: rs if len(rs) >= n else None)(
            self.requests(prefix)), timeout,
            "%d request(s) on %s" % (n, prefix))


def place(src, dst):
    """Copy src to dst unless it is already there, atomically (another test
    may be running dst with node at this moment)."""
    with open(src, "rb") as f:
        data = f.read()
    try:
        with open(dst, "rb") as f:
            if f.read() == data:
                return
    except FileNotFoundError:
        pass
    tmp = "%s.%d" % (dst, os.getpid())
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, dst)


def node_deps_dir():
    """The folder holding the pinned npm packages: HOOKD_TEST_NODE_DEPS,
    else node-deps beside the daemon's build (scripts/dev installs them
    there)."""
    env = os.environ.get("HOOKD_TEST_NODE_DEPS")
    if env:
        return env
    build = os.path.dirname(os.path.abspath(h.HOOKD_BIN))
    return os.path.join(build, "tests", "integration", "node-deps")


def _node_deps_installed(deps, pkg_text):
    """Whether npm has finished installing package.json (pkg_text) into
    deps: its marker names that text and every pinned version is there."""
    if h.read_lines(os.path.join(deps, ".installed")) != pkg_text.splitlines():
        return False
    for name, version in json.loads(pkg_text)["dependencies"].items():
        meta = os.path.join(deps, "node_modules", name, "package.json")
        try:
            with open(meta, encoding="utf-8") as f:
                if json.load(f).get("version") != version:
                    return False
        except (OSError, ValueError):
            return False
    return True


def node_verifier():
    """node and verify_sigs.mjs placed beside the pinned npm packages.

    The tests never install anything (a package build has no network):
    `scripts/dev test` installs the packages before the suites run
    (install_node_deps below). Without them, or without node, the calling
    test is skipped with the reason; when HOOKD_TEST_NODE_DEPS names a
    folder (the suites of scripts/dev, and so CI), their absence fails."""
    with open(NODE_PACKAGE, encoding="utf-8") as f:
        pkg_text = f.read()
    deps = node_deps_dir()
    node = shutil.which("node")
    missing = None
    if not node:
        missing = "node is not installed"
    elif not _node_deps_installed(deps, pkg_text):
        missing = "the receivers' npm packages are not installed in %s" % deps
    if missing:
        why = ("%s: signatures are not checked with the receivers' "
               "libraries (scripts/dev test installs them)" % missing)
        if os.environ.get("HOOKD_TEST_NODE_DEPS"):
            raise AssertionError(why)
        h.skip(why)
    place(VERIFY, os.path.join(deps, "verify_sigs.mjs"))
    return node, os.path.join(deps, "verify_sigs.mjs")


def install_node_deps(deps):
    """Install the pinned npm packages (tests/integration/node/package.json)
    into deps unless they are there already; the marker is written only once
    npm has finished, so a half-extracted folder never counts. Returns 0 or
    npm's exit status."""
    with open(NODE_PACKAGE, encoding="utf-8") as f:
        pkg_text = f.read()
    os.makedirs(deps, exist_ok=True)
    if _node_deps_installed(deps, pkg_text):
        return 0
    marker = os.path.join(deps, ".installed")
    try:
        os.unlink(marker)
    except FileNotFoundError:
        pass
    with open(os.path.join(deps, "package.json"), "w", encoding="utf-8") as f:
        f.write(pkg_text)
    env = dict(os.environ, npm_config_update_notifier="false",
               npm_config_fund="false", npm_config_audit="false")
    p = subprocess.run(
        ["npm", "install", "--no-save", "--no-package-lock", "--prefix", deps],
        cwd=deps, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, timeout=300)
    if p.returncode != 0:
        sys.stderr.write(p.stdout.decode("utf-8", "replace")[-3000:])
        return p.returncode or 1
    with open(marker, "w", encoding="utf-8") as f:
        f.write(pkg_text)
    if not _node_deps_installed(deps, pkg_text):
        sys.stderr.write("npm install left %s without the pinned versions\n"
                         % deps)
        return 1
    return 0


def run_verifier(spec, timeout=60):
    """Run verify_sigs.mjs on spec (a dict, see verify_sigs.mjs); its
    results, a list of {"name", "n", "id", "ok", "error"}."""
    node, script = node_verifier()
    path = os.path.join(h.tmpdir(), "verify-spec-%d.json" % next(_specs))
    with open(path, "w", encoding="utf-8") as f:
        json.dump(spec, f)
    p = subprocess.run([node, script, path], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, cwd=os.path.dirname(script))
    assert p.returncode == 0, p
    return json.loads(p.stdout)["results"]


if __name__ == "__main__":
    # python3 receivers.py install-node-deps DIR (scripts/dev test).
    if len(sys.argv) != 3 or sys.argv[1] != "install-node-deps":
        sys.exit("usage: receivers.py install-node-deps DIR")
    sys.exit(install_node_deps(sys.argv[2]))
