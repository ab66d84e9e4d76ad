"""The configuration the local replay runs with: `cdk.json`'s context, as a deployment would."""

from __future__ import annotations

__all__ = ["capability_environments"]


def capability_environments() -> dict[str, dict[str, str]]:
    """Per capability, the environment variables its deployed function would get."""
    return {}
