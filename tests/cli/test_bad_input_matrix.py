"""Issue 27's bad-input matrix: CLI and YAML values a submitter gets wrong give one `error:` line
and exit 2, before any store exists (defects: `-g copy,copy` left a run partial forever with exit
0, `-g ',,'` / `-m ''` silently ran the defaults, `fps: fast` failed every item and the failures
outlived the fix, an item id `..` read files outside the submission, `data export` failed on
nested ids or wrote repeated seeds, a manifest given to `evalkit run` was read as a run config)."""
from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from evalkit.cli import _load_commands, app
from evalkit.registry import DATASETS
from evalkit.video import write_video

_load_commands()
SUITE = "synthetic[motions=pan,num_frames=4]"


@pytest.fixture()
def files(tmp_path):
    """A source clip, and a manifest / config / submission writer under tmp_path."""
    video = DATASETS.get("synthetic")(motions="pan", num_frames=4).cases()[0].source.load()
    write_video(video, tmp_path / "data" / "clip.mp4", lossless=True)

    def write(name: str, content) -> str:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
        return str(path)
    return write


def _manifest(item_id: str, target_id: str = "t") -> dict:
    return {"version": 1, "kind": "motion-transfer",
            "items": [{"id": item_id, "source": "clip.mp4", "targets": [{"id": target_id, "prompt": "a cat"}]}]}


MATRIX = [
    # (id, args (with {tmp} for the test folder, {file:NAME} writing NAME first), what the line says)
    ("empty -g", ["run", SUITE, "-g", ",,"], "--generators: no component given"),
    ("empty -m", ["run", SUITE, "-m", ""], "--metrics: no component given"),
    ("repeated -g", ["run", SUITE, "-g", "copy,copy"], "generator 'copy' given more than once"),
    ("repeated -m", ["run", SUITE, "-m", "temporal-flicker,temporal-flicker"],
     "metric column 'temporal-flicker' given more than once"),
    ("same label twice", ["run", SUITE, "-g", "videos[dir={tmp}/sub,name=x],videos[dir={tmp}/sub,name=x]"],
     "generator 'x' given more than once"),
    ("config generators ',,'", ["run", "{file:c1.yaml}"], "generators: ',,' names no component"),
    ("config metrics []", ["run", "{file:c2.yaml}"], "metrics: an empty list"),
    ("submission fps: fast", ["run", SUITE, "-g", "videos[dir={tmp}/s1]"],
     "submission.yaml: fps: must be a number of frames per second, got 'fast'"),
    ("submission fps: 0", ["run", SUITE, "-g", "videos[dir={tmp}/s2]"],
     "submission.yaml: fps: must be a positive, finite number, got 0"),
    ("submission resolution", ["run", SUITE, "-g", "videos[dir={tmp}/s3]"],
     "submission.yaml: resolution: must be [height, width] in pixels, got [480]"),
    ("submission unknown key", ["run", SUITE, "-g", "videos[dir={tmp}/s4]"], "unknown key 'frame_rate'"),
    ("manifest id ..", ["run", "motion-transfer[manifest={file:m1.yaml}]", "--root", "{tmp}/data"],
     "id '..' cannot name a file"),
    ("manifest target id ..", ["run", "{file:m2.yaml}", "--root", "{tmp}/data"], "id '..' cannot name a file"),
    ("manifest id with a backslash", ["run", "{file:m3.yaml}", "--root", "{tmp}/data"],
     "holds a backslash, a colon or a control character"),
    ("export repeated seeds", ["data", "export", SUITE, "--out", "{tmp}/x", "--seeds", "0,0"],
     "--seeds: 0, 0 repeat a seed"),
    ("export unknown option", ["data", "export", "synthetic[frames=4]", "--out", "{tmp}/x"],
     "synthetic: unknown option(s) 'frames'"),
    ("export unknown dataset", ["data", "export", "synthetc[num_frames=4]", "--out", "{tmp}/x"],
     "unknown dataset 'synthetc'; did you mean synthetic?"),
    ("export bad size", ["data", "export", SUITE, "--out", "{tmp}/x", "--size", "4x"], "--size '4x': expected HxW"),
    ("compare nan tolerance", ["compare", "{tmp}/a", "{tmp}/b", "--rel-tolerance", "nan"],
     "--rel-tolerance nan: must be a finite number ≥ 0"),
    ("compare negative tolerance", ["compare", "{tmp}/a", "{tmp}/b", "--tolerance", "-1"],
     "--tolerance -1.0: must be a finite number ≥ 0"),
    ("compare 0 resamples", ["compare", "{tmp}/a", "{tmp}/b", "--resamples", "0"],
     "--resamples 0: must be a whole number ≥ 1"),
]
FILES = {
    "c1.yaml": {"dataset": SUITE, "generators": ",,"},
    "c2.yaml": {"dataset": SUITE, "metrics": []},
    "s1/submission.yaml": {"fps": "fast"}, "s2/submission.yaml": {"fps": 0},
    "s3/submission.yaml": {"resolution": [480]}, "s4/submission.yaml": {"frame_rate": 8},
    "sub/submission.yaml": {"method": "x"},
    "m1.yaml": _manifest(".."), "m2.yaml": _manifest("ok", ".."), "m3.yaml": _manifest("a\\b"),
}


@pytest.mark.parametrize("args, says", [m[1:] for m in MATRIX], ids=[m[0] for m in MATRIX])
def test_bad_input_is_one_error_line_and_exit_2(tmp_path, files, args, says):
    for name, content in FILES.items():
        files(name, content)
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    args = [str(tmp_path / a[6:-1]) if a.startswith("{file:") else a.replace("{file:", str(tmp_path) + "/")
            .replace(".yaml}", ".yaml") for a in args]
    if args[0] == "run":
        args += ["--out", str(tmp_path / "runs")]
    result = CliRunner().invoke(app, args)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], result.output
    assert not (tmp_path / "runs").exists() and not (tmp_path / "x").exists()


def test_a_manifest_given_to_run_runs_as_its_dataset(tmp_path, files):
    """Defect: `evalkit run manifest.yaml` read the manifest as a run config ("needs a 'dataset'
    entry"); it is the run of KIND[manifest=...]."""
    manifest = files("mine.yaml", _manifest("clip"))
    runs = tmp_path / "runs"
    result = CliRunner().invoke(app, ["run", manifest, "--root", str(tmp_path / "data"), "-g", "copy", "-m",
                                      "temporal-flicker", "--out", str(runs), "-q"])
    assert result.exit_code == 0, result.output
    same = CliRunner().invoke(app, ["run", f"motion-transfer[manifest={manifest}]", "--root", str(tmp_path / "data"),
                                    "-g", "copy", "-m", "temporal-flicker", "--out", str(runs), "-q"])
    assert same.exit_code == 0 and "0 generated, 1 cached" in same.output, same.output   # one plan, one run
    config = files("not-a-config.yaml", {"generators": ["copy"]})
    wrong = CliRunner().invoke(app, ["run", config, "--out", str(runs)])
    assert wrong.exit_code == 2 and "a dataset manifest (with 'kind') is run as DATASET[manifest=" in wrong.output
