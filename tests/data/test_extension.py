"""The extension point: a manifest dataset is one class (schema included) plus one YAML.

The dataset below lives in this test module only; no shared file (manifest.py, the CLI, the
runner) names it, yet it loads, validates (every problem at once), is checked by
``evalkit data check`` and runs.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field
from typer.testing import CliRunner

from evalkit.cases import FileVideo, FrameRange, MotionTransferCase
from evalkit.cli import _load_commands
from evalkit.cli.app import app
from evalkit.data import manifest as mf
from evalkit.data.manifest import ManifestDataset, ManifestHeader, ManifestModel, load_manifest
from evalkit.errors import ManifestError
from evalkit.probe import check_source
from evalkit.registry import DATASETS
from evalkit.run.store import ResultsStore


class Clip(ManifestModel):
    video: str = Field(min_length=1)
    prompt: str = Field(min_length=1)
    frames: int = Field(16, ge=2)


class ClipListManifest(ManifestHeader):
    clips: dict[str, Clip] = Field(min_length=1)


@DATASETS.register("test-clip-list")
class ClipList(ManifestDataset):
    """Test-only: one motion-transfer case per clip, its first ``frames`` frames."""
    case_kind = "motion-transfer"
    manifest_kind = "test-clip-list"
    schema = ClipListManifest
    defaults = {"manifest": ""}

    @classmethod
    def cross_checks(cls, data):
        clips = data.get("clips") if isinstance(data.get("clips"), dict) else {}
        prompts = [c.get("prompt") for c in clips.values() if isinstance(c, dict)]
        return [f"clips: prompt {p!r} used twice" for p in sorted({p for p in prompts if prompts.count(p) > 1})]

    def source(self, clip: Clip) -> FileVideo:
        return FileVideo(self.require_root() / clip.video, FrameRange(0, clip.frames))

    def cases(self):
        return [MotionTransferCase(case_id=name, source=self.source(c), target_prompt=c.prompt,
                                   meta=self.provenance(clip=name))
                for name, c in self.manifest.clips.items()]

    def check(self):
        if (problem := self.root_problem()):
            return [problem]
        return [p for name, c in self.manifest.clips.items()
                for p in check_source(name, self.source(c).path, self.source(c).frame_range)]


GOOD = """version: 1
kind: test-clip-list
source: evalkit test
clips:
  bear: {video: videos/bear.mp4, prompt: a panda walking on rocks, frames: 8}
  car: {video: videos/car-turn.mp4, prompt: a bus turning on a road, frames: 8}
"""


def write(tmp_path: Path, text: str, name: str = "clips.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def check(*args):
    _load_commands()
    return CliRunner().invoke(app, ["data", "check", *args])


def test_kind_resolves_through_the_registry_and_no_shared_file_names_a_dataset(tmp_path):
    m, path = load_manifest(write(tmp_path, GOOD))
    assert isinstance(m, ClipListManifest) and set(m.clips) == {"bear", "car"}
    assert mf.dataset_for_kind("test-clip-list", path) is ClipList
    # the shared modules know no dataset kind: each lives with its dataset module
    shared = [Path(mf.__file__), Path(mf.__file__).parent / "base.py",
              Path(mf.__file__).parents[1] / "cli" / "data.py"]
    kinds = mf.manifest_datasets()
    assert {"davis-motion-transfer", "motion-transfer", "test-clip-list"} <= set(kinds)
    for f in shared:
        text = f.read_text()
        assert not [k for k in kinds if f'"{k}"' in text], f


def test_every_problem_at_once_through_data_check(shared_data, tmp_path):
    bad = write(tmp_path, """version: 1
kind: test-clip-list
clips:
  a: {video: videos/bear.mp4, prompt: same, frames: 1}
  b: {video: videos/bear.mp4, prompt: same, colour: red}
  c: {prompt: x}
""")
    r = check(str(bad), "--root", str(shared_data))
    assert r.exit_code == 1
    assert sorted(line.removeprefix(f"{bad}: ") for line in r.output.splitlines() if line.startswith(str(bad))) == [
        "clips.a.frames: Input should be greater than or equal to 2",
        "clips.b.colour: unknown field",
        "clips.c.video: required field missing",
        "clips: prompt 'same' used twice",
    ]
    files = write(tmp_path, GOOD.replace("frames: 8}", "frames: 90}").replace("car-turn", "gone"), "files.yaml")
    r = check(str(files), "--root", str(shared_data))
    assert r.exit_code == 1 and "2 problem(s)" in r.output
    assert "bear: source" in r.output and "has 82 frames, below the frame range end 90" in r.output
    assert f"car: source {shared_data / 'videos' / 'gone.mp4'} not found" in r.output
    r = check(str(write(tmp_path, GOOD)), "--root", str(shared_data))
    assert r.exit_code == 0 and "ok: " in r.output and "2 cases" in r.output


def test_it_runs(shared_data, tmp_path):
    manifest = write(tmp_path, GOOD)
    _load_commands()
    r = CliRunner().invoke(app, ["run", f"test-clip-list[manifest={manifest}]", "--root", str(shared_data),
                                 "--generators", "copy,static", "--metrics", "temporal-flicker",
                                 "--out", str(tmp_path / "out"), "--quiet"])
    assert r.exit_code == 0, r.output
    store = ResultsStore(tmp_path / "out")
    try:
        df = store.results(None)
    finally:
        store.close()
    assert len(df) == 4 and (df["status"] == "ok").all()
    assert (df[df.generator == "static"]["value"] == 1.0).all()
    assert (df[df.generator == "copy"]["value"] < 1.0).all()


def test_wrong_kind(tmp_path):
    p = write(tmp_path, GOOD.replace("kind: test-clip-list", "kind: motion-transfer"))
    with pytest.raises(ManifestError, match="manifest kind 'motion-transfer' does not match dataset 'test-clip-list'"):
        ClipList(manifest=str(p))
    p = write(tmp_path, GOOD.replace("kind: test-clip-list", "kind: clip-lists"))
    with pytest.raises(ManifestError, match=r"unknown manifest kind 'clip-lists' \(known: .*test-clip-list"):
        load_manifest(p)
