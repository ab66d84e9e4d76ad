"""Auto-blocking: abusive sources are blocked for a while in WAF and in network ACLs.

The `auto_block` function, in the home Region, is fed by up to five inputs:

- **CloudWatch Logs subscriptions** on the configured flow-log groups (`flowLogGroupNames`):
  every record (filter pattern `""`), delivered by CloudWatch Logs, which the function's resource
  policy admits for exactly those log groups.
- **S3 flow-log files** (`flowLogBucketName`): the bucket's "Object Created" events, through the
  rule of `rules/auto_block.flow_log_object.json`. The file is generic (any bucket, any account:
  VPC Flow Logs' key layout); the deployed rule takes only this bucket's files of this account
  under the configured prefix (`deployed_flow_log_pattern`), which are exactly the keys the role
  may read: files of other accounts in a shared bucket never invoke the function.
- **GuardDuty findings** (`guarddutyEnabled`): the port-probe and SSH/RDP brute-force finding
  types of `rules/auto_block.guardduty.json`.
- **ALB top talkers** (`albTopTalkersEnabled`): a subscription on the `alb_logs` function's log
  group selecting its file summaries (`ALB_SUMMARY_FILTER_PATTERN`). The log group comes from the
  `SecautoAlbLogs` stack, so this stack depends on that one (never the other way round).
- **The sweeper**: a schedule rule named `SWEEPER_RULE_NAME` (`sweeperSchedule`), which lifts
  expired blocks. Like the access-key audit, its rule file holds the pattern of the events the
  schedule rule sends (`scheduled_event_pattern`), checked here, never deployed as a pattern.

Enforcement: per WAF scope (`wafScopes`), two IP sets (IPv4, IPv6) named `secauto-blocklist-
<scope>-ipv4|ipv6`, created empty, and a rule group `secauto-blocklist-<scope>` blocking both,
which operators add to their web ACLs (stack outputs `<Scope>BlocklistRuleGroupArn`). The
function may read and update exactly these IP sets (each granted by its own ARN, `Fn::GetAtt
Arn`: no name pattern, so no other IP set of the account), and, per configured network ACL,
create, replace and delete that ACL's entries (the reserved rule windows themselves
are the handler's to respect: IAM cannot scope an entry's rule number). CloudFormation leaves an
IP set's addresses alone on stack updates while its template properties stay the same; a change
to them (name, description, tags) writes the template's empty list back: the block table, not the
IP set, is the record of what is blocked.

The function has no reserved concurrency: detections and sweeps run in parallel, and the writers
resolve their races with WAF's lock tokens. Events EventBridge cannot deliver, and asynchronous
invocations that keep failing, go to the core dead-letter queue.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import re
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_cdk import ArnFormat, CfnOutput, Duration, Environment, Stack, Token
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2

from auto_block.permissions import (
    FLOW_LOG_OBJECTS,
    NACL_PERMISSIONS,
    PERMISSIONS,
    S3_FLOW_LOG_PERMISSIONS,
    ip_set_permissions,
)
from secauto_core.permissions import Permission
from secauto_infra.alb_logs import AlbLogsStack
from secauto_infra.config import WAF_IP_VERSIONS, waf_ip_set_name, waf_rule_group_name
from secauto_infra.core_stack import NAMED_RULE_PREFIX
from secauto_infra.event_rules import (
    allow_rule_to_invoke,
    check_object_created_rule,
    lambda_target,
    rule_from_spec,
    schedule_rule,
    scheduled_event_pattern,
)
from secauto_infra.function import SecautoFunction
from secauto_infra.nag import acknowledge
from secauto_infra.rule_catalog import RuleCatalogError, rules_for

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aws_cdk import App

    from constructs import Construct
    from secauto_infra.config import AutoBlockConfig, SecautoConfig, WafIpVersion, WafScope
    from secauto_infra.core_stack import CoreResources
    from secauto_infra.rule_catalog import RuleSpec

__all__ = [
    "ALB_SUMMARY_FILTER_PATTERN",
    "ALL_RECORDS",
    "CAPABILITY",
    "FLOW_LOG_RULE_SPEC",
    "GUARDDUTY_DETAIL_TYPE",
    "GUARDDUTY_FINDING_TYPES",
    "GUARDDUTY_RULE_SPEC",
    "GUARDDUTY_SOURCE",
    "LOGS_PRINCIPAL",
    "RULE_GROUP_CAPACITY",
    "SUBSCRIPTION_FILTER_NAME",
    "SWEEPER_RULE_NAME",
    "SWEEPER_RULE_SPEC",
    "AutoBlockRules",
    "AutoBlockStack",
    "add_auto_block",
    "bind_template",
    "check_auto_block_rules",
    "deployed_flow_log_pattern",
    "flow_log_object_prefix",
]

CAPABILITY = "auto_block"
FLOW_LOG_RULE_SPEC = f"{CAPABILITY}.flow_log_object"
GUARDDUTY_RULE_SPEC = f"{CAPABILITY}.guardduty"
SWEEPER_RULE_SPEC = f"{CAPABILITY}.sweeper"
#: The sweeper's schedule rule: its events carry `arn:...:rule/<name>`, which the rule file matches.
SWEEPER_RULE_NAME = f"{NAMED_RULE_PREFIX}auto-block-sweeper"
GUARDDUTY_SOURCE = "aws.guardduty"
GUARDDUTY_DETAIL_TYPE = "GuardDuty Finding"
#: GuardDuty finding types whose remote address is an attacker of ours (port probes of an
#: unprotected port, SSH/RDP brute force); the rule file names these and no others.
GUARDDUTY_FINDING_TYPES = (
    "Recon:EC2/PortProbeUnprotectedPort",
    "Recon:EC2/PortProbeEMRUnprotectedPort",
    "UnauthorizedAccess:EC2/SSHBruteForce",
    "UnauthorizedAccess:EC2/RDPBruteForce",
)
#: Who delivers subscription events to the function.
LOGS_PRINCIPAL = "logs.amazonaws.com"
#: The name of every subscription filter secauto puts on a log group (one per log group).
SUBSCRIPTION_FILTER_NAME = "secauto-auto-block"
#: Every record of a flow-log group.
ALL_RECORDS = ""
#: The file summaries among the `alb_logs` function's log records (Powertools JSON lines; the
#: EMF metric documents and the request samples have another or no `message`).
ALB_SUMMARY_FILTER_PATTERN = '{ $.message = "ALB log file summary" }'
#: WCUs reserved by each rule group: its two IP-set rules cost 1 each. A rule group's capacity
#: cannot change without replacing it (which fails while a web ACL uses it): room to grow.
RULE_GROUP_CAPACITY = 10

#: Why each wildcard resource the capability declares is acceptable (cdk-nag AwsSolutions-IAM5).
_WILDCARD_REASONS = {
    FLOW_LOG_OBJECTS: "VPC Flow Logs writes a new file every five minutes under a new key: the function "
    "reads (s3:GetObject only) the keys under this account's AWSLogs/<account>/vpcflowlogs/ of the "
    "configured prefix in the flow-log bucket, and nothing else.",
}


@dataclass(frozen=True)
class AutoBlockRules:
    """The capability's three rule files."""

    flow_log_object: RuleSpec
    guardduty: RuleSpec
    sweeper: RuleSpec


def check_auto_block_rules(specs: Sequence[RuleSpec]) -> AutoBlockRules:
    """The capability's rule files, which must be what the stack deploys them as.

    `flow_log_object`: a generic S3 "Object Created" pattern on the object key (no bucket: the
    stack adds the configured one); `guardduty`: GuardDuty findings of `GUARDDUTY_FINDING_TYPES`;
    `sweeper`: exactly `scheduled_event_pattern(SWEEPER_RULE_NAME)`.
    """
    by_name = {spec.name: spec for spec in specs}
    expected = sorted((FLOW_LOG_RULE_SPEC, GUARDDUTY_RULE_SPEC, SWEEPER_RULE_SPEC))
    if sorted(by_name) != expected or len(by_name) != len(specs):
        raise RuleCatalogError(
            f"{CAPABILITY}: expected rules/<name>.json for {expected}, found {sorted(by_name)}"
        )
    for spec in specs:
        if spec.handler != f"{CAPABILITY}.handler.lambda_handler":
            raise RuleCatalogError(f"{spec.path.name}: feeds {spec.handler}")
    rules = AutoBlockRules(
        flow_log_object=by_name[FLOW_LOG_RULE_SPEC],
        guardduty=by_name[GUARDDUTY_RULE_SPEC],
        sweeper=by_name[SWEEPER_RULE_SPEC],
    )
    check_object_created_rule(
        rules.flow_log_object, keys="VPC Flow Logs' keys", bucket="configured flow-log bucket"
    )
    _check_guardduty_rule(rules.guardduty)
    sweeper = scheduled_event_pattern(SWEEPER_RULE_NAME)
    if rules.sweeper.pattern != sweeper:
        raise RuleCatalogError(
            f"{rules.sweeper.path.name}: must be the pattern of the events schedule rule "
            f"{SWEEPER_RULE_NAME!r} sends, {sweeper}"
        )
    return rules


def _check_guardduty_rule(spec: RuleSpec) -> None:
    where = spec.path.name
    if spec.pattern.get("source") != [GUARDDUTY_SOURCE] or spec.pattern.get("detail-type") != [
        GUARDDUTY_DETAIL_TYPE
    ]:
        raise RuleCatalogError(
            f"{where}: must match source [{GUARDDUTY_SOURCE!r}] and detail-type [{GUARDDUTY_DETAIL_TYPE!r}] "
            "exactly"
        )
    if spec.pattern.get("detail") != {"type": list(GUARDDUTY_FINDING_TYPES)}:
        raise RuleCatalogError(
            f"{where}: must select the finding types {list(GUARDDUTY_FINDING_TYPES)} (detail.type) and "
            "nothing else: the types whose remote address the handler blocks"
        )


def flow_log_object_prefix(key_prefix: str, account: str) -> str:
    """Where VPC Flow Logs writes this account's files: `<prefix>AWSLogs/<account>/vpcflowlogs/`."""
    return f"{key_prefix}AWSLogs/{account}/vpcflowlogs/"


def _wildcard_literal(value: str) -> str:
    """`value` as literal text inside an EventBridge `wildcard` (where `*` and `\\` are special)."""
    return value.replace("\\", "\\\\").replace("*", "\\*")


def deployed_flow_log_pattern(
    pattern: dict[str, Any], *, bucket_name: str, key_prefix: str, account: str
) -> dict[str, Any]:
    """The rule file's pattern narrowed to one bucket and to this account's files under the prefix.

    `detail.bucket.name` is added; the file's key filter (any `.../AWSLogs/*/vpcflowlogs/*.log.gz`)
    is replaced by the one condition it contains for these keys: the role may read nothing else.
    """
    deployed = copy.deepcopy(pattern)
    detail = deployed.setdefault("detail", {})
    if "bucket" in detail:
        raise RuleCatalogError("the rule file must not name a bucket: the stack adds it")
    detail["bucket"] = {"name": [bucket_name]}
    objects = f"{_wildcard_literal(flow_log_object_prefix(key_prefix, account))}*.log.gz"
    detail.setdefault("object", {})["key"] = [{"wildcard": objects}]
    return deployed


def bind_template(template: str, **values: str) -> str:
    """Fill some placeholders of an ARN template, keeping the others (`{partition}`, ...) for
    `resource_arn`; a value must be a concrete name (no braces, no wildcard)."""
    parts = []
    for literal, name, _spec, _conversion in string.Formatter().parse(template):
        parts.append(literal.replace("{", "{{").replace("}", "}}"))
        if name is None:
            continue
        if name in values:
            value = values[name]
            if not value or set(value) & set("{}*?"):
                raise ValueError(f"{template!r}: {name} must be a concrete name, not {value!r}")
            parts.append(value)
        else:
            parts.append(f"{{{name}}}")
    return "".join(parts)


def _slug(name: str) -> str:
    """A construct id for a log group name (which may hold `/`, `.`, `#`), unique per name."""
    readable = "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", name) if part)[:40]
    return f"{readable}{hashlib.sha256(name.encode()).hexdigest()[:8]}"


class AutoBlockStack(Stack):
    """The WAF blocklists, the function, its inputs (rules, subscriptions) and the sweeper."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: SecautoConfig,
        core: CoreResources,
        rules: AutoBlockRules,
        alb_log_group: logs.ILogGroup | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        settings = config.capabilities.auto_block
        if settings.alb_top_talkers_enabled and alb_log_group is None:
            raise ValueError("albTopTalkersEnabled needs the alb_logs function's log group")
        self.ip_sets: dict[tuple[WafScope, WafIpVersion], wafv2.CfnIPSet] = {}
        self.rule_groups: dict[WafScope, wafv2.CfnRuleGroup] = {}
        for waf_scope in settings.waf_scopes:
            self._build_blocklist(waf_scope)

        environment = settings.environment()
        environment["SECAUTO_AUTO_BLOCK_WAF_IP_SETS"] = self.to_json_string(
            [
                {
                    "name": waf_ip_set_name(waf_scope, ip_version),
                    "id": ip_set.attr_id,
                    "scope": waf_scope,
                    "ip_version": ip_version,
                }
                for (waf_scope, ip_version), ip_set in self.ip_sets.items()
            ]
        )
        if settings.alb_top_talkers_enabled and alb_log_group is not None:
            environment["SECAUTO_AUTO_BLOCK_ALB_SUMMARY_LOG_GROUPS"] = self.to_json_string(
                [alb_log_group.log_group_name]
            )

        template_values: dict[str, str] = {}
        permissions: list[Permission] = [
            *PERMISSIONS,
            *ip_set_permissions(ip_set.attr_arn for ip_set in self.ip_sets.values()),
        ]
        if settings.flow_log_bucket_name is not None:
            permissions.extend(S3_FLOW_LOG_PERMISSIONS)
            template_values["flow_log_bucket"] = settings.flow_log_bucket_name
            template_values["flow_log_key_prefix"] = flow_log_object_prefix(
                settings.flow_log_key_prefix, self.account
            )
        for acl_id in settings.network_acl_ids:
            permissions.extend(
                Permission(permission.actions, bind_template(str(permission.resource), acl_id=acl_id))
                for permission in NACL_PERMISSIONS
            )
        self.function = SecautoFunction(
            self,
            "Function",
            capability=CAPABILITY,
            config=config,
            core=core,
            permissions=permissions,
            template_values=template_values,
            environment=environment,
            timeout=Duration.seconds(settings.timeout_seconds),
            memory_size=settings.memory_size,
        )
        self._acknowledge_wildcards(permissions, settings)

        # As for every capability, the core DLQ's policy admits our rules by name (`Secauto*` for
        # the ones CloudFormation names, `secauto-*` for the sweeper).
        def target() -> events.CfnRule.TargetProperty:
            return lambda_target(
                self.function.function,
                dead_letter_queue_arn=core.dlq.queue_arn,
                max_event_age=Duration.hours(6),
                retry_attempts=10,
            )

        self.flow_log_rule = None
        if settings.flow_log_bucket_name is not None:
            spec = rules.flow_log_object
            self.flow_log_rule = rule_from_spec(
                self,
                dataclasses.replace(
                    spec,
                    pattern=deployed_flow_log_pattern(
                        spec.pattern,
                        bucket_name=settings.flow_log_bucket_name,
                        key_prefix=settings.flow_log_key_prefix,
                        account=self.account,
                    ),
                ),
                targets=[target()],
                description="secauto: new VPC flow-log files",
            )
            allow_rule_to_invoke(self.function.function, self.flow_log_rule)
        self.guardduty_rule = None
        if settings.guardduty_enabled:
            self.guardduty_rule = rule_from_spec(
                self,
                rules.guardduty,
                targets=[target()],
                description="secauto: GuardDuty port probes and brute force, to block their sources",
            )
            allow_rule_to_invoke(self.function.function, self.guardduty_rule)
        self.sweeper_rule = schedule_rule(
            self,
            "SweeperRule",
            rule_name=SWEEPER_RULE_NAME,
            schedule_expression=settings.sweeper_schedule,
            targets=[target()],
            description=f"secauto: lift expired auto-blocks (rules/{SWEEPER_RULE_SPEC}.json)",
        )
        allow_rule_to_invoke(self.function.function, self.sweeper_rule)

        self.subscriptions: list[logs.CfnSubscriptionFilter] = []
        for name in settings.flow_log_group_names:
            arn = self.format_arn(
                service="logs",
                resource="log-group",
                resource_name=f"{name}:*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            self._subscribe(f"FlowLogs{_slug(name)}", name, arn, ALL_RECORDS)
        if settings.alb_top_talkers_enabled and alb_log_group is not None:
            self._subscribe(
                "AlbSummaries",
                alb_log_group.log_group_name,
                alb_log_group.log_group_arn,
                ALB_SUMMARY_FILTER_PATTERN,
            )

    def _build_blocklist(self, waf_scope: WafScope) -> None:
        """The scope's two IP sets (created empty: the function fills them) and its rule group."""
        title = waf_scope.capitalize()
        rule_group_name = waf_rule_group_name(waf_scope)
        rules = []
        for priority, ip_version in enumerate(WAF_IP_VERSIONS):
            name = waf_ip_set_name(waf_scope, ip_version)
            ip_set = wafv2.CfnIPSet(
                self,
                f"{title}{ip_version.capitalize()}IpSet",
                name=name,
                scope=waf_scope,
                ip_address_version=ip_version,
                addresses=[],
                # WAF descriptions allow letters, digits, spaces and `+=:#@/-,.` only.
                description=f"secauto auto-block: {ip_version} sources blocked until their block expires, "
                "kept by the auto-block function. Do not edit.",
            )
            self.ip_sets[(waf_scope, ip_version)] = ip_set
            rules.append(
                wafv2.CfnRuleGroup.RuleProperty(
                    name=f"block-{ip_version.lower()}",
                    priority=priority,
                    action=wafv2.CfnRuleGroup.RuleActionProperty(block={}),
                    statement=wafv2.CfnRuleGroup.StatementProperty(
                        ip_set_reference_statement=wafv2.CfnRuleGroup.IPSetReferenceStatementProperty(
                            arn=ip_set.attr_arn
                        )
                    ),
                    visibility_config=wafv2.CfnRuleGroup.VisibilityConfigProperty(
                        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
                    ),
                )
            )
        rule_group = wafv2.CfnRuleGroup(
            self,
            f"{title}RuleGroup",
            name=rule_group_name,
            scope=waf_scope,
            capacity=RULE_GROUP_CAPACITY,
            description="secauto auto-block: blocks requests from the sources in the secauto-blocklist "
            "IP sets",
            rules=rules,
            visibility_config=wafv2.CfnRuleGroup.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True, metric_name=rule_group_name, sampled_requests_enabled=True
            ),
        )
        self.rule_groups[waf_scope] = rule_group
        attach = (
            "CloudFront distributions'" if waf_scope == "CLOUDFRONT" else "regional (ALB, API Gateway, ...)"
        )
        CfnOutput(
            self,
            f"{title}BlocklistRuleGroupArn",
            value=rule_group.attr_arn,
            description=f"add this rule group to your {attach} web ACLs to enforce secauto's blocks",
        )

    def _subscribe(
        self, construct_id: str, log_group_name: str, log_group_arn: str, filter_pattern: str
    ) -> None:
        """A subscription filter sending a log group's records to the function, and the statement
        of the function's resource policy admitting CloudWatch Logs for that log group only."""
        permission = lambda_.CfnPermission(
            self,
            f"{construct_id}Invoke",
            action="lambda:InvokeFunction",
            function_name=self.function.function.function_arn,
            principal=LOGS_PRINCIPAL,
            source_arn=log_group_arn,
            source_account=self.account,
        )
        subscription = logs.CfnSubscriptionFilter(
            self,
            f"{construct_id}Subscription",
            log_group_name=log_group_name,
            filter_name=SUBSCRIPTION_FILTER_NAME,
            filter_pattern=filter_pattern,
            destination_arn=self.function.function.function_arn,
        )
        # CloudWatch Logs test-invokes the destination when the filter is created.
        subscription.add_resource_dependency(permission)
        self.subscriptions.append(subscription)

    def _acknowledge_wildcards(self, permissions: Sequence[Permission], settings: AutoBlockConfig) -> None:
        """One reviewed reason per declared resource with a wildcard, as cdk-nag renders it."""
        stack = {
            "partition": "<AWS::Partition>" if Token.is_unresolved(self.partition) else self.partition,
            "region": "<AWS::Region>" if Token.is_unresolved(self.region) else self.region,
            "account": "<AWS::AccountId>" if Token.is_unresolved(self.account) else self.account,
        }
        values = {}
        if settings.flow_log_bucket_name is not None:
            values = {
                "flow_log_bucket": settings.flow_log_bucket_name,
                "flow_log_key_prefix": flow_log_object_prefix(settings.flow_log_key_prefix, stack["account"]),
            }
        for permission in permissions:
            resource = permission.resource
            if not isinstance(resource, str) or resource == "*" or Token.is_unresolved(resource):
                continue  # a core resource, X-Ray and EC2's Describe*, or an IP set's own ARN
            arn = resource.format(**stack, **values)
            if "*" not in arn:
                continue
            reason = _WILDCARD_REASONS.get(resource)
            if reason is None:
                raise ValueError(f"{resource}: a wildcard resource nobody has reviewed (add a reason)")
            acknowledge(self.function.role, f"AwsSolutions-IAM5[Resource::{arn}]", reason)


def _alb_log_group(app: App) -> logs.ILogGroup | None:
    """The `alb_logs` function's log group, when its stack is in `app` (built before this one)."""
    for child in app.node.children:
        if isinstance(child, AlbLogsStack):
            return child.function.log_group
    return None


def add_auto_block(app: App, config: SecautoConfig, core: CoreResources) -> list[Stack]:
    """The home-Region stack (flow logs, S3 events, GuardDuty findings and WAF's REGIONAL scope
    are all per Region; the home Region's are the ones covered)."""
    rules = check_auto_block_rules(rules_for(CAPABILITY))
    settings: AutoBlockConfig = config.capabilities.auto_block
    alb_log_group = _alb_log_group(app) if settings.alb_top_talkers_enabled else None
    if settings.alb_top_talkers_enabled and alb_log_group is None:
        raise ValueError(
            "autoBlock.albTopTalkersEnabled: the albLogs stack must be built first "
            "(app_builder.CAPABILITIES order)"
        )
    return [
        AutoBlockStack(
            app,
            "SecautoAutoBlock",
            config=config,
            core=core,
            rules=rules,
            alb_log_group=alb_log_group,
            env=Environment(account=config.account, region=config.home_region),
            description="secauto: auto-blocking of abusive sources (flow logs, GuardDuty, ALB) in WAF and "
            "network ACLs",
        )
    ]
