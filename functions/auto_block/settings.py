"""Auto-blocking settings (`SECAUTO_AUTO_BLOCK_*`), from `capabilities.autoBlock` in cdk.json."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from auto_block.flowlogs import DEFAULT_FIELDS
from auto_block.model import NaclWindow, WafIpSetRef
from secauto_core.settings import EnvSettings

__all__ = ["AutoBlockSettings"]


class AutoBlockSettings(EnvSettings):
    env_prefix = "SECAUTO_AUTO_BLOCK_"

    #: Dry run unless true: detections and the blocks they would make are reported, WAF and the
    #: network ACLs are left alone, the block table is not written.
    enforce: bool = False
    #: Detection window: counts span files and invocations within it (fixed windows).
    window_seconds: int = Field(default=300, ge=60, le=3600)
    #: At most `flowfile.COUNT_CAP` (256): counts stop growing there (a threshold is decided).
    port_scan_ports: int = Field(default=20, ge=2, le=256)
    host_sweep_hosts: int = Field(default=20, ge=2, le=256)
    reject_flood_rejects: int = Field(default=500, ge=10)
    #: ALB top talkers (from the alb_logs summaries): requests per file that make an abuser.
    alb_requests_per_file: int = Field(default=20_000, ge=100)
    #: GuardDuty findings naming a remote address (port probes, brute force) block it.
    guardduty_enabled: bool = True
    alb_top_talkers_enabled: bool = False
    #: Never blocked, whatever is detected.
    allow_cidrs: tuple[str, ...] = ()
    allow_own_vpcs: bool = True
    allow_aws_ranges: bool = False
    #: Private and shared sources outside the allowlist (RFC 1918, 100.64.0.0/10, IPv6
    #: unique-local, ...: see `blockable`) are refused unless this is on. Leave it off when
    #: peered VPCs, transit gateways or VPN clients reach the protected VPCs: blocking them cuts
    #: off the organisation's own traffic. Loopback, link-local, multicast and reserved addresses
    #: are refused whatever this says.
    allow_private_sources: bool = False
    #: The widest range a manual `secauto block --range` may block (automation only ever blocks
    #: single addresses); anything wider, and 0.0.0.0/0 or ::/0 always, is refused everywhere.
    min_range_prefix_v4: int = Field(default=24, ge=16, le=32)
    min_range_prefix_v6: int = Field(default=48, ge=32, le=128)
    #: Blocks: the first lasts `block_minutes`, each repeat `escalation` times longer, at most
    #: `max_block_minutes`; a source's history is kept `history_days` after its last block.
    block_minutes: int = Field(default=60, ge=1)
    escalation: float = Field(default=4.0, ge=1.0)
    max_block_minutes: int = Field(default=7 * 24 * 60, ge=1)
    history_days: int = Field(default=30, ge=1)
    #: New blocks (new offenses) one run may record; extending an active block does not count.
    max_new_blocks_per_run: int = Field(default=100, ge=1, le=10_000)
    waf_ip_sets: tuple[WafIpSetRef, ...] = ()
    network_acls: tuple[NaclWindow, ...] = ()
    #: The `LogFormat` of flow logs delivered to CloudWatch Logs (records there have no header).
    log_format: str = " ".join(f"${{{name}}}" for name in DEFAULT_FIELDS)
    #: Log groups whose subscription events are ALB summaries (not flow-log records).
    alb_summary_log_groups: tuple[str, ...] = ()

    @field_validator("waf_ip_sets", mode="before")
    @classmethod
    def _ip_sets(cls, value: Any) -> Any:
        if isinstance(value, list):
            return tuple(WafIpSetRef(**item) if isinstance(item, dict) else item for item in value)
        return value

    @field_validator("network_acls", mode="before")
    @classmethod
    def _acls(cls, value: Any) -> Any:
        if isinstance(value, list):
            return tuple(NaclWindow(**item) if isinstance(item, dict) else item for item in value)
        return value
