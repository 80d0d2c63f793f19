// Verify hookd's webhook signatures with the receivers' own libraries.
//
//   node verify_sigs.mjs SPEC.json
//
// SPEC: {"requests": "<requests.jsonl written by http_sink.py>",
//        "checks": [{"name": "...", "scheme": "standard-webhooks" | "github",
//                    "secret": "...", "path": "/prefix"}, ...]}
//
// Every recorded request whose path starts with a check's path is verified
// with that check's secret. Prints one JSON line:
//   {"results": [{"name", "n", "ok", "error"}, ...]}
// and exits 0 (the caller judges); 2 when the spec cannot be read.
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

async function main() {
  let spec, lines;
  try {
    spec = JSON.parse(readFileSync(process.argv[2], "utf8"));
    lines = readFileSync(spec.requests, "utf8").split("\n").filter(Boolean);
  } catch (e) {
    console.error(`verify_sigs: ${e.message}`);
    process.exit(2);
  }
  const recs = lines.map((l) => JSON.parse(l));
  const results = [];
  for (const c of spec.checks) {
    for (const rec of recs) {
      if (!rec.path.startsWith(c.path)) continue;
      try {
        await check(c, rec);
        results.push({ name: c.name, n: rec.n, ok: true, error: null });
      } catch (e) {
        results.push({ name: c.name, n: rec.n, ok: false, error: String(e.message || e) });
      }
    }
  }
  console.log(JSON.stringify({ results }));
}

await main();
