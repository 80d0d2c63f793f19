// Verify hookd's webhook signatures with the receivers' own libraries.
//
//   node verify_sigs.mjs SPEC.json
//
// SPEC: {"requests": "<requests.jsonl written by http_sink.py>",
//        "checks": [{"name": "...", "scheme": "standard-webhooks" | "github",
//                    "secret": "...", "path": "/prefix",
//                    "requests": "<another .jsonl>",      (optional)
//                    "webhookIds": ["evt_...", ...]}, ...]} (optional)
//
// Every recorded request whose path starts with a check's path (and, with
// webhookIds, whose webhook-id header is one of them) is verified with that
// check's secret. A check's own "requests" file replaces the spec's (which
// may then be left out). Prints one JSON line:
//   {"results": [{"name", "n", "id", "ok", "error"}, ...]}
// ("id": the request's webhook-id) and exits 0 (the caller judges); 2 when
// the spec or a requests file cannot be read.
//
// Run from a folder whose node_modules holds the packages pinned in
// tests/integration/node/package.json: standardwebhooks (the Standard
// Webhooks reference library) and @octokit/webhooks-methods (GitHub's).
import { readFileSync } from "node:fs";

import standardwebhooks from "standardwebhooks";
import { verify as verifyGithub } from "@octokit/webhooks-methods";

const { Webhook } = standardwebhooks;

function header(rec, name) {
  const want = name.toLowerCase();
  for (const [k, v] of rec.headers) if (k.toLowerCase() === want) return v;
  return undefined;
}

async function check(c, rec) {
  const body = Buffer.from(rec.body_b64, "base64").toString("utf8");
  if (c.scheme === "standard-webhooks") {
    const wh = new Webhook(c.secret);
    // Throws WebhookVerificationError on any mismatch, a missing header
    // or a timestamp more than five minutes away.
    wh.verify(body, {
      "webhook-id": header(rec, "webhook-id"),
      "webhook-timestamp": header(rec, "webhook-timestamp"),
      "webhook-signature": header(rec, "webhook-signature"),
    });
    return;
  }
  if (c.scheme === "github") {
    const sig = header(rec, "x-hub-signature-256");
    if (!sig) throw new Error("no X-Hub-Signature-256 header");
    if (!(await verifyGithub(c.secret, body, sig)))
      throw new Error("signature does not match");
    return;
  }
  throw new Error(`unknown scheme ${c.scheme}`);
}

const files = new Map(); // requests file -> parsed records

function load(path) {
  if (!files.has(path)) {
    const lines = readFileSync(path, "utf8").split("\n").filter(Boolean);
    files.set(path, lines.map((l) => JSON.parse(l)));
  }
  return files.get(path);
}

async function main() {
  let spec;
  try {
    spec = JSON.parse(readFileSync(process.argv[2], "utf8"));
    for (const c of spec.checks) load(c.requests || spec.requests);
  } catch (e) {
    console.error(`verify_sigs: ${e.message}`);
    process.exit(2);
  }
  const results = [];
  for (const c of spec.checks) {
    const ids = c.webhookIds ? new Set(c.webhookIds) : null;
    for (const rec of load(c.requests || spec.requests)) {
      if (!rec.path.startsWith(c.path)) continue;
      const id = header(rec, "webhook-id") ?? null;
      if (ids && !ids.has(id)) continue;
      try {
        await check(c, rec);
        results.push({ name: c.name, n: rec.n, id, ok: true, error: null });
      } catch (e) {
        results.push({ name: c.name, n: rec.n, id, ok: false, error: String(e.message || e) });
      }
    }
  }
  console.log(JSON.stringify({ results }));
}

await main();
