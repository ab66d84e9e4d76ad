"""ALB access-log settings (`SECAUTO_ALB_LOGS_*`), from `capabilities.albLogs` in cdk.json."""

from __future__ import annotations

from pydantic import Field

from secauto_core.settings import EnvSettings

__all__ = ["AlbLogSettings"]


class AlbLogSettings(EnvSettings):
    env_prefix = "SECAUTO_ALB_LOGS_"

    #: Only objects under this key prefix are read (the prefix the load balancers write to,
    #: followed by `AWSLogs/`); others are skipped with a log line.
    key_prefix: str = ""
    #: How many entries the per-file top lists (clients, clients by errors, URLs by 5xx) hold.
    top_n: int = Field(default=10, ge=1, le=100)
    #: How many 5xx and WAF-blocked requests are logged per file, with all their fields.
    sample_size: int = Field(default=20, ge=0, le=200)
    #: How many unparseable lines are logged per file (all are counted).
    bad_line_samples: int = Field(default=5, ge=0, le=100)
    #: Processes counting lines: 0 is one per CPU Lambda gives the function (about one per
    #: 1,769 MB of memory); 1 counts in the handler's own process.
    workers: int = Field(default=0, ge=0, le=6)
