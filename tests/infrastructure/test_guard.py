"""Our `constructs/` folder must never shadow the CDK's `constructs` library."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import constructs
import secauto_infra

ROOT = Path(__file__).resolve().parents[2]


def test_constructs_is_the_installed_cdk_library() -> None:
    # Given the source root `constructs/` on sys.path, When `constructs` is imported
    module_file = Path(constructs.__file__ or "").resolve()
    # Then it is the library in site-packages, not our folder
    assert module_file.is_relative_to(Path(sysconfig.get_paths()["purelib"]).resolve())
    assert not module_file.is_relative_to(ROOT / "constructs")
    assert hasattr(constructs, "Construct")


def test_our_package_lives_under_the_constructs_source_root() -> None:
    assert not (ROOT / "constructs" / "__init__.py").exists()
    assert Path(secauto_infra.__file__ or "").resolve().parent == ROOT / "constructs" / "secauto_infra"
