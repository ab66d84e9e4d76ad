"""The Lambda code asset: all of `functions/` plus its third-party wheels, bundled without Docker.

There is no Docker engine on our machines, so the asset uses CDK's local bundling hook: pip
downloads manylinux wheels for the Lambda platform (never an sdist, which would build for the
host) into the output directory, then our own packages are copied over them, then the data
folders the handlers read (`DATA_DIRS`: the suppression rules) at the same relative paths as in
the repository. Every function shares this one asset; its handler string picks the capability.

The asset hash is ours (`asset_fingerprint`): the code, the data folders, the Lambda platform and
Python version. CDK's source hash would cover `functions/` only, so a changed suppression file,
or a switch to arm64, would not redeploy the code.

Unit tests skip bundling with the context `aws:cdk:bundling-stacks: []`: CDK then hashes the
source and never calls `try_bundle`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, cast

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from secauto_infra.config import SUPPRESSIONS_DIR

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "ASSET_EXCLUDES",
    "DATA_DIRS",
    "FUNCTIONS_DIR",
    "REPO_ROOT",
    "BundlingError",
    "LocalPipBundler",
    "asset_fingerprint",
    "functions_code",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = REPO_ROOT / "functions"
ASSET_EXCLUDES = ("__pycache__", "*.pyc")
#: Data folders shipped in the bundle (pure data, read by handlers), by their path inside it.
DATA_DIRS: Mapping[str, Path] = {SUPPRESSIONS_DIR: REPO_ROOT / SUPPRESSIONS_DIR}

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
        self,
        source_dir: Path = FUNCTIONS_DIR,
        *,
        architecture: str = "x86_64",
        python_version: str = "3.13",
        data_dirs: Mapping[str, Path] | None = None,
    ) -> None:
        if architecture not in _PIP_PLATFORMS:
            raise ValueError(f"unknown Lambda architecture {architecture!r}")
        self.source_dir = source_dir
        self.architecture = architecture
        self.python_version = python_version
        self.data_dirs = dict(DATA_DIRS if data_dirs is None else data_dirs)
        for target in self.data_dirs:
            relative = Path(target)
            if relative.is_absolute() or ".." in relative.parts or not relative.parts:
                raise ValueError(f"a data folder's place in the bundle must be a relative path: {target!r}")

    @property
    def platform(self) -> str:
        """pip's platform tag for the Lambda architecture."""
        return _PIP_PLATFORMS[self.architecture]

    @property
    def requirements(self) -> Path:
        return self.source_dir / "requirements.txt"

    def pip_command(self, output_dir: str) -> list[str]:
        """The pip command line that installs the requirements into `output_dir`."""
        return [
            *_pip(),
            "install",
            "--platform",
            self.platform,
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
        ignore = shutil.ignore_patterns(*ASSET_EXCLUDES)
        shutil.copytree(self.source_dir, output_dir, dirs_exist_ok=True, ignore=ignore)
        # Data, not code: a missing folder ships as missing (a handler then finds no rules).
        for target, folder in self.data_dirs.items():
            if folder.is_dir():
                shutil.copytree(folder, Path(output_dir, target), dirs_exist_ok=True, ignore=ignore)
        return True

    def fingerprint(self) -> str:
        """The asset hash: everything `try_bundle` copies or installs, for this platform."""
        return asset_fingerprint(
            {".": self.source_dir, **self.data_dirs}, salt=(self.platform, self.python_version)
        )


def _excluded(relative: Path) -> bool:
    return any(fnmatch.fnmatch(part, pattern) for part in relative.parts for pattern in ASSET_EXCLUDES)


def asset_fingerprint(trees: Mapping[str, Path], *, salt: Sequence[str] = ()) -> str:
    """SHA-256 over `salt` and every file (bundle path and content) of the trees, in a fixed order."""
    digest = hashlib.sha256()
    for item in salt:
        digest.update(item.encode() + b"\0")
    files: list[tuple[str, Path]] = []
    for target, root in trees.items():
        if root.is_dir():
            files.extend(
                ((Path(target) / path.relative_to(root)).as_posix(), path)
                for path in root.rglob("*")
                if path.is_file() and not _excluded(path.relative_to(root))
            )
    for name, path in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def functions_code(
    *, architecture: str, python_version: str, excludes: Sequence[str] = ASSET_EXCLUDES
) -> lambda_.Code:
    """The one code asset of every secauto function."""
    bundler = LocalPipBundler(FUNCTIONS_DIR, architecture=architecture, python_version=python_version)
    return lambda_.Code.from_asset(
        str(FUNCTIONS_DIR),
        exclude=list(excludes),
        # Hash the inputs (requirements.txt and the data folders included): pip output holds
        # timestamps and .pyc files, so an output hash would change on every synth.
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=bundler.fingerprint(),
        bundling=BundlingOptions(
            # Only used if local bundling declines; it never does, but CDK requires an image.
            image=DockerImage.from_registry(f"public.ecr.aws/sam/build-python{python_version}"),
            local=cast("ILocalBundling", bundler),
        ),
    )
