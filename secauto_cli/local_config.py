"""The configuration the local replay runs with: `cdk.json`'s context, as a deployment would.

`events/replay_context.toml` is laid over it so the sample events reach every branch. The
environment each capability's function gets comes from the same config methods the CDK
function construct uses, so local runs and deployments read identical settings.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from secauto_infra.config import SecautoConfig, load_config

__all__ = ["REPLAY_CONTEXT", "capability_environments", "replay_config"]

REPLAY_CONTEXT = Path(__file__).resolve().parents[1] / "events" / "replay_context.toml"


def replay_config(overlay_path: Path = REPLAY_CONTEXT) -> SecautoConfig:
    overlay: dict[str, Any] = {}
    if overlay_path.is_file():
        overlay = tomllib.loads(overlay_path.read_text(encoding="utf-8"))
    return load_config(overlay)


def capability_environments(config: SecautoConfig | None = None) -> dict[str, dict[str, str]]:
    """Per enabled capability, the environment variables its deployed function would get."""
    config = config or replay_config()
    common = {"SECAUTO_SECURITYHUB_IMPORT": "true" if config.security_hub_import else "false"}
    if config.account_alias:
        common["SECAUTO_ACCOUNT_ALIAS"] = config.account_alias
    return {
        name: {**common, **getattr(config.capabilities, name).environment()}
        for name in config.capabilities.enabled()
    }
