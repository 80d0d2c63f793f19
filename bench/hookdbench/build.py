"""What a run needs first: Debian packages (deps), hookd and the bench
programs built (build, export_rev for --rev), and the facts of the machine
recorded with the results."""

import os
import shutil
import subprocess
import sys

from . import common
from .common import BENCH, BIN, BUILD, TOP, log

PACKAGES = ["wrk", "webhook", "gnuplot-nox", "build-essential", "pkg-config",
            "libmicrohttpd-dev", "libjansson-dev", "libssl-dev"]


def deps():
    missing = []
    for p in PACKAGES:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True)
        if "ok installed" not in r.stdout:
            missing.append(p)
    if not missing:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    log("installing: " + " ".join(missing))
    subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                   check=True, env=env, stdout=subprocess.DEVNULL)


def newer(target, *sources):
    if not os.path.exists(target):
        return True
    t = os.path.getmtime(target)
    return any(os.path.getmtime(s) > t for s in sources)


def build():
    """hookd in a release-like build (unless --hookd-build), and bench/bin."""
    jobs = str(os.cpu_count() or 2)
    if common.OPT.hookd_build:
        common.HOOKD_BUILD = os.path.abspath(common.OPT.hookd_build)
    else:
        src = TOP
        common.HOOKD_BUILD = os.path.join(BUILD, "hookd")
        if common.OPT.rev:
            src = common.SRC = export_rev(common.OPT.rev)
            common.HOOKD_BUILD = os.path.join(src, "_build")
        if not os.path.exists(os.path.join(src, "configure")):
            log("autogen")
            subprocess.run(["./autogen.sh"], cwd=src, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        os.makedirs(common.HOOKD_BUILD, exist_ok=True)
        if newer(os.path.join(common.HOOKD_BUILD, "Makefile"), os.path.join(src, "configure")):
            log(f"configure {os.path.relpath(common.HOOKD_BUILD, TOP)} (-O2 -g)")
            with open(os.path.join(common.HOOKD_BUILD, "configure.out"), "wb") as f:
                subprocess.run([os.path.join(src, "configure"), "CFLAGS=-O2 -g"],
                               cwd=common.HOOKD_BUILD, check=True, stdout=f, stderr=subprocess.STDOUT)
        log(f"make {os.path.relpath(common.HOOKD_BUILD, TOP)}")
        with open(os.path.join(common.HOOKD_BUILD, "make.out"), "wb") as f:
            r = subprocess.run(["make", "-j" + jobs, "hookd", "plugins/exec.la", "plugins/http.la"],
                               cwd=common.HOOKD_BUILD, stdout=f, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            sys.exit(f"bench: building hookd failed, see {common.HOOKD_BUILD}/make.out")
    for need in ("hookd", "plugins/.libs/exec.so", "plugins/.libs/http.so"):
        if not os.path.exists(os.path.join(common.HOOKD_BUILD, need)):
            sys.exit(f"bench: {common.HOOKD_BUILD}/{need} is missing")
    os.makedirs(BIN, exist_ok=True)

    def pc(*mods):
        return subprocess.run(["pkg-config", "--cflags", "--libs", *mods], capture_output=True,
                              text=True, check=True).stdout.split()
    cflags = ["-O2", "-g", "-Wall", "-Wextra"]
    progs = [
        ("limit", ["limit.c"], pc("libmicrohttpd", "jansson", "libcrypto")),
        ("sink", ["sink.c"], pc("libmicrohttpd") + ["-lpthread"]),
        ("tick", ["tick.c"], []),
        ("noop.so", ["noop.c"], ["-shared", "-fPIC", "-fvisibility=hidden",
                                 "-I" + os.path.join(TOP, "include")]),
    ]
    for out, srcs, flags in progs:
        target = os.path.join(BIN, out)
        src = [os.path.join(BENCH, s) for s in srcs]
        deps_ = src + [os.path.join(BENCH, "serve.h")] + \
            ([os.path.join(TOP, "include", "hookd", "plugin.h")] if out == "noop.so" else [])
        if newer(target, *deps_):
            log(f"cc bench/{srcs[0]}")
            subprocess.run(["cc", *cflags, "-o", target, *src, *flags], check=True)


def export_rev(rev):
    """The tree of git revision `rev`, exported once to bench/build/src-<sha>."""
    sha = subprocess.run(["git", "-C", TOP, "rev-parse", "--verify", rev + "^{commit}"],
                         capture_output=True, text=True, check=True).stdout.strip()
    dest = os.path.join(BUILD, "src-" + sha[:12])
    common.OPT.rev_sha = sha
    olds = sorted((os.path.getmtime(os.path.join(BUILD, d)), d) for d in os.listdir(BUILD)
                  if d.startswith("src-") and os.path.join(BUILD, d) != dest)
    for _, d in olds[:-2]:  # keep the latest exports (another run may use them)
        shutil.rmtree(os.path.join(BUILD, d), ignore_errors=True)
    if not os.path.exists(os.path.join(dest, ".exported")):
        log(f"export {rev} ({sha[:12]}) to {os.path.relpath(dest, TOP)}")
        shutil.rmtree(dest, ignore_errors=True)
        os.makedirs(dest)
        archive = subprocess.Popen(["git", "-C", TOP, "archive", sha], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", dest], stdin=archive.stdout, check=True)
        archive.wait()
        open(os.path.join(dest, ".exported"), "w").close()
    return dest


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for p in ("libmicrohttpd12", "libsqlite3-0", "libjansson4", "libcurl4", "libssl3",
              "wrk", "webhook", "gnuplot-nox", "gcc", "libpq5", "postgresql"):
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", p], capture_output=True, text=True)
        versions[p] = r.stdout.strip() or None
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024
    head = subprocess.run(["git", "-C", TOP, "rev-parse", "--short",
                           getattr(common.OPT, "rev_sha", None) or "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    dirty = "" if common.OPT.rev or common.OPT.hookd_build else subprocess.run(
        ["git", "-C", TOP, "status", "--porcelain", "--", "core", "plugins", "include"],
        capture_output=True, text=True).stdout.strip()
    commit = head + ("+changes" if dirty else "")
    if common.OPT.hookd_build:
        # A build folder does not record the commit it was built from:
        # say so rather than name the checkout's HEAD, which may differ.
        commit = "of an unknown commit"
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": os.uname().release, "mem_mb": mem,
            "os": distro(), "packages": versions,
            "hookd_commit": commit,
            "hookd_build": os.path.relpath(common.HOOKD_BUILD, TOP)}


def distro():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "unknown"


def loadavg():
    return "%.2f %.2f %.2f" % os.getloadavg()
