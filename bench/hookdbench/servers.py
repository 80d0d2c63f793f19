"""The contenders and the receivers: hookd (its configuration, started on
a free port), the limit, adnanh/webhook and the sink."""

import json
import os
import re

from . import common
from .common import BIN, HTTP_THREADS, SECRET
from .net import http
from .proc import Server, free_port, wait_port, wait_until


def hookd_conf(path, port, store, handlers="noop", extra="", sync="full"):
    """Write a hookd configuration for the bench; `handlers` picks the route."""
    noop = os.path.join(BIN, "noop.so")
    tick = os.path.join(BIN, "tick")
    hs = {
        "noop": f'sink = {{ plugin = "{noop}"; }};',
        "exec": f'sink = {{ plugin = "exec"; command = ["{tick}", "{os.path.dirname(path)}/runs"]; timeout = 30; }};',
        "none": "",
    }[handlers]
    route = "" if handlers == "none" else '{ events = ["workflow_finished"]; handlers = ["sink"]; }'
    text = f"""# written by bench/run
# The load generator is one address: no per-client limit.
server = {{ listen = "127.0.0.1:{port}"; threads = {HTTP_THREADS}; max_body = 1048576; max_connections_per_ip = 0; }};
storage = {{ url = "{store}"; synchronous = "{sync}"; secret_key = "{'5e' * 32}"; }};
plugin_dir = "{common.HOOKD_BUILD}/plugins/.libs";
workers = 16;
{extra}
event_types = ( {{ name = "workflow_finished"; required = ["/data/workflowId"]; }} );
sources = {{
  signed = {{ verify = "hmac"; secret = "{SECRET}"; header = "X-Signature";
             algorithm = "sha256"; encoding = "hex"; prefix = "sha256=";
             type = "workflow_finished"; }};
}};
handlers = {{ {hs} }};
routes = ( {route} );
"""
    with open(path, "w") as f:
        f.write(text)


def hookd_argv(conf, opts=()):
    """The command line of the hookd under test, with configuration `conf`."""
    return [os.path.join(common.HOOKD_BUILD, "hookd"), "-c", conf, *opts]


def start_hookd(folder, store_kind, handlers="noop", extra="", name=None, conf=None, port=None,
                sync="full", opts=()):
    os.makedirs(folder, exist_ok=True)
    port = port or free_port()
    if conf is None:
        conf = os.path.join(folder, "hookd.conf")
        store = "memory:" if store_kind == "memory" else f"sqlite:{folder}/hookd.db"
        hookd_conf(conf, port, store, handlers, extra, sync)
    s = Server(name or f"hookd-{store_kind}", hookd_argv(conf, opts), port,
               os.path.join(folder, "hookd.log"))
    wait_port(port, s)
    wait_until(lambda: http("GET", f"http://127.0.0.1:{port}/healthz")[0] == 200, 10)
    return s


def example_conf(folder, port):
    """etc/hookd.conf (of the source hookd was built from) listening on
    `port`; with the options that move its storage into `folder` and take
    the plugins from the build: (path, options)."""
    with open(os.path.join(common.SRC, "etc", "hookd.conf")) as f:
        text = f.read()
    # The load generator is one address: no per-client limit.
    text = re.sub(r'listen = "[^"]*";', f'listen = "127.0.0.1:{port}"; max_connections_per_ip = 0;',
                  text, count=1)
    path = os.path.join(folder, "hookd.conf")
    with open(path, "w") as f:
        f.write(text)
    return path, ["--plugin-dir", os.path.join(common.HOOKD_BUILD, "plugins", ".libs"),
                  "--storage", f"sqlite:{folder}/hookd.db"]


def limit_argv(port, verify=False):
    argv = [os.path.join(BIN, "limit"), "--port", str(port), "--threads", str(HTTP_THREADS)]
    if verify:
        argv += ["--verify", SECRET]
    return argv


def start_limit(folder, verify=False):
    os.makedirs(folder, exist_ok=True)
    port = free_port()
    s = Server("limit+verify" if verify else "limit", limit_argv(port, verify), port,
               os.path.join(folder, "limit.log"))
    wait_port(port, s)
    return s


def webhook_hooks(path, runs_file):
    tick = os.path.join(BIN, "tick")
    rule = {"match": {"type": "payload-hmac-sha256", "secret": SECRET,
                      "parameter": {"source": "header", "name": "X-Signature"}}}
    hooks = [
        # validates the signature and answers; runs nothing (an empty command
        # fails its lookup after the answer, silently without -verbose)
        {"id": "validate", "execute-command": "", "response-message": "ok",
         "trigger-rule": rule},
        # runs the counting stand-in for /bin/true per event
        {"id": "run", "execute-command": tick, "response-message": "ok",
         "pass-arguments-to-command": [{"source": "string", "name": runs_file}],
         "trigger-rule": rule},
    ]
    with open(path, "w") as f:
        json.dump(hooks, f, indent=1)


def webhook_argv(folder, port):
    """webhook's command line, with its hooks written to `folder`."""
    hooks = os.path.join(folder, "hooks.json")
    webhook_hooks(hooks, os.path.join(folder, "runs"))
    return ["webhook", "-hooks", hooks, "-ip", "127.0.0.1", "-port", str(port)]


def start_webhook(folder):
    os.makedirs(folder, exist_ok=True)
    port = free_port()
    s = Server("webhook", webhook_argv(folder, port), port, os.path.join(folder, "webhook.log"))
    wait_port(port, s)
    return s


def start_sink(folder, delay_ms=0):
    os.makedirs(folder, exist_ok=True)
    port = free_port()
    s = Server("sink", [os.path.join(BIN, "sink"), "--port", str(port), "--threads", "2",
                        "--delay-ms", str(delay_ms)], port, os.path.join(folder, f"sink{delay_ms}.log"))
    wait_port(port, s)
    return s


def sink_count(sink):
    return int(http("GET", f"http://127.0.0.1:{sink.port}/count")[1])


def subscribe(port, url, n):
    for i in range(n):
        st, body = http("POST", f"http://127.0.0.1:{port}/v4/webhook-subscriptions",
                        {"webhookUrl": f"{url}/s{i}", "events": ["workflow_finished"]})
        if st != 201:
            raise RuntimeError(f"subscription refused: {st} {body[:200]!r}")
