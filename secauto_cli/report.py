"""Human-readable lines for replay outcomes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from secauto_cli.replay import ReplayOutcome

__all__ = ["describe_outcome"]


def _slack_title(payload: dict[str, Any]) -> str:
    for block in payload.get("blocks", []):
        if block.get("type") == "header":
            return str(block["text"]["text"])
    return str(payload.get("text", ""))


def _result_summary(result: Any) -> str:
    if not isinstance(result, dict):
        return str(result)
    parts = [str(result.get("status", "done"))]
    for key in ("severity", "kind"):
        if result.get(key):
            parts.append(str(result[key]))
    if "notified" in result:
        parts.append("notified" if result["notified"] else "not notified")
    if "lines" in result:
        parts.append(
            f"lines={result['lines']} requests={result.get('requests')} bad={result.get('bad_lines')}"
        )
    if isinstance(result.get("detections"), list):
        parts.append(_auto_block_counts(result))
    if result.get("labels"):
        parts.append("[" + "; ".join(map(str, result["labels"])) + "]")
    if result.get("duplicate"):
        parts.append("(duplicate delivery: stored result, nothing re-sent)")
    if result.get("reason"):
        parts.append(f"reason: {result['reason']}")
    return " ".join(parts)


def _auto_block_counts(result: dict[str, Any]) -> str:
    """An auto-block run's figures (what it read, detected and did), the zero ones left out."""
    figures = {
        "records": result.get("records", 0),
        "bad": result.get("bad_records", 0),
        "nodata": result.get("nodata", 0),
        "skipdata": result.get("skipdata", 0),
        "candidates": result.get("candidates", 0),
        "detections": len(result["detections"]),
        **{key: len(result.get(key) or []) for key in ("blocked", "extended", "would_block", "allowlisted")},
        **{key: len(result.get(key) or []) for key in ("refused", "released", "deferred", "errors")},
        "active": result.get("active_blocks", 0),
    }
    shown = " ".join(
        f"{name}={value}" for name, value in figures.items() if value or name in ("records", "detections")
    )
    return f"{result.get('trigger', '')}: {shown}"


#: Detail lines per kind, at most this many (the result holds them all).
_LISTED = 20


def _result_details(result: Any) -> list[str]:
    """Lines under an auto-block result: each source blocked, would-be blocked, spared, freed."""
    if not isinstance(result, dict) or not isinstance(result.get("detections"), list):
        return []
    reasons = {row["source"]: row["reason"] for row in result["detections"]}
    lines = []
    for row in result.get("blocked", [])[:_LISTED]:
        repeat = f", offense {row['offenses']}" if row.get("offenses", 1) > 1 else ""
        lines.append(
            f"blocked {row['source']} until {row['until']} ({row['detector']}{repeat}): {row['reason']}"
        )
    for row in result.get("extended", [])[:_LISTED]:
        lines.append(f"already blocked {row['source']}, until {row['until']}: {row['reason']}")
    for source in result.get("would_block", [])[:_LISTED]:
        lines.append(f"would block {source} (dry run): {reasons.get(source, '')}")
    for row in result.get("allowlisted", [])[:_LISTED]:
        lines.append(f"not blocked {row['source']}: allowlisted by {row['allowed_by']}: {row['reason']}")
    for row in result.get("refused", [])[:_LISTED]:
        lines.append(f"not blocked {row['source']}: refused: {row['reason']}")
    for source in result.get("deferred", [])[:_LISTED]:
        lines.append(f"deferred {source} (over the run's cap)")
    unblocked = "would unblock" if result.get("status") == "dry run" else "unblocked"
    for source in result.get("released", [])[:_LISTED]:
        lines.append(f"{unblocked} {source} (expired)")
    for text in result.get("dropped", [])[:_LISTED]:
        lines.append(f"not enforced everywhere: {text}")
    for text in result.get("errors", [])[:_LISTED]:
        lines.append(f"enforcement error: {text}")
    return [f"           {line}" for line in lines]


#: The namespace of secauto's own operational metrics; others (per load balancer, ...) are shown.
_OWN_NAMESPACE = "secauto"


def _metric_value(value: Any) -> str:
    if isinstance(value, list):
        ordered = sorted(value)
        if len(ordered) == 1:
            return f"{ordered[0]:g}"
        return f"[{len(ordered)} values, median {ordered[len(ordered) // 2]:g}, max {ordered[-1]:g}]"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _metric_line(metric: dict[str, Any]) -> str:
    dimensions = " ".join(f"{k}={v}" for k, v in metric["dimensions"].items())
    values = " ".join(
        f"{name}={_metric_value(value)}"
        for name, value in metric["values"].items()
        if value not in (0, 0.0, [0.0], [0], None)
    )
    return f"      metric: {metric['namespace']} {dimensions}: {values or 'all zero'}"


def describe_outcome(outcome: ReplayOutcome, expected_no_match: bool = False) -> list[str]:
    """The lines `secauto replay` prints for one event."""
    if not outcome.rules and expected_no_match and not outcome.handlers:
        errors = [e for e in outcome.errors if "no rule in rules/ matches" not in e]
        if not errors:
            return [f"ok    {outcome.event}: no rule matched (as expected)"]
    status = "FAIL" if outcome.errors else "ok"
    targets = list(outcome.rules)
    if outcome.delivered_to:
        targets.append(
            f"delivered directly to {outcome.delivered_to}" + ("" if outcome.rules else " (no rule)")
        )
    lines = [f"{status:5} {outcome.event}" + (f": {', '.join(targets)}" if targets else "")]
    for handler, result in zip(outcome.handlers, outcome.results, strict=False):
        lines.append(f"      -> {handler}: {_result_summary(result)}")
        lines += _result_details(result)
    effects = outcome.effects
    for payload in effects.get("slack", []):
        lines.append(f"      slack: {_slack_title(payload)}")
    for message in effects.get("sns", []):
        attrs = " ".join(f"{k}={v}" for k, v in sorted(message["attributes"].items()))
        lines.append(f"      sns: {message['subject']} [{attrs}]")
    for finding in effects.get("securityhub", []):
        label, state = finding["Severity"]["Label"], finding["RecordState"]
        lines.append(f"      securityhub: {label} {finding['Title']!r} ({state}) id={finding['Id']}")
    for parked in effects.get("dlq", []):
        lines.append(f"      dlq: parked an event ({type(parked).__name__})")
    for metric in effects.get("metrics", []):
        if metric.get("namespace") != _OWN_NAMESPACE:
            lines.append(_metric_line(metric))
    for name, changes in effects.items():
        if name in ("slack", "sns", "securityhub", "dlq", "metrics", "aws_calls", "logs"):
            continue
        for change in changes:
            lines.append(f"      {name}: {change}")
    shown = ("slack", "sns", "securityhub", "dlq")
    if (
        outcome.handlers
        and not any(effects.get(k) for k in shown)
        and not any(m.get("namespace") != _OWN_NAMESPACE for m in effects.get("metrics", []))
    ):
        lines.append("      (no notification or finding)")
    lines += [f"      error: {error}" for error in outcome.errors]
    return lines
