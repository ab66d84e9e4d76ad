"""Lazy, cached, injectable clients and the call observer, against moto."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import boto3
import botocore.session
import pytest
from moto import mock_aws

from secauto_core import clients

ROOT = Path(__file__).resolve().parents[2]


def test_importing_every_runtime_module_creates_no_client():
    """Run in a fresh interpreter: count create_client calls made while importing secauto_core.*."""
    script = textwrap.dedent(
        """
        import importlib, json, pkgutil
        import botocore.session
        made = []
        original = botocore.session.Session.create_client
        def spy(self, *args, **kwargs):
            made.append(args[0] if args else kwargs.get("service_name"))
            return original(self, *args, **kwargs)
        botocore.session.Session.create_client = spy
        import secauto_core
        names = [m.name for m in pkgutil.iter_modules(secauto_core.__path__, "secauto_core.")]
        for name in names:
            importlib.import_module(name)
        from secauto_core import clients
        assert "secauto_core.notifier" in names and "secauto_core.securityhub" in names, names
        print(json.dumps({"modules": names, "made": made, "cached": len(clients._cache)}))
        """
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("functions", "constructs", ".")),
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=20, check=False
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(outcome["modules"]) >= 15
    assert outcome["made"] == [], "clients were created while importing"
    assert outcome["cached"] == 0


def test_client_made_inside_mock_aws_talks_to_moto():
    with mock_aws():
        arn = clients.sns().create_topic(Name="made-by-factory")["TopicArn"]
        topics = boto3.client("sns", region_name="us-east-1").list_topics()["Topics"]
        assert {"TopicArn": arn} in topics
        assert arn.startswith("arn:aws:sns:us-east-1:123456789012:")


def test_clients_are_cached_per_service_and_region_until_reset():
    sns = clients.sns()
    assert clients.sns() is sns
    assert clients.client("sns") is sns
    eu = clients.sns("eu-west-1")
    assert eu is not sns
    assert eu.meta.region_name == "eu-west-1"
    assert clients.dynamodb() is not sns
    clients.reset_clients()
    assert clients.sns() is not sns


def test_clients_use_adaptive_retries():
    config = clients.securityhub().meta.config
    assert config.retries["mode"] == "adaptive"
    # botocore reads `max_attempts=8` as 8 retries: 9 attempts in all.
    assert config.retries["total_max_attempts"] == 9


def test_reset_clients_lets_a_new_moto_account_be_seen():
    with mock_aws():
        clients.sns().create_topic(Name="first-account")
    with mock_aws():
        clients.reset_clients()
        assert clients.sns().list_topics()["Topics"] == []


def test_set_session_injects_a_session_and_its_region():
    session = botocore.session.Session()
    session.set_config_variable("region", "eu-central-1")
    try:
        clients.set_session(session)
        assert clients.current_region() == "eu-central-1"
        assert clients.sns().meta.region_name == "eu-central-1"
    finally:
        clients.set_session(None)
    assert clients.sns().meta.region_name == "us-east-1"
    assert clients.current_region() == "us-east-1"


def test_call_observer_records_iam_actions_with_parameters():
    calls: list[tuple[str, dict]] = []

    def observer(action, params):
        calls.append((action, params))

    with mock_aws():
        clients.add_call_observer(observer)
        try:
            arn = clients.sns().create_topic(Name="alerts")["TopicArn"]
            clients.sns().publish(TopicArn=arn, Message="hello")
            clients.client("cloudwatch").list_metrics()  # signing name "monitoring"
            clients.client("ses").list_identities()  # signing name "email"
            clients.secretsmanager().list_secrets()
        finally:
            clients.remove_call_observer(observer)
        clients.sns().list_topics()  # after removal: not recorded

    actions = [action for action, _ in calls]
    assert actions == [
        "sns:CreateTopic",
        "sns:Publish",
        "cloudwatch:ListMetrics",
        "ses:ListIdentities",
        "secretsmanager:ListSecrets",
    ]
    assert calls[1][1] == {"TopicArn": arn, "Message": "hello"}


def test_removing_an_unknown_observer_is_harmless():
    clients.remove_call_observer(lambda action, params: None)


def test_failing_call_is_still_observed():
    seen: list[str] = []

    def observer(action, params):
        seen.append(action)

    with mock_aws():
        clients.add_call_observer(observer)
        try:
            with pytest.raises(clients.sns().exceptions.NotFoundException):
                clients.sns().publish(TopicArn="arn:aws:sns:us-east-1:123456789012:missing", Message="x")
        finally:
            clients.remove_call_observer(observer)
    assert seen == ["sns:Publish"]
