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
    if result.get("labels"):
        parts.append("[" + "; ".join(map(str, result["labels"])) + "]")
    if result.get("duplicate"):
        parts.append("(duplicate delivery: stored result, nothing re-sent)")
    if result.get("reason"):
        parts.append(f"reason: {result['reason']}")
    return " ".join(parts)


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
    lines = [f"{status:5} {outcome.event}" + (f": {', '.join(outcome.rules)}" if outcome.rules else "")]
    for handler, result in zip(outcome.handlers, outcome.results, strict=False):
        lines.append(f"      -> {handler}: {_result_summary(result)}")
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
