"""cdk-nag finds nothing unacknowledged, every acknowledgment is a reviewed one, cfn-lint is clean."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_sqs as sqs
from infra_testlib import FULL_CONFIG

from secauto_infra.nag import enable_nag

if TYPE_CHECKING:
    from infra_testlib import Synthesized

ACKNOWLEDGED_METADATA = "aws:cdk:acknowledged-rules"

#: Every acknowledgment, by construct path (stack id first). A new one must be added here, i.e. reviewed.
REVIEWED = {
    ("SecautoCore/DeadLetterQueue", "AwsSolutions::AwsSolutions-SQS3"),
    ("SecautoCore/SlackWebhook", "AwsSolutions::AwsSolutions-SMG4"),
    ("SecautoRootActivity/Function/Role", "AwsSolutions::AwsSolutions-IAM5[Resource::*]"),
    ("SecautoRootActivity/Function/Function", "AwsSolutions::AwsSolutions-L1"),
    ("SecautoRootActivity-*/DeadLetterQueue", "AwsSolutions::AwsSolutions-SQS3"),
    ("SecautoFindings/Function/Role", "AwsSolutions::AwsSolutions-IAM5[Resource::*]"),
    ("SecautoFindings/Function/Function", "AwsSolutions::AwsSolutions-L1"),
    # sts:AssumeRole on the configured import role in any member account (only when configured).
    (
        "SecautoFindings/Function/Role",
        "AwsSolutions::AwsSolutions-IAM5[Resource::arn:aws:iam::*:role/"
        f"{FULL_CONFIG['capabilities']['findings']['crossAccountRoleName']}]",
    ),
    # X-Ray and the credential report (GenerateCredentialReport, GetCredentialReport,
    # GetAccountSummary): actions AWS documents with "*" as their only resource.
    ("SecautoAccessKeys/Function/Role", "AwsSolutions::AwsSolutions-IAM5[Resource::*]"),
    ("SecautoAccessKeys/Function/Function", "AwsSolutions::AwsSolutions-L1"),
    # The audit covers every user of this account (key-level actions), and reads the exempt groups.
    *(
        (
            "SecautoAccessKeys/Function/Role",
            f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:aws:iam::{account}:{kind}/*]",
        )
        for account in ("<AWS::AccountId>", FULL_CONFIG["account"])
        for kind in ("user", "group")
    ),
    # X-Ray on "*"; the runtime pinned to the Powertools layer's.
    ("SecautoAlbLogs/Function/Role", "AwsSolutions::AwsSolutions-IAM5[Resource::*]"),
    ("SecautoAlbLogs/Function/Function", "AwsSolutions::AwsSolutions-L1"),
    # The created log bucket holds access logs itself: no server access logs of the log bucket.
    ("SecautoAlbLogs/LogBucket", "AwsSolutions::AwsSolutions-S1"),
    # s3:GetObject on every new log file of this account under the created bucket's ELB prefix.
    *(
        (
            "SecautoAlbLogs/Function/Role",
            "AwsSolutions::AwsSolutions-IAM5[Resource::arn:aws:s3:::<LogBucketCC3B17E8>/AWSLogs/"
            f"{account}/elasticloadbalancing/*]",
        )
        for account in ("<AWS::AccountId>", FULL_CONFIG["account"])
    ),
    # X-Ray, ec2:DescribeNetworkAcls and ec2:DescribeVpcs on "*"; the runtime pinned to the layer's.
    ("SecautoAutoBlock/Function/Role", "AwsSolutions::AwsSolutions-IAM5[Resource::*]"),
    ("SecautoAutoBlock/Function/Function", "AwsSolutions::AwsSolutions-L1"),
    # s3:GetObject on every new flow-log file of this account under the configured bucket's prefix.
    (
        "SecautoAutoBlock/Function/Role",
        "AwsSolutions::AwsSolutions-IAM5[Resource::arn:aws:s3:::"
        f"{FULL_CONFIG['capabilities']['autoBlock']['flowLogBucketName']}/"
        f"{FULL_CONFIG['capabilities']['autoBlock']['flowLogKeyPrefix']}AWSLogs/{FULL_CONFIG['account']}/"
        "vpcflowlogs/*]",
    ),
    # X-Ray and ec2:Describe{Instances,Volumes,Snapshots,Images} on "*"; the runtime pinned to the layer's.
    ("SecautoBackups/Function/Role", "AwsSolutions::AwsSolutions-IAM5[Resource::*]"),
    ("SecautoBackups/Function/Function", "AwsSolutions::AwsSolutions-L1"),
    # New snapshots and images (ids EC2 generates), under tag conditions, in the home and copy
    # Regions; the instances and volumes the plans select by tag at run time (home Region).
    *(
        (
            "SecautoBackups/Function/Role",
            f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:aws:ec2:{region}::{kind}/*]",
        )
        for region in (
            FULL_CONFIG["homeRegion"],
            FULL_CONFIG["capabilities"]["backups"]["plans"][0]["copyTo"]["region"],
        )
        for kind in ("snapshot", "image")
    ),
    *(
        (
            "SecautoBackups/Function/Role",
            f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:aws:ec2:{FULL_CONFIG['homeRegion']}:"
            f"{FULL_CONFIG['account']}:{kind}/*]",
        )
        for kind in ("instance", "volume")
    ),
}


def _violations(outdir: Path) -> list[str]:
    report = json.loads((outdir / "validation-report.json").read_text())
    return [
        f"{violation['ruleName']}: {[c['constructPath'] for c in violation['violatingConstructs']]}"
        for plugin in report["pluginReports"]
        for violation in plugin.get("violations", [])
    ]


def _acknowledgments(outdir: Path) -> dict[tuple[str, str], str]:
    found = {}
    for metadata_file in outdir.glob("*.metadata.json"):
        for path, entries in json.loads(metadata_file.read_text()).items():
            for entry in entries:
                if entry["type"] == ACKNOWLEDGED_METADATA:
                    for rule_id, reason in entry["data"].items():
                        found[(path.strip("/"), rule_id)] = reason
    return found


def test_cdk_nag_reports_no_violation(synth: Synthesized) -> None:
    # The fixture's synth() would have raised on a violation; the report says the same.
    assert _violations(synth.outdir) == []


def test_every_acknowledgment_is_reviewed_and_has_a_reason(synth: Synthesized) -> None:
    acknowledgments = _acknowledgments(synth.outdir)
    assert acknowledgments
    for (path, rule_id), reason in acknowledgments.items():
        stack, _, rest = path.partition("/")
        pattern = ("SecautoRootActivity-*/" + rest) if stack.startswith("SecautoRootActivity-") else path
        assert (pattern, rule_id) in REVIEWED, f"unreviewed acknowledgment {rule_id} on {path}"
        assert len(reason) > 40, f"{rule_id} on {path}: say why"


def test_an_unacknowledged_violation_fails_synthesis(tmp_path: Path) -> None:
    # Given an app with a queue that breaks AwsSolutions rules, checked the way build_app checks
    app = App(outdir=str(tmp_path))
    sqs.Queue(Stack(app, "Bad"), "PlainQueue")
    enable_nag(app)
    # When it synthesizes, Then synthesis fails and the report names the rules
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    violations = _violations(tmp_path)
    assert any(v.startswith("AwsSolutions-SQS4") for v in violations)
    assert any("Bad/PlainQueue/Resource" in v for v in violations)


def test_cfn_lint_is_clean(default_synth: Synthesized, full_synth: Synthesized) -> None:
    templates = sorted(
        str(path) for synth in (default_synth, full_synth) for path in synth.outdir.glob("*.template.json")
    )
    assert len(templates) >= 5
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run(
        [str(cfn_lint), "--ignore-checks", "W3005", "--", *templates],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
