"""Build each secauto CDK app once per session (jsii starts in ~3 s; later synths are cheap).

Two apps: `default` is exactly what `cdk.json` configures; `full` turns every option on
(three Regions with a non-us-east-1 home, an existing Slack secret, the CIS alarm, arm64, ...).
Both are synthesized with cdk-nag, so a violation fails the fixture, and without bundling.
"""

from __future__ import annotations

import os

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from typing import TYPE_CHECKING, Any

import pytest
from infra_testlib import FULL_CONFIG, SKIP_BUNDLING, Synthesized

from secauto_infra.app_builder import app_config, build_app

if TYPE_CHECKING:
    from pathlib import Path


def _synthesize(outdir: Path, context: dict[str, Any]) -> Synthesized:
    app = build_app({**SKIP_BUNDLING, **context}, outdir=str(outdir))
    app.synth()  # raises if cdk-nag (or CDK) reports a violation
    return Synthesized(app=app, outdir=outdir, config=app_config(app))


@pytest.fixture(scope="session")
def default_synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return _synthesize(tmp_path_factory.mktemp("cdk-default"), {})


@pytest.fixture(scope="session")
def full_synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return _synthesize(tmp_path_factory.mktemp("cdk-full"), {"secauto": FULL_CONFIG})


@pytest.fixture(params=["default", "full"])
def synth(request: pytest.FixtureRequest) -> Synthesized:
    """Each app in turn."""
    fixture: Synthesized = request.getfixturevalue(f"{request.param}_synth")
    return fixture
