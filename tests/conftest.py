"""Suite-wide setup: a quiet, offline, deterministic environment for every test."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "secauto")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
for _name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
    os.environ.pop(_name, None)

ROOT = Path(__file__).resolve().parents[1]
EVENTS_DIR = ROOT / "events"


def load_event(relative: str) -> dict[str, Any]:
    """A sample event from `events/`, e.g. `load_event("root_activity/x.json")`."""
    return json.loads((EVENTS_DIR / relative).read_text(encoding="utf-8"))
