"""Block Kit rendering of an `Alert`, safe against attacker-controlled text.

Values such as user agents, URLs, user names and finding titles come from whoever triggered the
event. Slack gives `&`, `<` and `>` control meaning (`<!channel>`, `<@U123>`, `<url|label>`), so
they are escaped everywhere; such values are only ever placed in `plain_text` objects (no
mrkdwn bold/italic/code/links, emoji parsing off); control characters that could fake extra
lines are folded to spaces; every text is cut to Slack's length limits with a visible marker.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from secauto_core.severity import Severity

if TYPE_CHECKING:
    from secauto_core.alert import Alert

__all__ = ["TRUNCATION_MARKER", "escape_text", "render_alert"]

TRUNCATION_MARKER = "…[truncated]"

# C0 and C1 controls (U+0085 is a line break) and the Unicode line/paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# Block Kit limits.
_HEADER_MAX = 150
_FIELD_MAX = 2000
_SECTION_MAX = 3000
_FIELDS_PER_SECTION = 10
_CONTEXT_ELEMENTS_MAX = 10
_SEVERITY_EMOJI = {
    Severity.CRITICAL: ":rotating_light:",
    Severity.HIGH: ":red_circle:",
    Severity.MEDIUM: ":large_orange_circle:",
    Severity.LOW: ":large_yellow_circle:",
    Severity.INFORMATIONAL: ":white_circle:",
}
_BLOCKS_MAX = 50
#: Slack rejects an empty text object.
_EMPTY = "-"


def escape_text(value: object, limit: int = _FIELD_MAX) -> str:
    """`value` as one line of inert Slack text, at most `limit` characters after escaping."""
    text = _CONTROL.sub(" ", str(value)).strip()
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if len(escaped) <= limit:
        return escaped
    cut = escaped[: max(0, limit - len(TRUNCATION_MARKER))]
    # Never leave half an entity such as "&am" behind.
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + TRUNCATION_MARKER


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text or _EMPTY, "emoji": False}


def render_alert(alert: Alert) -> dict[str, Any]:
    """The webhook payload (`text` fallback plus `blocks`) for `alert`."""
    severity = alert.severity
    header = escape_text(f"[{severity.value}] {alert.title}", _HEADER_MAX)
    context = [
        f"Account {alert.account_display}",
        f"Region {alert.region}",
        alert.time.strftime("%Y-%m-%d %H:%M:%S %Z").strip(),
        f"secauto {alert.capability}",
        *(f"Label: {label}" for label in alert.labels),
    ][:_CONTEXT_ELEMENTS_MAX]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(header)},
        {"type": "context", "elements": [_plain(escape_text(item, 300)) for item in context]},
        {"type": "section", "text": _plain(escape_text(alert.summary, _SECTION_MAX))},
    ]
    facts = [_plain(escape_text(f"{fact.label}: {fact.value}")) for fact in alert.facts]
    # Room for the fact sections within Slack's 50 blocks: the actions block and a note remain.
    room = (_BLOCKS_MAX - len(blocks) - 2) * _FIELDS_PER_SECTION
    shown, hidden = facts[:room], len(facts) - room
    for start in range(0, len(shown), _FIELDS_PER_SECTION):
        blocks.append({"type": "section", "fields": shown[start : start + _FIELDS_PER_SECTION]})
    if hidden > 0:
        blocks.append(
            {"type": "context", "elements": [_plain(f"{hidden} more facts not shown: see SNS or logs")]}
        )
    if alert.console_url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": _plain("Open in AWS console"), "url": alert.console_url[:3000]}
                ],
            }
        )
    # The fallback (notifications, screen readers) is shown as mrkdwn unless told otherwise.
    fallback = escape_text(f"{_SEVERITY_EMOJI[severity]} [{severity.value}] {alert.title}", 300)
    return {"text": fallback, "mrkdwn": False, "blocks": blocks, "unfurl_links": False, "unfurl_media": False}
