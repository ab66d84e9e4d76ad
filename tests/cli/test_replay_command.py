"""`secauto replay`: per-event JSON effects, clear errors, and the exit status."""

from __future__ import annotations

import json
from pathlib import Path

from secauto_cli.main import main
from tests.conftest import EVENTS_DIR

ROOT_EVENTS = EVENTS_DIR / "root_activity"


def run_json(capsys, *files: str | Path) -> tuple[int, list[dict]]:
    status = main(["replay", "--json", *map(str, files)])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return status, [json.loads(line) for line in lines]


def test_replay_reports_rule_handler_and_every_effect(capsys):
    status, [outcome] = run_json(capsys, ROOT_EVENTS / "root_console_signin_success_no_mfa.json")
    assert status == 0
    assert outcome["rules"] == ["root_activity.console_signin"]
    assert outcome["handlers"] == ["root_activity.handler.lambda_handler"]
    assert outcome["errors"] == []
    effects = outcome["effects"]
    assert len(effects["slack"]) == 1 and effects["slack"][0]["blocks"][0]["type"] == "header"
    assert effects["sns"][0]["attributes"]["severity"] == "CRITICAL"
    [finding] = effects["securityhub"]
    assert finding["Severity"]["Label"] == "CRITICAL"
    assert "sns:Publish" in effects["aws_calls"]
    assert "securityhub:BatchImportFindings" in effects["aws_calls"]


def test_replaying_the_same_event_twice_alerts_once(capsys):
    event = ROOT_EVENTS / "root_api_call_iam_create_access_key.json"
    status, outcomes = run_json(capsys, event, event)
    assert status == 0
    first, second = outcomes
    assert len(first["effects"]["sns"]) == 1
    assert second["results"][0]["duplicate"] is True
    assert second["effects"]["sns"] == [] and second["effects"]["slack"] == []


def test_bad_files_get_clear_errors_and_the_rest_still_run(capsys, tmp_path):
    not_json = tmp_path / "broken.json"
    not_json.write_text("{not json")
    unmatched = tmp_path / "unmatched.json"
    unmatched.write_text(
        json.dumps({"source": "aws.ec2", "detail-type": "EC2 Instance State-change", "detail": {}})
    )
    good = ROOT_EVENTS / "root_console_signin_failure.json"
    status, outcomes = run_json(capsys, tmp_path / "missing.json", not_json, unmatched, good)
    assert status == 1
    errors = [o["errors"] for o in outcomes]
    assert "no such file" in errors[0][0]
    assert "not JSON" in errors[1][0]
    assert "no rule in rules/ matches" in errors[2][0]
    assert errors[3] == [] and len(outcomes[3]["effects"]["sns"]) == 1


def test_human_output_has_a_readable_line_per_event(capsys):
    status = main(["replay", str(ROOT_EVENTS / "root_console_signin_success_mfa.json")])
    out = capsys.readouterr().out
    assert status == 0
    assert "ok    " in out and "root_activity.console_signin" in out
    assert "slack: [HIGH] Root console sign-in (MFA used)" in out
    assert "sns: [HIGH]" in out and "securityhub: HIGH" in out
