"""Block Kit rendering of an `Alert`, safe against attacker-controlled text.

Values such as user agents, URLs, user names and finding titles come from whoever triggered the
event. Slack gives `&`, `<` and `>` control meaning (`<!channel>`, `<@U123>`, `<url|label>`), so
they are escaped everywhere; such values are only ever placed in `plain_text` objects (no
mrkdwn bold/italic/code/links, emoji parsing off); control characters that could fake extra
lines are folded to spaces; every text is cut to Slack's length limits with a visible marker.

Invisible characters are shown, not passed on and not silently dropped: each run of Unicode
format characters (category Cf: zero-width spaces and joiners, bidirectional embeddings,
overrides and isolates such as U+202E, which makes `exe.txt` read `txt.exe`, the BOM, tag
characters), lone surrogates and the other invisible letters (Hangul fillers, the combining
grapheme joiner) becomes one U+FFFD `�`, so a reader sees that something was hidden there. The
broadcast words `@channel`, `@here` and `@everyone` get a fullwidth `＠`, so they cannot notify a
channel even if Slack were told to parse names. The console button's URL must be https and is
percent-encoded beyond URL syntax. `inert_problems` checks a payload for all of this; the Slack
notifier refuses to send one that fails it.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from secauto_core.severity import Severity

if TYPE_CHECKING:
    from secauto_core.alert import Alert

__all__ = [
    "INVISIBLE_PLACEHOLDER",
    "TRUNCATION_MARKER",
    "escape_text",
    "inert_problems",
    "is_invisible",
    "render_alert",
    "safe_url",
]

TRUNCATION_MARKER = "…[truncated]"
#: What a run of invisible characters is shown as.
INVISIBLE_PLACEHOLDER = "\ufffd"

# C0 and C1 controls (U+0085 is a line break) and the Unicode line/paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
#: Format characters (Cf, bidirectional controls among them) and lone surrogates (Cs).
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Cs"})
#: Letters and marks that render as nothing: Hangul fillers, the combining grapheme joiner, and
#: the variation selectors (Mn, FE00-FE0F and E0100-E01EF), which can carry hidden data after any
#: visible character. An emoji's U+FE0F goes too: its base glyph still shows.
_INVISIBLE_OTHERS = frozenset(
    "\u115f\u1160\u3164\uffa0\u034f"
    + "".join(map(chr, range(0xFE00, 0xFE10)))
    + "".join(map(chr, range(0xE0100, 0xE01F0)))
)
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")
_BROADCAST = re.compile(r"@(?=(channel|here|everyone)\b)", re.IGNORECASE)
_ENTITY_OR_AMPERSAND = re.compile(r"&(?!(amp|lt|gt);)")
#: URL syntax kept as it is; everything else (spaces, quotes, `<>|`, non-ASCII) is percent-encoded.
_URL_SAFE = "/:?#[]@!$&'()*+,;=%~-._"
_URL_MAX = 3000
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


def is_invisible(char: str) -> bool:
    """Whether `char` renders as nothing (or steers how its neighbours render)."""
    return unicodedata.category(char) in _INVISIBLE_CATEGORIES or char in _INVISIBLE_OTHERS


def _show_invisible(run: re.Match[str]) -> str:
    """A run of non-ASCII text with each run of invisible characters as one placeholder."""
    out: list[str] = []
    for char in run.group():
        if not is_invisible(char):
            out.append(char)
        elif not out or out[-1] != INVISIBLE_PLACEHOLDER:
            out.append(INVISIBLE_PLACEHOLDER)
    return "".join(out)


def _visible(text: str) -> str:
    # Every invisible character is outside ASCII: ASCII text (the usual case) is not walked.
    return text if text.isascii() else _NON_ASCII_RUN.sub(_show_invisible, text)


def escape_text(value: object, limit: int = _FIELD_MAX) -> str:
    """`value` as one line of inert Slack text, at most `limit` characters after escaping."""
    text = _BROADCAST.sub("\uff20", _visible(_CONTROL.sub(" ", str(value)))).strip()
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if len(escaped) <= limit:
        return escaped
    cut = escaped[: max(0, limit - len(TRUNCATION_MARKER))]
    # Never leave half an entity such as "&am" behind.
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + TRUNCATION_MARKER


def safe_url(url: str) -> str | None:
    """`url` for a button: https only, percent-encoded beyond URL syntax; None if unusable."""
    if not url.startswith("https://"):
        return None
    encoded = quote(url, safe=_URL_SAFE, errors="replace")
    return encoded if len(encoded) <= _URL_MAX else None


def _text_problem(text: str) -> str | None:
    if "<" in text or ">" in text:
        return "an unescaped < or >"
    if _ENTITY_OR_AMPERSAND.search(text):
        return "an & that starts no entity"
    if _CONTROL.search(text) or any(is_invisible(char) for char in text if not char.isascii()):
        return "a control or invisible character"
    if _BROADCAST.search(text):
        return "a broadcast mention"
    return None


def inert_problems(node: Any, key: str = "") -> list[str]:
    """What makes a payload not inert: each string, by where it is, with what is wrong with it."""
    if isinstance(node, dict):
        return [problem for name, value in node.items() for problem in inert_problems(value, str(name))]
    if isinstance(node, list):
        return [problem for value in node for problem in inert_problems(value, key)]
    if not isinstance(node, str):
        return []
    if key == "url":
        return [] if safe_url(node) == node else ["url: not an https URL encoded beyond URL syntax"]
    problem = _text_problem(node)
    return [f"{key or 'text'}: {problem}"] if problem else []


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
    url = safe_url(alert.console_url) if alert.console_url else None
    if url:
        blocks.append(
            {
                "type": "actions",
                "elements": [{"type": "button", "text": _plain("Open in AWS console"), "url": url}],
            }
        )
    # The fallback (notifications, screen readers) is shown as mrkdwn unless told otherwise.
    fallback = escape_text(f"{_SEVERITY_EMOJI[severity]} [{severity.value}] {alert.title}", 300)
    return {"text": fallback, "mrkdwn": False, "blocks": blocks, "unfurl_links": False, "unfurl_media": False}
