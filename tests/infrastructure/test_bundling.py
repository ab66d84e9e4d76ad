"""The local pip bundler, without running pip; its data folders and asset hash; and that tests
really skip bundling."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest
from infra_testlib import HOME, Synthesized

from secauto_infra import bundling
from secauto_infra.bundling import DATA_DIRS, FUNCTIONS_DIR, REPO_ROOT, BundlingError, LocalPipBundler
from secauto_infra.config import FINDINGS_SUPPRESSIONS_FILE, SUPPRESSIONS_DIR

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


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "repo" / "rules" / "suppressions"
    (folder / "__pycache__").mkdir(parents=True)
    (folder / "findings.json").write_text("[]")
    (folder / "__pycache__" / "x.pyc").write_bytes(b"\0")
    return folder


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


def test_try_bundle_copies_the_data_folders_to_their_place(
    source: Path, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a bundler with a data folder (and one that does not exist)
    monkeypatch.setattr(bundling.subprocess, "run", _Recorder())
    out = tmp_path / "out"
    bundler = LocalPipBundler(
        source, data_dirs={"rules/suppressions": data, "rules/absent": tmp_path / "absent"}
    )
    # When it bundles
    assert bundler.try_bundle(str(out), None)
    # Then the data sits at its relative path next to our code, without bytecode
    assert (out / "rules" / "suppressions" / "findings.json").read_text() == "[]"
    assert (out / "pkg" / "__init__.py").is_file()
    assert not (out / "rules" / "absent").exists()
    assert not list(out.rglob("*.pyc"))
    assert not list(out.rglob("__pycache__"))


@pytest.mark.parametrize("target", ["/abs", "../up", "a/../../b", ""])
def test_data_folder_targets_stay_inside_the_bundle(target: str, data: Path) -> None:
    with pytest.raises(ValueError, match="relative path"):
        LocalPipBundler(data_dirs={target: data})


def test_the_suppression_rules_ship_where_the_handler_looks() -> None:
    # The handler opens FINDINGS_SUPPRESSIONS_FILE relative to the code root (LAMBDA_TASK_ROOT).
    assert dict(DATA_DIRS) == {SUPPRESSIONS_DIR: REPO_ROOT / SUPPRESSIONS_DIR}
    assert FINDINGS_SUPPRESSIONS_FILE.startswith(f"{SUPPRESSIONS_DIR}/")
    assert LocalPipBundler().data_dirs == dict(DATA_DIRS)
    # Pure data: nothing importable is shipped from there.
    assert not list((REPO_ROOT / SUPPRESSIONS_DIR).rglob("*.py"))


def test_asset_hash_covers_code_data_and_platform(source: Path, data: Path) -> None:
    def fingerprint(architecture: str = "x86_64", python_version: str = "3.13") -> str:
        return LocalPipBundler(
            source, architecture=architecture, python_version=python_version, data_dirs={"rules/s": data}
        ).fingerprint()

    first = fingerprint()
    assert fingerprint() == first  # stable
    (source / "pkg" / "__pycache__" / "other.cpython-313.pyc").write_bytes(b"1")
    (data / "stale.pyc").write_bytes(b"1")
    assert fingerprint() == first  # bytecode is not shipped, so it does not count
    assert fingerprint(architecture="arm64") != first  # other wheels
    assert fingerprint(python_version="3.12") != first
    (data / "findings.json").write_text('[{"id": "new"}]')
    assert fingerprint() != first  # a suppression change redeploys the code
    second = fingerprint()
    (source / "pkg" / "__init__.py").write_text("x = 1\n")
    assert fingerprint() != second


def test_asset_hash_tells_files_apart_by_place(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "f.json").write_text("[]")
    (b / "g.json").write_text("[]")
    assert bundling.asset_fingerprint({".": a}) != bundling.asset_fingerprint({".": b})
    assert bundling.asset_fingerprint({"x": a}) != bundling.asset_fingerprint({"y": a})


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
