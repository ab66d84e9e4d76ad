"""Findings fan-out throughput: normalize + ASFF build + strict validation per second, and the
number of BatchImportFindings calls for 1,000 findings.

Targets: at least 5,000 findings/s for normalize + validate on one core; exactly 10 import calls
for 1,000 findings. The events come from a deterministic generator over the three sources.

    uv run python benchmarks/findings.py [--findings N]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path[:0] = [
    str(Path(__file__).resolve().parents[1] / "functions"),
    str(Path(__file__).resolve().parents[1]),
]

from findings.asff_mapping import to_asff  # noqa: E402
from findings.normalize import normalize_event  # noqa: E402
from secauto_core.asff_validator import validate_finding  # noqa: E402

ACCOUNT = "123456789012"
REGION = "us-east-1"
TARGET_PER_SECOND = 5000
GD_TYPES = [
    "UnauthorizedAccess:EC2/SSHBruteForce",
    "Recon:EC2/PortProbeUnprotectedPort",
    "CryptoCurrency:EC2/BitcoinTool.B!DNS",
    "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
]


def envelope(source: str, detail_type: str, detail: dict[str, Any], index: int) -> dict[str, Any]:
    return {
        "version": "0",
        "id": f"00000000-0000-4000-8000-{index:012d}",
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": "2026-03-10T10:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": detail,
    }


def guardduty(index: int, rng: random.Random) -> dict[str, Any]:
    finding_id = f"{index:032x}"
    kind = rng.choice(GD_TYPES)
    return envelope(
        "aws.guardduty",
        "GuardDuty Finding",
        {
            "schemaVersion": "2.0",
            "accountId": ACCOUNT,
            "region": REGION,
            "partition": "aws",
            "id": finding_id,
            "arn": f"arn:aws:guardduty:{REGION}:{ACCOUNT}:detector/d1/finding/{finding_id}",
            "type": kind,
            "resource": {
                "resourceType": "Instance",
                "instanceDetails": {
                    "instanceId": f"i-{index:017x}",
                    "instanceType": "t3.micro",
                    "tags": [{"key": "Name", "value": f"web-{index % 50}"}],
                },
            },
            "service": {
                "serviceName": "guardduty",
                "detectorId": "d1",
                "action": {
                    "actionType": "NETWORK_CONNECTION",
                    "networkConnectionAction": {
                        "remoteIpDetails": {"ipAddressV4": f"203.0.113.{index % 250}"}
                    },
                },
                "additionalInfo": {"value": '{"threatListName":"ProofPoint"}', "type": "default"},
                "eventFirstSeen": "2026-03-10T09:00:00.000Z",
                "eventLastSeen": "2026-03-10T09:59:00.000Z",
                "archived": False,
                "count": rng.randint(1, 500),
            },
            "severity": rng.choice([2, 5, 8, 9.5]),
            "createdAt": "2026-03-10T09:00:00.000Z",
            "updatedAt": "2026-03-10T10:00:00.000Z",
            "title": f"Finding {index} of type {kind}",
            "description": "A deterministic benchmark finding. " * 4,
        },
        index,
    )


def macie(index: int, rng: random.Random) -> dict[str, Any]:
    return envelope(
        "aws.macie",
        "Macie Finding",
        {
            "schemaVersion": "1.0",
            "id": f"m{index:031x}",
            "accountId": ACCOUNT,
            "partition": "aws",
            "region": REGION,
            "type": rng.choice(["SensitiveData:S3Object/Personal", "Policy:IAMUser/S3BucketPublic"]),
            "title": "Sensitive data in an S3 object",
            "description": "The object contains personal information.",
            "severity": {"score": 3, "description": rng.choice(["Low", "Medium", "High"])},
            "createdAt": "2026-03-10T09:00:00.000Z",
            "updatedAt": "2026-03-10T10:00:00.000Z",
            "count": 1,
            "category": "CLASSIFICATION",
            "resourcesAffected": {
                "s3Bucket": {"arn": f"arn:aws:s3:::bucket-{index % 40}", "name": f"bucket-{index % 40}"},
                "s3Object": {"key": f"exports/{index}.csv"},
            },
            "classificationDetails": {"jobId": "j1", "result": {"sensitiveData": [{"totalCount": 12}]}},
        },
        index,
    )


def inspector(index: int, rng: random.Random) -> dict[str, Any]:
    return envelope(
        "aws.inspector2",
        "Inspector2 Finding",
        {
            "awsAccountId": ACCOUNT,
            "findingArn": f"arn:aws:inspector2:{REGION}:{ACCOUNT}:finding/{index:032x}",
            "type": "PACKAGE_VULNERABILITY",
            "title": f"CVE-2026-{index % 9999:04d} - openssl",
            "description": "A vulnerable package.",
            "severity": rng.choice(["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNTRIAGED"]),
            "inspectorScore": 7.5,
            "status": "ACTIVE",
            "firstObservedAt": rng.choice(["Mar 3, 2026, 6:02:30 PM", "2026-03-03T18:02:30.000Z"]),
            "lastObservedAt": "Wed Mar 04 16:59:44.356 UTC 2026",
            "updatedAt": "Wed Mar 04 16:59:44.356 UTC 2026",
            "resources": [
                {
                    "id": f"i-{index:017x}",
                    "type": "AWS_EC2_INSTANCE",
                    "region": REGION,
                    "tags": {"Env": "prod"},
                }
            ],
            "packageVulnerabilityDetails": {"vulnerabilityId": f"CVE-2026-{index % 9999:04d}"},
        },
        index,
    )


def generate(count: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    makers = [guardduty, macie, inspector]
    return [makers[index % 3](index, rng) for index in range(count)]


def throughput(events: list[dict[str, Any]]) -> tuple[float, int]:
    problems = 0
    started = time.perf_counter()
    for event in events:
        problems += bool(validate_finding(to_asff(normalize_event(event), REGION)))
    return len(events) / (time.perf_counter() - started), problems


def import_calls(count: int) -> int:
    from secauto_cli.embedded_account import embedded_account
    from secauto_core import clients
    from secauto_core.securityhub import FindingsImporter

    findings = [to_asff(normalize_event(event), REGION) for event in generate(count)]
    calls: list[str] = []
    with embedded_account() as account:
        clients.add_call_observer(lambda operation, _params: calls.append(operation))
        report = FindingsImporter(sleep=lambda _seconds: None).import_findings(findings)
        stored = len(account.securityhub_findings())
    assert report.ok and stored == count, (report.as_dict(), stored)
    return calls.count("securityhub:BatchImportFindings")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=20_000)
    args = parser.parse_args()
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "secauto")
    events = generate(args.findings)
    throughput(events[:300])  # warm up: pydantic builds its schemas on first use
    rate, problems = throughput(events)
    calls = import_calls(1000)
    print(
        f"normalize + build ASFF + strict validation: {rate:,.0f} findings/s "
        f"over {len(events):,} findings (1 core)"
    )
    print(f"findings failing validation: {problems}")
    print(f"BatchImportFindings calls for 1,000 findings: {calls}")
    ok = rate >= TARGET_PER_SECOND and calls == 10 and problems == 0
    print(f"targets: >= {TARGET_PER_SECOND:,}/s and exactly 10 calls: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
