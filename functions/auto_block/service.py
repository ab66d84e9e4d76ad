"""An auto-blocking run end to end: count, detect, vet, record, enforce, report.

Every entry point (a flow-log file, a subscription batch, a GuardDuty finding, an ALB summary,
the sweeper, the `secauto block` command) ends in `_enforce`: the WAF IP sets and the network
ACLs are made to match the active rows of the block table, which is the single source of truth.
The writers get a loader of the table, not a snapshot, so a run never removes a block another
run recorded meanwhile (the writers' docstrings give the argument).

What may be blocked is decided by `blockable.vet`, here (to report every refusal with its
reason) and again where a block is recorded (`block_table.record_block`), which no path skips.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from auto_block.allowlist import Allowlist, AllowlistUnavailable, aws_service_ranges, own_vpc_ranges
from auto_block.block_table import load_blocks, record_block, release_block
from auto_block.blockable import BlockPolicy, BlockRefused, vet
from auto_block.counting import FlowCounts, count_lines
from auto_block.detect import alb_detections, guardduty_detections, judge_window, strongest
from auto_block.flowfile import COUNT_CAP, count_stream
from auto_block.flowlogs import LogsSubscription, parse_format
from auto_block.model import Block, Detection, Network
from auto_block.nacl_writer import reconcile_nacl
from auto_block.reporting import block_finding, run_alert
from auto_block.settings import AutoBlockSettings
from auto_block.waf_writer import reconcile_ip_set
from auto_block.windows import add_to_window, window_start
from secauto_core import clients
from secauto_core.notifier import Notifier, default_notifier
from secauto_core.observability import MetricUnit, logger, metrics
from secauto_core.securityhub import FindingsImporter, default_importer
from secauto_core.settings import RuntimeSettings, get_settings

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import timedelta

    from secauto_core.log_stream import Readable

__all__ = ["MAX_WINDOW_UPDATES", "AutoBlocker", "RunReport"]

#: Candidate sources whose window item is updated per invocation (the most active first).
MAX_WINDOW_UPDATES = 2_000


@dataclass(frozen=True)
class Refused:
    """A source that was not (or, found in the block table, is not) blocked, and why."""

    source: str
    reason: str
    #: Who asked for the block: a detector, "manual", or "block table" (a row a writer refused).
    by: str

    def as_dict(self) -> dict[str, str]:
        return {"source": self.source, "reason": self.reason, "by": self.by}


@dataclass
class RunReport:
    """What one run saw and did."""

    trigger: str
    enforce: bool
    records: int = 0
    bad_records: int = 0
    nodata: int = 0
    skipdata: int = 0
    egress: int = 0
    candidates: int = 0
    detections: list[Detection] = field(default_factory=list)
    allowlisted: list[tuple[Detection, str]] = field(default_factory=list)
    #: Never blocked: ranges from automation, the whole internet, too wide a range, private or
    #: special addresses (`blockable.vet`), with the reason.
    refused: list[Refused] = field(default_factory=list)
    deferred: list[Detection] = field(default_factory=list)
    would_block: list[Detection] = field(default_factory=list)
    blocked: list[Block] = field(default_factory=list)
    extended: list[Block] = field(default_factory=list)
    released: list[Block] = field(default_factory=list)
    active: int = 0
    dropped: list[str] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "enforced" if self.enforce else "dry run",
            "trigger": self.trigger,
            "records": self.records,
            "bad_records": self.bad_records,
            "nodata": self.nodata,
            "skipdata": self.skipdata,
            "egress": self.egress,
            "candidates": self.candidates,
            "detections": [_detection_row(d) for d in self.detections],
            "allowlisted": [{**_detection_row(d), "allowed_by": allowed} for d, allowed in self.allowlisted],
            "refused": [refused.as_dict() for refused in self.refused],
            "deferred": [str(d.source) for d in self.deferred],
            "would_block": [str(d.source) for d in self.would_block],
            "blocked": [_block_row(b) for b in self.blocked],
            "extended": [_block_row(b) for b in self.extended],
            "released": [str(b.network) for b in self.released],
            "active_blocks": self.active,
            "dropped": self.dropped,
            "targets": self.targets,
            "errors": self.errors,
        }


def _detection_row(detection: Detection) -> dict[str, Any]:
    return {"source": str(detection.source), "detector": detection.detector, "reason": detection.reason}


def _block_row(block: Block) -> dict[str, Any]:
    return {
        "source": str(block.network),
        "detector": block.detector,
        "until": block.expires_at.isoformat(),
        "offenses": block.offenses,
        "reason": block.reason,
    }


@dataclass
class AutoBlocker:
    settings: AutoBlockSettings
    runtime: RuntimeSettings
    account: str
    region: str
    notifier: Notifier | None
    importer: FindingsImporter | None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    _allowlist: Allowlist | None = None

    @classmethod
    def from_environment(cls, account: str, *, now: datetime | None = None) -> AutoBlocker:
        runtime = get_settings()
        return cls(
            settings=AutoBlockSettings.current(),
            runtime=runtime,
            account=account,
            region=clients.current_region(),
            notifier=default_notifier(runtime),
            importer=default_importer(runtime),
            now=now or datetime.now(UTC),
        )

    @property
    def table(self) -> str:
        if not self.runtime.state_table:
            raise RuntimeError("auto-blocking needs the state table (SECAUTO_STATE_TABLE)")
        return self.runtime.state_table

    # --- entry points ---------------------------------------------------------------------------

    def flow_log_file(self, source: Readable, *, name: str) -> RunReport:
        """A flow-log file from S3: its first line is the header naming the fields."""
        report = RunReport(trigger=f"flow-log file {name}", enforce=self.settings.enforce)
        return self._from_counts(count_stream(source, name=name), report)

    def subscription(self, payload: LogsSubscription) -> RunReport:
        """A CloudWatch Logs subscription batch: flow-log records, or alb_logs summaries."""
        if payload.log_group in self.settings.alb_summary_log_groups:
            if not self.settings.alb_top_talkers_enabled:
                return RunReport(trigger=f"ALB summaries from {payload.log_group} (input off)", enforce=False)
            return self.alb_summaries(payload.messages, trigger=f"ALB summaries from {payload.log_group}")
        report = RunReport(trigger=f"flow logs from {payload.log_group}", enforce=self.settings.enforce)
        fmt = parse_format(self.settings.log_format)
        lines = [message.encode("utf-8", "replace") for message in payload.messages]
        return self._from_counts(count_lines(lines, fmt, cap=COUNT_CAP), report)

    def alb_summaries(self, messages: Iterable[str], *, trigger: str) -> RunReport:
        report = RunReport(trigger=trigger, enforce=self.settings.enforce)
        detections: list[Detection] = []
        for message in messages:
            try:
                record = json.loads(message)
            except ValueError:
                report.bad_records += 1
                continue
            summary = record.get("summary") if isinstance(record, dict) else None
            if isinstance(summary, dict):
                report.records += 1
                detections += alb_detections(summary, self.settings)
            else:
                report.bad_records += 1
        return self._act(detections, report)

    def guardduty(self, detail: dict[str, Any]) -> RunReport:
        report = RunReport(
            trigger=f"GuardDuty {detail.get('type', 'finding')}", enforce=self.settings.enforce
        )
        report.records = 1
        return self._act(guardduty_detections(detail), report)

    def sweep(self) -> RunReport:
        """Enforce the active blocks only: expired ones leave WAF and the ACLs."""
        report = RunReport(trigger="sweeper", enforce=self.settings.enforce)
        self._enforce(report)
        self._notify(report)
        return report

    def block(
        self, network: Network, *, duration: timedelta, reason: str, allow_range: bool = False
    ) -> RunReport:
        """A manual block (`secauto block`), through the same vetting, table and writers.

        A range is blocked only with `allow_range` (`--range`), and never wider than the
        configured minimum prefix; a refusal is in the report's `refused`, with the reason."""
        report = RunReport(trigger="manual block", enforce=True)
        detection = Detection(network, "manual", 100, reason)
        self.settings = self.settings.model_copy(update={"enforce": True})
        return self._act([detection], report, duration=duration, allow_range=allow_range)

    def unblock(self, network: Network) -> RunReport:
        report = RunReport(trigger="manual unblock", enforce=True)
        self.settings = self.settings.model_copy(update={"enforce": True})
        if not release_block(self.table, network, self.now):
            report.errors.append(f"{network} is not blocked")
        self._enforce(report)
        self._notify(report)
        return report

    # --- steps ----------------------------------------------------------------------------------

    def _from_counts(self, counts: FlowCounts, report: RunReport) -> RunReport:
        report.records, report.bad_records = counts.records, counts.bad_records
        report.nodata, report.skipdata, report.egress = counts.nodata, counts.skipdata, counts.egress
        report.candidates = len(counts.sources)
        if counts.bad_records:
            metrics.add_metric(name="FlowLogBadRecords", unit=MetricUnit.Count, value=counts.bad_records)
            logger.warning(
                "Unparseable flow-log records skipped",
                extra={"bad_records": counts.bad_records, "samples": counts.bad_samples},
            )
        if counts.skipdata:
            # SKIPDATA: AWS lost records for this interface and period: detection saw less.
            metrics.add_metric(name="FlowLogSkipDataRecords", unit=MetricUnit.Count, value=counts.skipdata)
            logger.warning("Flow-log records were lost (SKIPDATA)", extra={"skipdata": counts.skipdata})
        metrics.add_metric(name="FlowLogRecords", unit=MetricUnit.Count, value=counts.records)
        ranked = sorted(
            counts.sources.items(),
            key=lambda item: -(item[1].rejects + len(item[1].ports) + len(item[1].hosts)),
        )
        start = window_start(self.now.timestamp(), self.settings.window_seconds)
        detections: list[Detection] = []
        for raw_source, activity in ranked[:MAX_WINDOW_UPDATES]:
            source = raw_source.decode("ascii", "replace")
            totals = add_to_window(
                self.table,
                source,
                activity,
                start=start,
                window_seconds=self.settings.window_seconds,
                cap=COUNT_CAP,
            )
            detections += judge_window(totals, self.settings)
        if len(ranked) > MAX_WINDOW_UPDATES:
            logger.warning("More candidate sources than one run updates", extra={"candidates": len(ranked)})
        return self._act(detections, report)

    def _allowed(self) -> Allowlist:
        if self._allowlist is None:
            networks: list[str] = list(self.settings.allow_cidrs)
            if self.settings.allow_own_vpcs:
                networks += own_vpc_ranges()
            if self.settings.allow_aws_ranges:
                networks += aws_service_ranges()
            self._allowlist = Allowlist.of(networks)
        return self._allowlist

    def _act(
        self,
        found: list[Detection],
        report: RunReport,
        *,
        duration: timedelta | None = None,
        allow_range: bool = False,
    ) -> RunReport:
        report.detections = strongest(found)
        if report.detections:
            try:
                allowlist = self._allowed()
            except AllowlistUnavailable as exc:
                # Never block without knowing what must not be blocked.
                report.errors.append(f"nothing blocked: {exc}")
                self._notify(report)
                return report
            vetted = self._vet(report, allowlist, allow_range=allow_range)
            if not report.enforce:
                self._plan(vetted, report)
            else:
                self._record(vetted, report, allowlist, duration=duration, allow_range=allow_range)
        if report.enforce and (report.blocked or report.extended or report.trigger == "sweeper"):
            self._enforce(report)
        self._notify(report)
        metrics.add_metric(name="SourcesBlocked", unit=MetricUnit.Count, value=len(report.blocked))
        return report

    def _vet(self, report: RunReport, allowlist: Allowlist, *, allow_range: bool) -> list[Detection]:
        """The detections that may be blocked; the others are reported, each with its reason."""
        policy = BlockPolicy.of(self.settings)
        vetted = []
        for detection in report.detections:
            verdict = vet(detection.source, policy, allowlist, allow_range=allow_range)
            if verdict is None:
                vetted.append(detection)
            elif verdict.allowed_by is not None:
                report.allowlisted.append((detection, str(verdict.allowed_by)))
            else:
                report.refused.append(Refused(str(detection.source), verdict.reason, detection.detector))
        if report.refused:
            metrics.add_metric(name="SourcesRefused", unit=MetricUnit.Count, value=len(report.refused))
        return vetted

    def _plan(self, vetted: list[Detection], report: RunReport) -> None:
        """A dry run: what would be blocked, the cap counting new blocks only (as `_record`)."""
        active = {block.network for block in self._rows() if block.active(self.now)}
        new = 0
        for detection in vetted:
            if detection.source in active:
                report.would_block.append(detection)
            elif new < self.settings.max_new_blocks_per_run:
                new += 1
                report.would_block.append(detection)
            else:
                report.deferred.append(detection)

    def _rows(self) -> list[Block]:
        """The block table (a dry run without a state table sees it empty)."""
        return load_blocks(self.table) if self.runtime.state_table else []

    def _record(
        self,
        vetted: list[Detection],
        report: RunReport,
        allowlist: Allowlist,
        *,
        duration: timedelta | None,
        allow_range: bool,
    ) -> None:
        """Record each block; once the run's cap of new blocks is reached, only extensions."""
        cap = self.settings.max_new_blocks_per_run
        for detection in vetted:
            try:
                recorded = record_block(
                    self.table,
                    detection,
                    self.settings,
                    self.now,
                    allowlist=allowlist,
                    duration=duration,
                    allow_range=allow_range,
                    allow_new=len(report.blocked) < cap,
                )
            except BlockRefused as exc:  # vetted above: only a changed allowlist gets here
                report.refused.append(Refused(str(exc.network), exc.reason, detection.detector))
                continue
            if recorded is None:
                report.deferred.append(detection)
            else:
                (report.blocked if recorded.new else report.extended).append(recorded.block)

    def _enforce(self, report: RunReport) -> None:
        """Make every WAF IP set and network ACL match the active rows of the block table.

        Each writer gets a loader, not a snapshot: it reads its target, then the table, so what
        it writes is never older than what it read; the last rows loaded are what is reported."""
        policy = BlockPolicy.of(self.settings)
        latest: list[Block] = []

        def active_blocks() -> list[Block]:
            latest[:] = load_blocks(self.table)
            return [block for block in latest if block.active(self.now)]

        dry_run = not self.settings.enforce
        removed: set[str] = set()
        refused: dict[str, str] = {}
        for ref in self.settings.waf_ip_sets:
            try:
                result = reconcile_ip_set(
                    clients.client("wafv2", region_name=ref.region),
                    ref,
                    active_blocks,
                    dry_run=dry_run,
                    policy=policy,
                )
            except Exception as exc:  # one target failing must not stop the others
                report.errors.append(f"WAF IP set {ref.name}: {exc}")
                continue
            removed.update(result.removed)
            refused.update((block.key, why) for block, why in result.refused)
            report.dropped += [f"{b.network} not in {ref.name} (over its capacity)" for b in result.dropped]
            report.targets.append(
                {"target": f"waf:{ref.scope}:{ref.name}", "added": result.added, "removed": result.removed}
            )
        for window in self.settings.network_acls:
            try:
                nacl = reconcile_nacl(
                    clients.client("ec2"), window, active_blocks, dry_run=dry_run, policy=policy
                )
            except Exception as exc:
                report.errors.append(f"network ACL {window.acl_id}: {exc}")
                continue
            report.errors += nacl.errors
            refused.update((block.key, why) for block, why in nacl.refused)
            report.dropped += [f"{b.network} not in {window.acl_id} (window full)" for b in nacl.evicted]
            removed.update(nacl.deleted)
            report.targets.append(
                {"target": f"nacl:{window.acl_id}", "added": nacl.created, "removed": nacl.deleted}
            )
        rows = latest or load_blocks(self.table)
        now_active = [block for block in rows if block.active(self.now)]
        report.active = len(now_active)
        known = {item.source for item in report.refused}
        for source, why in sorted(refused.items()):
            if source not in known:
                report.refused.append(Refused(source, why, "block table"))
        # In a dry run nothing was removed, so nothing is announced as released.
        by_key = {block.key: block for block in rows}
        report.released = [
            by_key[key]
            for key in sorted(removed)
            if not dry_run and key in by_key and not by_key[key].active(self.now)
        ]
        if report.errors:
            metrics.add_metric(name="BlockEnforcementErrors", unit=MetricUnit.Count, value=len(report.errors))

    def _notify(self, report: RunReport) -> None:
        alert = run_alert(report, self.account, self.region, self.runtime.account_alias, self.now)
        if alert is not None and self.notifier is not None:
            self.notifier.notify(alert)
        if self.importer is not None and report.blocked:
            findings = [block_finding(block, self.account, self.region, self.now) for block in report.blocked]
            self.importer.import_findings(findings)
