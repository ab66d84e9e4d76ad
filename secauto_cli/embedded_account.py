"""An AWS account inside this process (moto), seeded with what a deployed secauto stack has.

Used by `secauto replay`/`secauto demo` and by the tests, so both exercise the handlers against
the same resources: the alert topic (with an SQS queue subscribed, to read messages back), the
Slack webhook secret, the idempotency and state tables, the dead-letter queue, and Security Hub
enabled. The runtime environment variables point the handlers at them.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3

from secauto_cli.environment import environment
from secauto_core.lifecycle import reset_runtime

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

__all__ = ["ACCOUNT_ID", "EmbeddedAccount", "embedded_account"]

ACCOUNT_ID = "123456789012"
_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


@dataclass
class EmbeddedAccount:
    region: str
    topic_arn: str
    sns_capture_queue_url: str
    slack_secret_name: str
    idempotency_table: str
    state_table: str
    dlq_url: str
    account_id: str = ACCOUNT_ID
    _seen_findings: dict[str, str] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=self.region)  # type: ignore[call-overload]

    def environment(self) -> dict[str, str]:
        """The variables the CDK function construct would set, pointing at this account."""
        return {
            "SECAUTO_TOPIC_ARN": self.topic_arn,
            "SECAUTO_SLACK_SECRET_NAME": self.slack_secret_name,
            "SECAUTO_IDEMPOTENCY_TABLE": self.idempotency_table,
            "SECAUTO_STATE_TABLE": self.state_table,
            "SECAUTO_DLQ_URL": self.dlq_url,
            "SECAUTO_SECURITYHUB_IMPORT": "true",
        }

    def set_slack_webhook(self, url: str) -> None:
        self.client("secretsmanager").put_secret_value(SecretId=self.slack_secret_name, SecretString=url)
        reset_runtime()

    def sns_messages(self) -> list[dict[str, Any]]:
        """Messages published to the alert topic since the last call: subject, body, attributes."""
        messages = []
        for body in _drain(self.client("sqs"), self.sns_capture_queue_url):
            envelope = json.loads(body)
            attributes = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
            messages.append(
                {"subject": envelope.get("Subject"), "message": envelope["Message"], "attributes": attributes}
            )
        return messages

    def dlq_messages(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body in _drain(self.client("sqs"), self.dlq_url)]

    def securityhub_findings(self) -> list[dict[str, Any]]:
        """Every finding in Security Hub (moto ignores filters, so we page through all)."""
        findings: list[dict[str, Any]] = []
        paginator = self.client("securityhub").get_paginator("get_findings")
        for page in paginator.paginate():
            findings.extend(page["Findings"])
        return findings

    def new_securityhub_findings(self) -> list[dict[str, Any]]:
        """Findings created or updated (new `UpdatedAt`) since the last call."""
        changed = []
        for finding in self.securityhub_findings():
            if self._seen_findings.get(finding["Id"]) != finding["UpdatedAt"]:
                self._seen_findings[finding["Id"]] = finding["UpdatedAt"]
                changed.append(finding)
        return changed


def _drain(sqs: Any, queue_url: str) -> list[str]:
    bodies: list[str] = []
    while True:
        response = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        )
        batch = response.get("Messages", [])
        if not batch:
            return bodies
        for message in batch:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def _seed(region: str, slack_url: str | None) -> EmbeddedAccount:
    def client(service: str) -> Any:
        return boto3.client(service, region_name=region)  # type: ignore[call-overload]

    sns, sqs, dynamodb = client("sns"), client("sqs"), client("dynamodb")
    topic_arn = sns.create_topic(Name="secauto-alerts")["TopicArn"]
    capture_url = sqs.create_queue(QueueName="secauto-alerts-capture")["QueueUrl"]
    capture_arn = sqs.get_queue_attributes(QueueUrl=capture_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=capture_arn)
    dlq_url = sqs.create_queue(QueueName="secauto-dlq")["QueueUrl"]
    secret_name = "secauto/slack-webhook"  # noqa: S105 (the secret's name, not its value)
    secret: dict[str, Any] = {"Name": secret_name}
    if slack_url:
        secret["SecretString"] = slack_url
    client("secretsmanager").create_secret(**secret)
    dynamodb.create_table(
        TableName="secauto-idempotency",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.create_table(
        TableName="secauto-state",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    client("securityhub").enable_security_hub()
    return EmbeddedAccount(
        region=region,
        topic_arn=topic_arn,
        sns_capture_queue_url=capture_url,
        slack_secret_name=secret_name,
        idempotency_table="secauto-idempotency",
        state_table="secauto-state",
        dlq_url=dlq_url,
    )


@contextmanager
def embedded_account(
    slack_url: str | None = None,
    region: str = "us-east-1",
    extra_environment: Mapping[str, str] | None = None,
) -> Iterator[EmbeddedAccount]:
    """A seeded moto account with the runtime environment pointing at it, for the `with` body."""
    from moto import mock_aws

    base = {
        **_FAKE_CREDENTIALS,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "secauto",
    }
    with environment(base), mock_aws():
        account = _seed(region, slack_url)
        with environment({**account.environment(), **(extra_environment or {})}):
            reset_runtime()
            try:
                yield account
            finally:
                reset_runtime()
