"""The local pip bundler, without running pip; and that tests really skip bundling."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest
from infra_testlib import HOME, Synthesized

from secauto_infra import bundling
from secauto_infra.bundling import FUNCTIONS_DIR, BundlingError, LocalPipBundler

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def source(tmp_path: Path) -> Path:
    src = tmp_path / "functions"
    (src / "pkg" / "__pycache__").mkdir(parents=True)
    (src / "pkg" / "__init__.py").write_text("")
    (src / "pkg" / "mod.pyc").write_bytes(b"\0")
    (src / "pkg" / "__pycache__" / "mod.cpython-313.pyc").write_bytes(b"\0")
    (src / "requirements.txt").write_text("slack-sdk\n")
    return src


class _Recorder:
    def __init__(self, returncode: int = 0) -> None:
        self.calls: list[list[str]] = []
        self.returncode = returncode

    def __call__(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append(argv)
        return subprocess.CompletedProcess(argv, self.returncode, stdout="out", stderr="boom")


@pytest.mark.parametrize(
    ("architecture", "platform"), [("x86_64", "manylinux2014_x86_64"), ("arm64", "manylinux2014_aarch64")]
)
def test_pip_command_targets_the_lambda_platform(architecture: str, platform: str) -> None:
    argv = LocalPipBundler(FUNCTIONS_DIR, architecture=architecture, python_version="3.13").pip_command(
        "/out"
    )
    options = argv[argv.index("install") + 1 :]
    assert options[options.index("--platform") + 1] == platform
    assert options[options.index("--python-version") + 1] == "3.13"
    assert options[options.index("--implementation") + 1] == "cp"
    assert options[options.index("--target") + 1] == "/out"
    assert options[options.index("-r") + 1] == str(FUNCTIONS_DIR / "requirements.txt")
    assert "--only-binary=:all:" in options
    assert "--no-compile" in options  # host-version .pyc files would be dead weight on Lambda


def test_pip_falls_back_to_pip3_on_path_when_the_venv_has_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundling.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(bundling.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert LocalPipBundler().pip_command("/out")[0] == "/usr/bin/pip3"


def test_pip_uses_this_interpreter_when_it_has_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundling.importlib.util, "find_spec", lambda name: object())
    assert LocalPipBundler().pip_command("/out")[:3] == [sys.executable, "-m", "pip"]


def test_unknown_architecture_is_rejected() -> None:
    with pytest.raises(ValueError, match="architecture"):
        LocalPipBundler(architecture="sparc")


def test_try_bundle_runs_pip_then_copies_our_code(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a bundler whose subprocess is recorded
    recorder = _Recorder()
    monkeypatch.setattr(bundling.subprocess, "run", recorder)
    out = tmp_path / "out"
    out.mkdir()
    # When CDK asks it to bundle
    done = LocalPipBundler(source, architecture="arm64", python_version="3.13").try_bundle(str(out), None)
    # Then pip ran once into the output directory and our code was copied without bytecode
    assert done is True
    assert len(recorder.calls) == 1
    assert recorder.calls[0][recorder.calls[0].index("--target") + 1] == str(out)
    assert "manylinux2014_aarch64" in recorder.calls[0]
    assert (out / "pkg" / "__init__.py").is_file()
    assert (out / "requirements.txt").is_file()
    assert not list(out.rglob("*.pyc"))
    assert not list(out.rglob("__pycache__"))


def test_try_bundle_without_requirements_skips_pip(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (source / "requirements.txt").unlink()
    recorder = _Recorder()
    monkeypatch.setattr(bundling.subprocess, "run", recorder)
    assert LocalPipBundler(source).try_bundle(str(tmp_path / "out"), None)
    assert recorder.calls == []


def test_pip_failure_fails_the_synth(source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundling.subprocess, "run", _Recorder(returncode=1))
    with pytest.raises(BundlingError, match="boom"):
        LocalPipBundler(source).try_bundle(str(tmp_path / "out"), None)


def test_tests_skip_bundling(synth: Synthesized) -> None:
    # With `aws:cdk:bundling-stacks: []` CDK never stages a bundled copy: the code asset points at
    # the source folder itself and no `asset.*` directory exists in the cloud assembly.
    assert not list(synth.outdir.glob("asset.*"))
    manifest = json.loads((synth.outdir / f"{synth.stacks[HOME].artifact_id}.assets.json").read_text())
    zips = [
        entry["source"]["path"]
        for entry in manifest["files"].values()
        if entry["source"]["packaging"] == "zip"
    ]
    assert zips == [str(FUNCTIONS_DIR)]
