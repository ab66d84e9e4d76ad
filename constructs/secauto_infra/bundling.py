"""The Lambda code asset: all of `functions/` plus its third-party wheels, bundled without Docker.

There is no Docker engine on our machines, so the asset uses CDK's local bundling hook: pip
downloads manylinux wheels for the Lambda platform (never an sdist, which would build for the
host) into the output directory, then our own packages are copied over them. Every function
shares this one asset; its handler string picks the capability.

Unit tests skip bundling with the context `aws:cdk:bundling-stacks: []`: CDK then hashes the
source and never calls `try_bundle`.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, cast

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["ASSET_EXCLUDES", "FUNCTIONS_DIR", "BundlingError", "LocalPipBundler", "functions_code"]

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"
ASSET_EXCLUDES = ("__pycache__", "*.pyc")

_PIP_PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}


class BundlingError(RuntimeError):
    """pip could not install the Lambda requirements."""


def _pip() -> list[str]:
    """How to run pip: the current interpreter's if it has one (uv venvs do not), else pip3 on PATH."""
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    for name in ("pip3", "pip"):
        found = shutil.which(name)
        if found:
            return [found]
    raise BundlingError("no pip found to bundle the Lambda requirements (install pip or use Docker)")


@jsii.implements(ILocalBundling)
class LocalPipBundler:
    """Bundle `source_dir` and the wheels of its `requirements.txt` for one Lambda platform."""

    def __init__(
        self, source_dir: Path = FUNCTIONS_DIR, *, architecture: str = "x86_64", python_version: str = "3.13"
    ) -> None:
        if architecture not in _PIP_PLATFORMS:
            raise ValueError(f"unknown Lambda architecture {architecture!r}")
        self.source_dir = source_dir
        self.architecture = architecture
        self.python_version = python_version

    @property
    def requirements(self) -> Path:
        return self.source_dir / "requirements.txt"

    def pip_command(self, output_dir: str) -> list[str]:
        """The pip command line that installs the requirements into `output_dir`."""
        return [
            *_pip(),
            "install",
            "--platform",
            _PIP_PLATFORMS[self.architecture],
            "--only-binary=:all:",
            "--python-version",
            self.python_version,
            "--implementation",
            "cp",
            "--target",
            output_dir,
            "--no-compile",
            "--disable-pip-version-check",
            "--quiet",
            "-r",
            str(self.requirements),
        ]

    def try_bundle(self, output_dir: str, options: BundlingOptions | None = None) -> bool:
        """Called by CDK before Docker bundling; returning True means the asset is ready."""
        del options  # Docker options: not used locally
        if self.requirements.is_file():
            result = subprocess.run(  # noqa: S603 - fixed argv, no shell
                self.pip_command(output_dir), capture_output=True, text=True, check=False
            )
            if result.returncode != 0:
                raise BundlingError(f"pip failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        # Our code last, so a wheel can never shadow one of our packages.
        shutil.copytree(
            self.source_dir, output_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*ASSET_EXCLUDES)
        )
        return True


def functions_code(
    *, architecture: str, python_version: str, excludes: Sequence[str] = ASSET_EXCLUDES
) -> lambda_.Code:
    """The one code asset of every secauto function."""
    bundler = LocalPipBundler(FUNCTIONS_DIR, architecture=architecture, python_version=python_version)
    return lambda_.Code.from_asset(
        str(FUNCTIONS_DIR),
        exclude=list(excludes),
        # Hash the source (requirements.txt included): pip output holds timestamps and .pyc files,
        # so an output hash would change the asset, and redeploy every function, on every synth.
        asset_hash_type=AssetHashType.SOURCE,
        bundling=BundlingOptions(
            # Only used if local bundling declines; it never does, but CDK requires an image.
            image=DockerImage.from_registry(f"public.ecr.aws/sam/build-python{python_version}"),
            local=cast("ILocalBundling", bundler),
        ),
    )
