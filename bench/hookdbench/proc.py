"""Processes, ports, signals, CPU and memory: the servers the harness
starts and what /proc says of them. Every process started is stopped by
its pid (stop_all, at exit and on SIGINT or SIGTERM), never by name."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
STARTED = []              # every process started, stopped by pid at exit


class Server:
    """A server process the harness started, with its port and log file."""

    def __init__(self, name, argv, port, logpath, cwd=None, env=None, user=None):
        self.name = name
        self.port = port
        self.logpath = logpath
        self.logf = open(logpath, "wb")
        self.t_spawn = time.perf_counter()
        self.p = subprocess.Popen(argv, stdout=self.logf, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, cwd=cwd, env=env, user=user)
        self.pid = self.p.pid
        STARTED.append(self.p)

    def alive(self):
        return self.p.poll() is None

    def stop(self, timeout=15):
        stop_process(self.p, timeout)
        self.logf.close()

    def log_tail(self, n=20):
        try:
            with open(self.logpath, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""


def stop_process(p, timeout=15):
    """SIGTERM, then SIGKILL after `timeout` seconds; by pid only."""
    if p.poll() is None:
        try:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        except ProcessLookupError:
            pass
    if p in STARTED:
        STARTED.remove(p)


def stop_all(*_):
    for p in list(STARTED):
        try:
            stop_process(p, 5)
        except Exception:  # noqa: BLE001 — best effort at exit
            pass


def on_signal(sig, _frame):
    stop_all()
    sys.exit(128 + sig)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc=None, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited: {proc.log_tail()}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


def wait_until(pred, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def stat_fields(pid):
    """/proc/PID/stat from field 3 (state) on: utime is [11], stime [12],
    cutime [13], cstime [14], ppid [1]."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid):
    """utime + stime of the process and of its reaped children."""
    fields = stat_fields(pid)
    # fields[0] is field 3 (state): utime is field 14, cstime field 17
    return sum(int(x) for x in fields[11:15]) / CLK_TCK


def proc_status(pid):
    """VmHWM and VmRSS (MB) and Threads of a process (None when it is gone)."""
    out = {"VmHWM": None, "VmRSS": None, "Threads": None, "RssAnon": None, "RssFile": None}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
                out[k] = int(v.split()[0]) / 1024.0  # MB
            elif k == "Threads":
                out[k] = int(v)
    return out


class Sampler:
    """Samples Threads and VmRSS of a process every 0.2 s while wrk runs."""

    def __init__(self, pid):
        self.pid = pid
        self.threads = []
        self.rss = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                st = proc_status(self.pid)
                if st["Threads"] is None:
                    return
                self.threads.append(st["Threads"])
                self.rss.append(st["VmRSS"])
            except OSError:
                return
            self._stop.wait(0.2)

    def stop(self):
        self._stop.set()
        if self._t.is_alive():
            self._t.join()
