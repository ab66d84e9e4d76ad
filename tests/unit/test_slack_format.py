"""Block Kit rendering: attacker text stays inert, within Slack's limits, in plain_text only."""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from unit_factories import make_alert

from secauto_core.alert import Fact
from secauto_core.severity import Severity
from secauto_core.slack import SlackNotifier
from secauto_core.slack_format import (
    INVISIBLE_PLACEHOLDER,
    TRUNCATION_MARKER,
    escape_text,
    inert_problems,
    render_alert,
    safe_url,
)

FOLDED = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
ENTITY = re.compile(r"&(amp|lt|gt);")
BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
#: Invisible characters beyond the format (Cf) and surrogate (Cs) categories.
INVISIBLE_LETTERS = (
    "\u115f\u1160\u3164\uffa0\u034f"
    # Variation selectors (Mn): they can carry hidden data after any visible character.
    + "".join(map(chr, range(0xFE00, 0xFE10)))
    + "".join(map(chr, range(0xE0100, 0xE01F0)))
)
#: Bidirectional controls, zero-width characters, the BOM, a tag character, a lone surrogate.
INVISIBLE = [
    "\u202e",
    "\ufe0f",
    "\U000e0101",
    "\u202a",
    "\u2066",
    "\u2069",
    "\u200e",
    "\u200f",
    "\u061c",
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",
    "\u00ad",
    "\U000e0041",
    "\ud800",
    *INVISIBLE_LETTERS,
]
HOSTILE = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U123>",
    "<#C123|general>",
    "<https://evil.example/login|Reset your password>",
    "*bold*",
    "_italic_",
    "~strike~",
    "`code`",
    "```block```",
    ":rotating_light:",
    "&",
    "&amp;",
    "&lt;",
    "<",
    ">",
    "\n",
    "\r\n",
    "\t",
    "\x00",
    "\x1b[31m",
    "\u2028",
    "\u2029",
    "é",
    "😀",
    " ",
    "@channel",
    "@here",
    "@Everyone",
    *INVISIBLE,
]
fragment = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=15))
hostile_text = st.lists(fragment, max_size=40).map("".join)
# Long runs, to cross every limit (header 150, fields 2000, section 3000).
long_hostile_text = st.tuples(hostile_text, st.integers(min_value=1, max_value=400)).map(
    lambda t: t[0] * t[1]
)
any_hostile = st.one_of(hostile_text, long_hostile_text)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def invisible(char: str) -> bool:
    return unicodedata.category(char) in ("Cf", "Cs") or char in INVISIBLE_LETTERS


def shown(text: str) -> str:
    """What escape_text shows of `text` before escaping: the reference, written independently."""
    out: list[str] = []
    for char in FOLDED.sub(" ", text):
        if not invisible(char):
            out.append(char)
        elif not out or out[-1] != INVISIBLE_PLACEHOLDER:
            out.append(INVISIBLE_PLACEHOLDER)
    return BROADCAST.sub(lambda m: "＠" + m.group()[1:], "".join(out)).strip()


def text_objects(node: Any) -> list[dict[str, Any]]:
    """Every Block Kit text object ({"type": ..., "text": str}) in `node`."""
    found = []
    if isinstance(node, dict):
        if isinstance(node.get("text"), str) and "type" in node:
            found.append(node)
        for value in node.values():
            found += text_objects(value)
    elif isinstance(node, list):
        for value in node:
            found += text_objects(value)
    return found


def all_strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in [key, *all_strings(value)]]
    if isinstance(node, list):
        return [s for value in node for s in all_strings(value)]
    return []


def keyed_strings(node: Any, key: str = "") -> list[tuple[str, str]]:
    """Every string in `node` (keys included) with the key it is the value of."""
    if isinstance(node, str):
        return [(key, node)]
    if isinstance(node, dict):
        return [pair for name, value in node.items() for pair in [("", name), *keyed_strings(value, name)]]
    if isinstance(node, list):
        return [pair for value in node for pair in keyed_strings(value, key)]
    return []


# escape_text ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("<!channel> please look", "&lt;!channel&gt; please look"),
        ("<!here>", "&lt;!here&gt;"),
        ("ping <@U123>", "ping &lt;@U123&gt;"),
        ("<https://x|y>", "&lt;https://x|y&gt;"),
        ("AT&T", "AT&amp;T"),
        ("already &amp; escaped", "already &amp;amp; escaped"),
        ("*bold* `code` _it_", "*bold* `code` _it_"),
        ("line one\nline two\r\n\tline three", "line one line two line three"),
        ("fake\u2028line\u2029break", "fake line break"),
        ("\n\x00  padded  \x7f", "padded"),
        ("", ""),
    ],
)
def test_escape_text_examples(raw, escaped):
    assert escape_text(raw) == escaped


def test_escape_text_accepts_non_strings():
    assert escape_text(42) == "42"
    assert escape_text(None) == "None"


def test_truncation_is_marked_and_fits():
    out = escape_text("a" * 500, limit=100)
    assert len(out) == 100
    assert out == "a" * (100 - len(TRUNCATION_MARKER)) + TRUNCATION_MARKER


def test_truncation_never_leaves_half_an_entity():
    # "&" escapes to the 5-character "&amp;"; the cut would land inside one.
    room = 50 - len(TRUNCATION_MARKER)
    out = escape_text("x" * (room - 2) + "&" * 20, limit=50)
    assert out == "x" * (room - 2) + TRUNCATION_MARKER
    out = escape_text("x" * (room - 5) + "<" * 20, limit=50)
    assert out == "x" * (room - 5) + "&lt;" + TRUNCATION_MARKER


@PROPERTY
@given(text=any_hostile, limit=st.integers(min_value=len(TRUNCATION_MARKER), max_value=3000))
def test_escape_text_properties(text, limit):
    out = escape_text(text, limit)
    assert "<" not in out and ">" not in out
    assert not FOLDED.search(out)
    assert "&" not in ENTITY.sub("", out), "a bare or split entity survived"
    assert len(out) <= limit
    folded = shown(text)
    full_length = len(folded) + 4 * folded.count("&") + 3 * (folded.count("<") + folded.count(">"))
    if full_length <= limit:
        assert unescape(out) == folded
    else:
        assert out.endswith(TRUNCATION_MARKER)
        kept = out[: -len(TRUNCATION_MARKER)]
        assert folded.startswith(unescape(kept))
        assert len(out) >= limit - len("&amp"), "cut more than a partial entity"


@pytest.mark.parametrize("control", ["\x85", "\x9b"])
def test_escape_text_folds_c1_control_characters(control):
    assert escape_text(f"user{control}Approved by security") == "user Approved by security"


# render_alert -----------------------------------------------------------------------------------


def hostile_alert():
    return make_alert(
        title="<!channel> *URGENT* `rm -rf` <https://evil.example|click>",
        summary="Hi <!here>\nsee <@U123>\r\nand ```this```",
        account_alias="<!everyone>",
        facts=(Fact(label="User agent", value="<https://phish.example|AWS Console>\n*admin*"),),
        labels=("expected: <@U999>",),
        subject_id="evt-<1>",
    )


def test_attacker_text_is_escaped_everywhere():
    payload = render_alert(hostile_alert())
    for value in all_strings(payload):
        assert "<" not in value and ">" not in value, value
        assert "\n" not in value and "\r" not in value, value
    header = payload["blocks"][0]
    assert header["type"] == "header"
    assert header["text"]["text"] == (
        "[HIGH] &lt;!channel&gt; *URGENT* `rm -rf` &lt;https://evil.example|click&gt;"
    )
    assert payload["blocks"][2]["text"]["text"] == "Hi &lt;!here&gt; see &lt;@U123&gt; and ```this```"


def test_attacker_text_only_in_plain_text_objects_without_emoji():
    payload = render_alert(hostile_alert())
    objects = text_objects(payload["blocks"])
    assert objects, "no text objects found"
    for obj in objects:
        assert obj["type"] == "plain_text", obj
        assert obj["emoji"] is False, obj
    # Every string carrying attacker input is either a plain_text object's text or the top-level
    # notification fallback.
    plain_texts = {id(obj["text"]) for obj in objects}
    markers = ("channel", "here", "everyone", "U123", "U999", "phish", "evil", "URGENT")
    for value in all_strings(payload["blocks"]):
        if any(marker in value for marker in markers):
            assert id(value) in plain_texts, value
    assert "mrkdwn" not in json.dumps(payload["blocks"])


def test_fallback_text_is_not_formatted_as_mrkdwn():
    payload = render_alert(hostile_alert())
    assert "URGENT" not in payload["text"] or payload.get("mrkdwn") is False


def test_payload_shape():
    alert = make_alert(labels=("expected: break-glass window",))
    payload = render_alert(alert)
    assert payload["unfurl_links"] is False
    assert payload["unfurl_media"] is False
    assert payload["text"] == ":red_circle: [HIGH] Root user signed in"
    kinds = [block["type"] for block in payload["blocks"]]
    assert kinds == ["header", "context", "section", "section", "actions"]
    context = [element["text"] for element in payload["blocks"][1]["elements"]]
    assert context == [
        "Account 123456789012 (prod)",
        "Region us-east-1",
        "2024-05-01 12:30:15 UTC",
        "secauto root_activity",
        "Label: expected: break-glass window",
    ]
    assert payload["blocks"][3]["fields"] == [
        {"type": "plain_text", "text": "Source IP: 203.0.113.7", "emoji": False}
    ]
    button = payload["blocks"][4]["elements"][0]
    assert button["url"] == alert.console_url
    assert button["text"] == {"type": "plain_text", "text": "Open in AWS console", "emoji": False}
    json.dumps(payload)  # serialisable as the webhook body


@pytest.mark.parametrize(
    ("severity", "emoji"),
    [
        (Severity.CRITICAL, ":rotating_light:"),
        (Severity.HIGH, ":red_circle:"),
        (Severity.MEDIUM, ":large_orange_circle:"),
        (Severity.LOW, ":large_yellow_circle:"),
        (Severity.INFORMATIONAL, ":white_circle:"),
    ],
)
def test_fallback_names_the_severity(severity, emoji):
    payload = render_alert(make_alert(severity=severity))
    assert payload["text"].startswith(f"{emoji} [{severity.value}] ")
    assert payload["blocks"][0]["text"]["text"].startswith(f"[{severity.value}] ")


def test_no_console_button_without_url_and_no_fact_section_without_facts():
    payload = render_alert(make_alert(console_url=None, facts=()))
    assert [block["type"] for block in payload["blocks"]] == ["header", "context", "section"]


def test_facts_are_split_into_sections_of_ten_fields():
    facts = tuple(Fact(label=f"k{i}", value=str(i)) for i in range(25))
    sections = [b for b in render_alert(make_alert(facts=facts))["blocks"] if "fields" in b]
    assert [len(s["fields"]) for s in sections] == [10, 10, 5]
    assert [f["text"] for s in sections for f in s["fields"]] == [f"k{i}: {i}" for i in range(25)]


def test_context_is_capped_at_ten_elements():
    labels = tuple(f"label {i}" for i in range(12))
    context = render_alert(make_alert(labels=labels))["blocks"][1]["elements"]
    assert len(context) == 10
    assert context[-1]["text"] == "Label: label 5"


alerts = st.builds(
    make_alert,
    severity=st.sampled_from(list(Severity)),
    title=any_hostile,
    summary=any_hostile.map(lambda s: "summary " + s),
    account_alias=st.none() | hostile_text,
    region=st.sampled_from(["us-east-1", "eu-west-1", "cn-north-1"]),
    facts=st.lists(st.builds(Fact, label=hostile_text, value=any_hostile), max_size=30).map(tuple),
    labels=st.lists(hostile_text, max_size=12).map(tuple),
    console_url=st.none() | st.just("https://us-east-1.console.aws.amazon.com/securityhub/home"),
)


@PROPERTY
@given(alert=alerts)
def test_rendered_alert_stays_within_block_kit_limits(alert):
    payload = render_alert(alert)
    blocks = payload["blocks"]
    assert len(blocks) <= 50
    assert 1 <= len(payload["text"]) <= 300
    header = blocks[0]
    assert header["type"] == "header" and 1 <= len(header["text"]["text"]) <= 150
    for block in blocks:
        if block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10
            assert all(1 <= len(e["text"]) <= 300 for e in block["elements"])
        elif block["type"] == "section" and "text" in block:
            assert 1 <= len(block["text"]["text"]) <= 3000
        elif block["type"] == "section":
            assert 1 <= len(block["fields"]) <= 10
            assert all(1 <= len(f["text"]) <= 2000 for f in block["fields"])
    for obj in text_objects(blocks):
        assert obj["type"] == "plain_text" and obj["emoji"] is False
    for value in all_strings(payload):
        assert "<" not in value and ">" not in value
        assert not FOLDED.search(value)
        assert "&" not in ENTITY.sub("", value)
    assert sum(1 for b in blocks if b["type"] == "section" and "fields" in b) == -(-len(alert.facts) // 10)


def test_many_facts_never_exceed_fifty_blocks():
    facts = tuple(Fact(label=f"resource {i}", value=f"arn:aws:s3:::bucket-{i}") for i in range(600))
    assert len(render_alert(make_alert(facts=facts))["blocks"]) <= 50


@pytest.mark.parametrize("summary", ["", "\n\t", "\x00"])
def test_empty_summary_still_renders_valid_text(summary):
    section = render_alert(make_alert(summary=summary))["blocks"][2]
    assert len(section["text"]["text"]) >= 1


# invisible characters, mentions, URLs ------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("invoice\u202eexe.pdf", "invoice\ufffdexe.pdf"),
        ("evil\u200b\u200c\u200d.example", "evil\ufffd.example"),
        ("\u2066admin\u2069", "\ufffdadmin\ufffd"),
        ("\ufeffbom", "\ufffdbom"),
        ("tag\U000e0041\U000e0042", "tag\ufffd"),
        ("lone \ud800 surrogate", "lone \ufffd surrogate"),
        ("hangul\u3164filler", "hangul\ufffdfiller"),
        ("\u200b", "\ufffd"),
        ("ping @channel and @HERE, not @hereafter", "ping ＠channel and ＠HERE, not @hereafter"),
        ("@chan\u200bnel", "@chan\ufffdnel"),
        ("café 😀 ok", "café 😀 ok"),
    ],
)
def test_invisible_characters_are_shown_as_one_placeholder_per_run(raw, escaped):
    assert escape_text(raw) == escaped


def test_a_console_url_is_https_only_and_encoded_beyond_url_syntax():
    url = (
        "https://us-east-1.console.aws.amazon.com/guardduty/home?region=us-east-1#/findings?fId=a\u202eb c<d>"
    )
    assert safe_url(url) == (
        "https://us-east-1.console.aws.amazon.com/guardduty/home?region=us-east-1#/findings?fId=a%E2%80%AEb%20c%3Cd%3E"
    )
    assert safe_url("javascript:alert(1)") is None
    assert safe_url("http://example.com") is None
    assert safe_url("https://x.example/" + "a" * 3000) is None
    payload = render_alert(make_alert(console_url="slack://open"))
    assert [block["type"] for block in payload["blocks"]] == ["header", "context", "section", "section"]


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"text": "<!channel>"}, "text: an unescaped < or >"),
        ({"blocks": [{"type": "plain_text", "text": "a & b"}]}, "text: an & that starts no entity"),
        ({"text": "zero\u200bwidth"}, "text: a control or invisible character"),
        ({"text": "two\nlines"}, "text: a control or invisible character"),
        ({"text": "hi @here"}, "text: a broadcast mention"),
        ({"blocks": [{"type": "actions", "elements": [{"url": "http://x"}]}]}, "url: not an https URL"),
    ],
)
def test_inert_problems_names_what_is_wrong(payload, problem):
    [found] = inert_problems(payload)
    assert found.startswith(problem)


def test_the_notifier_refuses_a_payload_that_is_not_inert():
    asked = []

    def url() -> str:
        asked.append(True)
        return "http://127.0.0.1:9/services/T0/B0/never"

    result = SlackNotifier(url).send_payload({"text": "<!channel> \u202e"})
    assert result.status.value == "failed"
    assert result.detail.startswith("payload is not inert: text:")
    assert asked == [], "nothing was even addressed"


any_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=60)
#: Every category (surrogates, format, control, unassigned, private use included), mixed with
#: the known hostile fragments, and long enough to be cut.
inert_input = st.one_of(
    any_text,
    st.lists(st.one_of(st.sampled_from(HOSTILE), any_text), max_size=20).map("".join),
    st.tuples(any_text, st.integers(min_value=1, max_value=200)).map(lambda t: t[0] * t[1]),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=inert_input, severity=st.sampled_from(list(Severity)))
def test_invariant_slack_text_is_inert(text, severity):
    # Given attacker text in every field an alert renders (the URL's path included)
    alert = make_alert(
        severity=severity,
        title=text,
        summary=text,
        account_alias=text or None,
        facts=(Fact(label=text, value=text), Fact(label="User agent", value=text)),
        labels=(text,),
        console_url=f"https://us-east-1.console.aws.amazon.com/cloudtrail/home#/events/{text}",
    )
    # When it is rendered for Slack
    payload = render_alert(alert)
    # Then no string of the payload carries a format or other invisible character, markup that
    # Slack would act on (a bare <, > or &) or a broadcast mention; the button's URL is encoded
    for key, value in keyed_strings(payload):
        assert not any(invisible(char) for char in value), ascii(value)
        if key == "url":
            assert value.startswith("https://") and value.isascii() and value.isprintable()
            assert not any(char in value for char in ' <>"|'), ascii(value)
            continue
        assert not FOLDED.search(value), ascii(value)
        assert "<" not in value and ">" not in value, ascii(value)
        assert "&" not in ENTITY.sub("", value), ascii(value)
        assert not BROADCAST.search(value), ascii(value)
    assert inert_problems(payload) == []
    # and the payload still says something in every text object Slack requires
    assert all(obj["text"] for obj in text_objects(payload["blocks"]))
