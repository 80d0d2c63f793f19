"""1. Ingest: ~1 KB events published to the limit, to webhook's
validate-only hook and to hookd (memory and SQLite store)."""

from .. import common
from ..measure import wrk_round
from ..servers import start_hookd, start_limit, start_webhook

TITLE = "1. Ingest — POST /v4/events, ~1 KB event, routed to a no-op handler"
PRODUCES = "rps"


def run(ctx):
    """1. Publish ~1 KB events: limit, webhook validate-only, hookd memory/sqlite."""
    rows = []
    b = ctx.bodies
    for conns in common.OPT.ingest_conns:
        for rnd in range(common.OPT.rounds):
            for who in ("limit", "webhook", "hookd-memory", "hookd-sqlite"):
                folder = ctx.tmp(f"ingest-{conns}-{who}-{rnd}")
                if who == "limit":
                    s = start_limit(folder)
                    url, body, hdr = f"http://127.0.0.1:{s.port}/", b.envelope_file, ()
                elif who == "webhook":
                    s = start_webhook(folder)
                    url = f"http://127.0.0.1:{s.port}/hooks/validate"
                    body, hdr = b.envelope_file, (b.envelope_sig,)
                else:
                    s = start_hookd(folder, who.split("-")[1])
                    url, body, hdr = f"http://127.0.0.1:{s.port}/v4/events", b.envelope_file, ()
                rows.append(wrk_round(ctx, "ingest", who, s, folder, rnd, conns, url, body, hdr))
                ctx.progress(rows[-1])
    return rows
