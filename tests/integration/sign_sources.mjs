// Sign inbound webhooks the way real senders do, with their own libraries,
// for test_sources.py.
//
//   node sign_sources.mjs SPEC.json
//
// SPEC: {"standard": {"secret": "whsec_...", "msgId": "msg_...",
//                     "payload": "<the exact body text>"},      (optional)
//        "github":   {"secret": "...", "payload": "<body text>"}} (optional)
//
// Prints one JSON line:
//   {"standard": {"webhook-id", "webhook-timestamp", "webhook-signature"},
//    "github":   {"x-hub-signature-256"}}
// Standard Webhooks: the npm standardwebhooks package's Webhook.sign(msgId,
// now, payload). GitHub: @octokit/webhooks-methods' sign(secret, payload).
// Exits 2 when the spec cannot be read.
//
// Run from a folder whose node_modules holds the packages pinned in
// tests/integration/node/package.json (receivers.py installs them).
import { readFileSync } from "node:fs";

import standardwebhooks from "standardwebhooks";
import { sign as signGithub } from "@octokit/webhooks-methods";

const { Webhook } = standardwebhooks;

async function main() {
  let spec;
  try {
    spec = JSON.parse(readFileSync(process.argv[2], "utf8"));
  } catch (e) {
    console.error(`sign_sources: ${e.message}`);
    process.exit(2);
  }
  const out = {};
  if (spec.standard) {
    const s = spec.standard;
    const now = new Date();
    const wh = new Webhook(s.secret);
    out.standard = {
      "webhook-id": s.msgId,
      "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
      "webhook-signature": wh.sign(s.msgId, now, s.payload),
    };
  }
  if (spec.github) {
    const g = spec.github;
    out.github = {
      "x-hub-signature-256": await signGithub(g.secret, g.payload),
    };
  }
  console.log(JSON.stringify(out));
}

await main();
