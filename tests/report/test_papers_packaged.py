"""`evalkit reproduce` after a plain ``pip install`` (issue 27 item 9): the published tables ship
as package data (``evalkit/_papers`` -> ../baselines/papers, as ``evalkit/_datasets`` does)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

import evalkit
from evalkit.report.paper import tables as paper_tables

ROOT = Path(__file__).resolve().parents[2]


def test_the_package_carries_the_paper_tables(tmp_path, monkeypatch):
    packaged = Path(evalkit.__file__).parent / "_papers"
    checkout = ROOT / "baselines" / "papers"
    if packaged.resolve() != checkout.resolve():   # an installed (non-editable) copy, as tox makes: same tables
        assert {p.name: p.read_bytes() for p in packaged.glob("*.yaml")} == \
            {p.name: p.read_bytes() for p in checkout.glob("*.yaml")}
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["evalkit"]
    assert "_papers/*.yaml" in data
    monkeypatch.delenv("EVALKIT_BASELINES", raising=False)
    monkeypatch.chdir(tmp_path)           # no ./baselines: the package's copy
    assert paper_tables.papers_dir() == packaged
    assert "mbq-table1" in paper_tables.available_tables()


@pytest.mark.slow   # builds and installs a wheel (~15 s)
def test_reproduce_from_an_installed_wheel(tmp_path):
    """Defect: after pip install, `evalkit reproduce` found no baselines/papers."""
    wheels, site, src = tmp_path / "wheels", tmp_path / "site", tmp_path / "src"
    # a copy, so the build leaves no build/ or egg-info in the checkout
    shutil.copytree(ROOT, src, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", "tests", "build", "*.egg-info", "runs", "__pycache__", ".tox"))
    pip = [sys.executable, "-m", "pip"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(src)],
                   check=True, cwd=tmp_path, timeout=300)
    subprocess.run([*pip, "install", "--no-deps", "-q", "--target", str(site), *map(str, wheels.glob("*.whl"))],
                   check=True, cwd=tmp_path, timeout=300)
    shown = subprocess.run([sys.executable, "-m", "evalkit.cli", "reproduce", "mbq-table1"], capture_output=True,
                           text=True, cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
                           timeout=300)
    assert shown.returncode == 0, shown.stderr
    assert "Motion by Queries" in shown.stdout
