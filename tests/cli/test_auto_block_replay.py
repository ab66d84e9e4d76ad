"""`secauto replay events/auto_block/*.json`: the rules each event matched, the blocks made, and
what changed in the WAF IP sets and the network ACL window (the "blocks" effect collector); the
CloudWatch Logs subscription samples reach the handler through `delivered_to`."""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from auto_block.waf_writer import UPDATE_PACER
from secauto_cli.main import main
from tests.conftest import EVENTS_DIR

AUTO_BLOCK_EVENTS = sorted((EVENTS_DIR / "auto_block").glob("*.json"))


def _replay(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out):
        patch.setattr(UPDATE_PACER, "interval", 0.0)  # WAF's one-update-per-second pacing
        status = main(["replay", *args])
    return status, out.getvalue()


@pytest.fixture(scope="module")
def replayed() -> Iterator[tuple[int, dict[str, str]]]:
    """One replay of every auto-block sample, in file order; the output per event file."""
    status, out = _replay(*map(str, AUTO_BLOCK_EVENTS))
    sections: dict[str, str] = {}
    name = ""
    for line in out.splitlines():
        match = re.match(r"^(ok|FAIL) +\S*/(\w+)\.json", line)
        if match:
            name = match[2]
        sections[name] = sections.get(name, "") + line + "\n"
    yield status, sections


def test_every_sample_replays_as_expected(replayed: tuple[int, dict[str, str]]) -> None:
    status, sections = replayed
    assert status == 0, "\n".join(sections.values())
    assert set(sections) == {path.stem for path in AUTO_BLOCK_EVENTS}
    assert all(text.startswith("ok ") for text in sections.values()), "\n".join(sections.values())
    for negative in ("cloudtrail_log_object_created", "other_schedule_tick"):
        assert "no rule matched (as expected)" in sections[negative]


def test_the_flow_log_file_shows_its_rule_blocks_and_target_changes(
    replayed: tuple[int, dict[str, str]],
) -> None:
    text = replayed[1]["flow_log_file_delivered"]
    assert ": auto_block.flow_log_object\n" in text.splitlines()[0] + "\n"
    assert (
        "-> auto_block.handler.lambda_handler: enforced flow-log file vpc/AWSLogs/123456789012/vpcflowlogs/"
        in text
    )
    assert (
        "records=126 nodata=1 skipdata=1 candidates=7 detections=7 blocked=5 allowlisted=2 active=5" in text
    )
    for source, detector in (
        ("203.0.113.7/32", "port_scan"),
        ("198.51.100.23/32", "host_sweep"),
        ("203.0.113.50/32", "reject_flood"),
        ("2001:db8:bad:1::7/128", "port_scan"),
        ("198.51.100.77/32", "port_scan"),
    ):
        assert re.search(rf"blocked {re.escape(source)} until \S+ \({detector}\)", text), source
    assert "not blocked 192.0.2.200/32: allowlisted by 192.0.2.192/27" in text
    assert "not blocked 10.0.3.44/32: allowlisted by 10.0.0.0/16" in text
    assert "slack: [HIGH] Auto-block: 5 source(s) blocked" in text
    assert text.count("securityhub: ") == 5
    # The WAF IP sets and the ACL window, before -> after.
    assert "blocks: waf secauto-blocklist-regional-ipv4: 0 -> 4 address(es)" in text
    assert "blocks: waf secauto-blocklist-regional-ipv4: + 203.0.113.7/32" in text
    assert "blocks: waf secauto-blocklist-regional-ipv6: 0 -> 1 address(es)" in text
    assert "blocks: waf secauto-blocklist-regional-ipv6: + 2001:db8:bad:1::7/128" in text
    assert re.search(r"blocks: nacl acl-[0-9a-f]+: window 1-10: 0 -> 5 entries", text)
    denied = re.findall(r"blocks: nacl acl-[0-9a-f]+: rule (\d+) DENY (\S+)", text)
    assert sorted(denied) == [
        ("1", "198.51.100.23/32"),
        ("2", "198.51.100.77/32"),
        ("3", "2001:db8:bad:1::7/128"),
        ("4", "203.0.113.7/32"),
        ("5", "203.0.113.50/32"),
    ]


def test_the_subscription_is_delivered_directly_and_adds_a_block(
    replayed: tuple[int, dict[str, str]],
) -> None:
    text = replayed[1]["flow_logs_subscription"]
    assert text.splitlines()[0].endswith(
        "flow_logs_subscription.json: delivered directly to auto_block (no rule)"
    )
    assert "-> auto_block.handler.lambda_handler: enforced flow logs from /vpc/prod/flow-logs" in text
    assert re.search(r"blocked 203\.0\.113\.66/32 until \S+ \(port_scan\)", text)
    assert "blocks: waf secauto-blocklist-regional-ipv4: 4 -> 5 address(es)" in text
    assert re.search(r"blocks: nacl acl-[0-9a-f]+: rule 6 DENY 203\.0\.113\.66/32", text)
    control = replayed[1]["flow_logs_subscription_control_message"]
    assert "delivered directly to auto_block (no rule)" in control
    assert "-> auto_block.handler.lambda_handler: skipped reason: CONTROL_MESSAGE" in control
    assert "blocks:" not in control


def test_guardduty_and_sweeper_events_reach_their_rules(replayed: tuple[int, dict[str, str]]) -> None:
    sections = replayed[1]
    for name in ("guardduty_ssh_brute_force", "guardduty_port_probe"):
        assert sections[name].splitlines()[0].endswith(": auto_block.guardduty, findings.guardduty")
        assert "-> auto_block.handler.lambda_handler: enforced GuardDuty " in sections[name]
    outbound = sections["guardduty_outbound_portscan"]
    assert outbound.splitlines()[0].endswith(": findings.guardduty")
    assert "auto_block.handler" not in outbound
    sweeper = sections["sweeper_tick"]
    assert sweeper.splitlines()[0].endswith(": auto_block.sweeper")
    assert "-> auto_block.handler.lambda_handler: enforced sweeper:" in sweeper
    assert "active=9" in sweeper and "blocks:" not in sweeper  # nothing expired yet


def test_json_output_carries_the_delivery_and_the_changes() -> None:
    status, out = _replay("--json", str(EVENTS_DIR / "auto_block" / "flow_logs_subscription.json"))
    assert status == 0
    [outcome] = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert (outcome["rules"], outcome["delivered_to"]) == ([], "auto_block")
    assert outcome["handlers"] == ["auto_block.handler.lambda_handler"]
    assert outcome["errors"] == []
    [result] = outcome["results"]
    assert [row["source"] for row in result["blocked"]] == ["203.0.113.66/32"]
    assert "waf secauto-blocklist-regional-ipv4: + 203.0.113.66/32" in outcome["effects"]["blocks"]
    assert "wafv2:UpdateIPSet" in outcome["effects"]["aws_calls"]
    assert "ec2:CreateNetworkAclEntry" in outcome["effects"]["aws_calls"]


def test_a_subscription_event_without_delivered_to_is_an_error(tmp_path: Path) -> None:
    copy = tmp_path / "flow_logs_subscription.json"
    copy.write_text((EVENTS_DIR / "auto_block" / "flow_logs_subscription.json").read_text())
    status, out = _replay("--json", str(copy))
    assert status == 1
    [outcome] = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert outcome["handlers"] == [] and outcome["delivered_to"] is None
    assert "no rule in rules/ matches" in outcome["errors"][0]


# --- secauto block: single addresses, ranges only when asked for and never too wide ----------------


def _block(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with (
        pytest.MonkeyPatch.context() as patch,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        patch.setattr(UPDATE_PACER, "interval", 0.0)
        status = main(["block", *args])
    return status, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["203.0.113.0/24"], "203.0.113.0/24 is a range: pass --range to block a whole network"),
        (["203.0.113.7/24", "--range"], "203.0.113.7/24 has host bits set (did you mean 203.0.113.0/24?)"),
        (["2001:db8::7/48", "--range"], "2001:db8::7/48 has host bits set (did you mean 2001:db8::/48?)"),
        (["not-an-address"], "does not appear to be an IPv4 or IPv6"),
    ],
)
def test_block_refuses_a_range_it_was_not_asked_for_or_written_with_host_bits(
    args: list[str], message: str
) -> None:
    status, out, err = _block(*args, "--embedded")
    assert (status, out) == (2, "")
    assert message in err


def test_block_of_the_internet_is_refused_and_a_range_at_the_minimum_is_blocked() -> None:
    status, out, _ = _block("0.0.0.0/0", "--range", "--embedded")
    report = json.loads(out)
    assert status == 1
    assert report["refused"] == [
        {"source": "0.0.0.0/0", "reason": "0.0.0.0/0 is the whole IPv4 internet", "by": "manual"}
    ]
    assert report["blocked"] == [] and report["active_blocks"] == 0

    status, out, _ = _block("203.0.113.0/24", "--range", "--ttl", "2h", "--embedded")
    report = json.loads(out)
    assert status == 0 and report["refused"] == []
    assert [row["source"] for row in report["blocked"]] == ["203.0.113.0/24"]
    added = sorted((row["target"].split(":")[0], row["added"]) for row in report["targets"])
    assert added == [("nacl", ["203.0.113.0/24"]), ("waf", []), ("waf", ["203.0.113.0/24"])]
