"""`build_app`: the secauto CDK app, the same for `cdk synth`, the tests and `secauto demo`.

The app's context is `cdk.json`'s `context` overlaid (key by key) with the `context` argument;
under the CDK CLI, the CLI's own context (cdk.json, cdk.context.json, `-c`) wins over both.
The `secauto` key holds the whole configuration (`config.SecautoConfig`).

Stacks: `SecautoCore` and one stack per enabled capability in the home Region, plus the
forwarder stacks a capability adds in the other configured Regions. cdk-nag checks them all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_cdk import App, Environment, Stack, Tags

from secauto_infra.access_keys import add_access_keys
from secauto_infra.alb_logs import add_alb_logs
from secauto_infra.auto_block import add_auto_block
from secauto_infra.backups import add_backups
from secauto_infra.config import CDK_JSON, CONFIG_CONTEXT_KEY, SecautoConfig, cdk_json_context, parse_config
from secauto_infra.core_stack import CoreResources, CoreStack
from secauto_infra.findings import add_findings
from secauto_infra.nag import enable_nag
from secauto_infra.root_activity import add_root_activity

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["CAPABILITIES", "CDK_JSON", "CONFIG_CONTEXT_KEY", "app_config", "build_app", "cdk_json_context"]


#: One builder per capability, keyed by its field in `config.CapabilitiesConfig`, built in the
#: order of those fields: `auto_block` reads the log group of the `alb_logs` stack built before it.
CAPABILITIES: Mapping[str, Callable[[App, SecautoConfig, CoreResources], list[Stack]]] = {
    "root_activity": add_root_activity,
    "findings": add_findings,
    "access_keys": add_access_keys,
    "alb_logs": add_alb_logs,
    "auto_block": add_auto_block,
    "backups": add_backups,
}


def build_app(context: Mapping[str, Any] | None = None, outdir: str | None = None) -> App:
    """Compose every secauto stack into a new App; the caller runs `app.synth()`.

    Pass `{"aws:cdk:bundling-stacks": []}` in `context` to skip the pip bundling of the code asset.
    """
    app = App(context={**cdk_json_context(), **(context or {})}, outdir=outdir)
    config = parse_config(app.node.try_get_context(CONFIG_CONTEXT_KEY))
    core = CoreStack(
        app,
        "SecautoCore",
        config=config,
        env=Environment(account=config.account, region=config.home_region),
        description="secauto: shared key, alert topic, Slack secret, dead-letter queue and tables",
    )
    for name in config.capabilities.enabled():
        for stack in CAPABILITIES[name](app, config, core.resources):
            stack.add_stack_dependency(core)
    Tags.of(app).add("project", "secauto")
    enable_nag(app)
    return app


def app_config(app: App) -> SecautoConfig:
    """The validated configuration `app` was built with."""
    return parse_config(app.node.try_get_context(CONFIG_CONTEXT_KEY))
