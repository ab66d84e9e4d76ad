"""`secauto block` / `secauto unblock`: manual blocks through the same table and writers.

Against a deployed account (`--profile`/`--region`), the settings are read from the deployed
auto-blocking function itself (its environment names the IP sets, the network ACLs and the
state table), so the command can never disagree with the deployment. With `--embedded`, the
command runs against a moto account seeded as the local replay is (demo and tests).

`block` takes one address; a whole network only with `--range`, written with its host bits zero
(`203.0.113.7/24` is refused as a typo, never widened) and no wider than the deployment's
minimum prefix (`minRangePrefixV4`/`minRangePrefixV6`, /24 and /48 by default). 0.0.0.0/0 and
::/0, private addresses (unless `allowPrivateSources`) and allowlisted ones are refused by the
same rule automation obeys: the report's `refused` says why, and the command exits 1.
"""

from __future__ import annotations

import json
import os
import re
import sys
from contextlib import ExitStack
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

    from auto_block.model import Network

__all__ = ["add_blocking_commands", "parse_target", "parse_ttl"]

_TTL = re.compile(r"^(?P<value>[1-9]\d*)(?P<unit>[mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
DEFAULT_STACK = "SecautoAutoBlock"


def parse_ttl(text: str) -> timedelta:
    """`90m`, `12h`, `7d`."""
    match = _TTL.match(text.strip())
    if not match:
        raise ValueError(f"--ttl {text!r}: expected a number and m, h or d (e.g. 30m, 12h, 7d)")
    return timedelta(**{_UNITS[match["unit"]]: int(match["value"])})


def parse_target(text: str, *, allow_range: bool) -> Network:
    """What `block` (or `unblock`) names: one address, or with `allow_range` a network whose
    host bits are zero. How wide a range may be is the block table's decision (it knows the
    deployment's minimum), not the command line's."""
    from auto_block.blockable import parse_range

    network = parse_range(text)
    if network.num_addresses != 1 and not allow_range:
        raise ValueError(f"{text} is a range: pass --range to block a whole network")
    return network


def _deployed_environment(session: Any, stack: str) -> dict[str, str]:
    """The environment of the auto-blocking function of `stack`."""
    cloudformation = session.client("cloudformation")
    resources = cloudformation.describe_stack_resources(StackName=stack)["StackResources"]
    functions = [r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::Lambda::Function"]
    if not functions:
        raise SystemExit(f"stack {stack} has no Lambda function: is auto-blocking deployed there?")
    lambda_ = session.client("lambda")
    for name in functions:
        variables = (
            lambda_.get_function_configuration(FunctionName=name).get("Environment", {}).get("Variables", {})
        )
        if variables.get("SECAUTO_CAPABILITY") == "auto_block":
            return dict(variables)
    raise SystemExit(f"stack {stack} has no auto-blocking function")


def _run(args: argparse.Namespace, action: str) -> int:
    from auto_block.service import AutoBlocker
    from secauto_cli.environment import environment
    from secauto_core import clients
    from secauto_core.lifecycle import reset_runtime

    try:
        # Unblocking a range needs no --range: lifting a block is never the dangerous direction.
        network = parse_target(args.address, allow_range=action == "unblock" or args.allow_range)
    except ValueError as exc:
        print(f"secauto {action}: {exc}", file=sys.stderr)
        return 2
    duration = parse_ttl(args.ttl) if action == "block" else None
    with ExitStack() as stack:
        if args.embedded:
            from secauto_cli.session import ReplaySession

            session = stack.enter_context(ReplaySession())
            variables = session.capability_environment("auto_block")
            account = session.account.account_id
        else:
            import boto3

            aws = boto3.Session(profile_name=args.profile, region_name=args.region)
            variables = _deployed_environment(aws, args.stack)
            account = aws.client("sts").get_caller_identity()["Account"]
            clients.set_session(aws._session)
            stack.callback(clients.set_session, None)
            if aws.region_name:
                variables["AWS_REGION"] = aws.region_name
        stack.enter_context(environment(variables))
        reset_runtime()
        blocker = AutoBlocker.from_environment(account)
        if action == "block":
            assert duration is not None
            report = blocker.block(
                network, duration=duration, reason=args.reason, allow_range=args.allow_range
            )
        else:
            report = blocker.unblock(network)
    print(json.dumps(report.as_dict(), indent=2, default=str))
    return 1 if report.errors or report.allowlisted or report.refused else 0


def add_blocking_commands(commands: Any) -> None:
    for action, text in (
        (
            "block",
            "block an address (or, with --range, a network) now, in WAF and the network ACLs, until --ttl",
        ),
        ("unblock", "end a block now (its history stays for the escalation of repeat offenders)"),
    ):
        parser = commands.add_parser(
            action, help=text, description=text + ". " + (__doc__ or "").split("\n\n")[1]
        )
        parser.add_argument("address", help="an IPv4/IPv6 address (a CIDR: with --range, or to unblock)")
        if action == "block":
            parser.add_argument(
                "--range",
                dest="allow_range",
                action="store_true",
                help="block a whole network: host bits zero, at most as wide as minRangePrefixV4/V6 "
                "(/24 and /48 by default); 0.0.0.0/0 and ::/0 never",
            )
            parser.add_argument("--ttl", default="1h", help="how long: 30m, 12h, 7d (default 1h)")
            parser.add_argument("--reason", default="blocked by hand", help="shown in the report and finding")
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--profile", help="AWS profile of the deployed account")
        target.add_argument("--embedded", action="store_true", help="the embedded moto account (demo)")
        parser.add_argument("--region", default=os.environ.get("AWS_REGION"), help="Region of the deployment")
        parser.add_argument(
            "--stack", default=DEFAULT_STACK, help=f"the auto-blocking stack ({DEFAULT_STACK})"
        )
        parser.set_defaults(run=lambda args, action=action: _run(args, action), allow_range=False)
