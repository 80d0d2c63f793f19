"""2. Signed ingest: HMAC-SHA256 over the raw body, checked by the limit
(--verify), by webhook's rule and by hookd's /hooks/<source>."""

from .. import common
from ..measure import wrk_round
from ..servers import start_hookd, start_limit, start_webhook

TITLE = "2. Signed ingest — HMAC-SHA256 over the raw body"
PRODUCES = "rps"


def run(ctx):
    """2. Signed ingest: /hooks/<source> with HMAC vs webhook's rule vs limit+verify."""
    rows = []
    b = ctx.bodies
    conns = common.OPT.ingest_conns[-1]
    for rnd in range(common.OPT.rounds):
        for who in ("limit+verify", "webhook", "hookd-sqlite"):
            folder = ctx.tmp(f"signed-{who}-{rnd}")
            if who == "limit+verify":
                s = start_limit(folder, verify=True)
                url = f"http://127.0.0.1:{s.port}/"
            elif who == "webhook":
                s = start_webhook(folder)
                url = f"http://127.0.0.1:{s.port}/hooks/validate"
            else:
                s = start_hookd(folder, "sqlite")
                url = f"http://127.0.0.1:{s.port}/hooks/signed"
            rows.append(wrk_round(ctx, "signed", who, s, folder, rnd, conns, url,
                                  b.data_file, (b.data_sig,)))
            ctx.progress(rows[-1])
    return rows
