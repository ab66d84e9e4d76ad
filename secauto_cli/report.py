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
    if result.get("labels"):
        parts.append("[" + "; ".join(map(str, result["labels"])) + "]")
    if result.get("duplicate"):
        parts.append("(duplicate delivery: stored result, nothing re-sent)")
    if result.get("reason"):
        parts.append(f"reason: {result['reason']}")
    return " ".join(parts)


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
    for name, changes in effects.items():
        if name in ("slack", "sns", "securityhub", "dlq", "metrics", "aws_calls", "logs"):
            continue
        for change in changes:
            lines.append(f"      {name}: {change}")
    if outcome.handlers and not any(effects.get(k) for k in ("slack", "sns", "securityhub", "dlq")):
        lines.append("      (no notification or finding)")
    lines += [f"      error: {error}" for error in outcome.errors]
    return lines
