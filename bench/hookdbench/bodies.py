"""The event the scenarios post, as files for wrk, and its signature."""

import hashlib
import hmac
import json
import os

from .common import SECRET


def event_data(size=1024):
    """A workflow_finished data object; the whole envelope is ~`size` bytes."""
    data = {"workflowId": "wf_0123456789", "runId": "run_42", "status": "finished",
            "rows": 4242, "startedAt": "2026-11-28T14:00:00.000Z",
            "finishedAt": "2026-11-28T14:03:12.345Z",
            "url": "https://example.com/workflows/wf_0123456789/runs/run_42",
            "tags": ["nightly", "eu-west", "priority:normal"], "notes": ""}
    base = len(json.dumps({"type": "workflow_finished", "data": data}, separators=(",", ":")))
    data["notes"] = ("lorem ipsum dolor sit amet " * 64)[: max(0, size - base)]
    return data


def sign(body):
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


class Bodies:
    def __init__(self, folder):
        data = event_data()
        self.envelope = json.dumps({"type": "workflow_finished", "data": data},
                                   separators=(",", ":")).encode()
        self.data = json.dumps(data, separators=(",", ":")).encode()
        self.envelope_file = os.path.join(folder, "envelope.json")
        self.data_file = os.path.join(folder, "data.json")
        for path, b in ((self.envelope_file, self.envelope), (self.data_file, self.data)):
            with open(path, "wb") as f:
                f.write(b)
        self.envelope_sig = "X-Signature: " + sign(self.envelope)
        self.data_sig = "X-Signature: " + sign(self.data)
