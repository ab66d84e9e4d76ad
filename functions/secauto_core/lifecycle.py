"""Forgetting what a warm Lambda process caches, for when its environment changes.

Deployed functions never call this. Tests and the local replay do, whenever they start a new
moto account or change environment variables, so no client, setting or secret leaks across.
"""

from __future__ import annotations

from secauto_core import clients, idempotency, notifier, settings

__all__ = ["reset_runtime"]


def reset_runtime() -> None:
    clients.reset_clients()
    settings.forget_settings()
    notifier.reset_secret_cache()
    idempotency.reset_store()
