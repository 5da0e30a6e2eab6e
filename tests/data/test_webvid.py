"""webvid: the official metadata CSV + downloaded clips; the shipped sample runs on real clips
(DAVIS mp4s of the shared test data), a broken sample lists every problem at once."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from stored_values import stored_results
from typer.testing import CliRunner

from evalkit.cli import _load_commands
from evalkit.cli.app import app
from evalkit.data.manifest import ManifestProblems, datasets_dir
from evalkit.data.webvid_metadata import read_metadata
from evalkit.errors import ManifestError, VideoReadError
from evalkit.registry import DATASETS

HEADER = "videoid,contentUrl,duration,page_dir,name\n"
SMALL = "crop-resize:48x80"


def webvid(root, **options):
    return DATASETS.get("webvid")(root=root, **options)


def cli(*args):
    _load_commands()
    return CliRunner().invoke(app, list(args))


def test_shipped_sample_reads_the_official_csv_and_the_flat_clip_folder(shared_data):
    ds = webvid(shared_data / "videos")
    assert ds.check() == []
    cases = {c.case_id: c for c in ds.cases()}
    assert sorted(cases) == ["bear/scene-swap-0", "bear/subject-swap-0", "car-roundabout-24/skateboard",
                             "car-turn/scene-swap-0", "car-turn/subject-swap-0", "paragliding/scene-swap-0",
                             "paragliding/subject-swap-0"]
    giraffe, snow = cases["bear/subject-swap-0"], cases["bear/scene-swap-0"]
    assert giraffe.source_prompt == "A bear walking on the rocks"            # the CSV's `name`
    assert giraffe.target_prompt == "A giraffe walking on the rocks"         # = DiTFlow's Subject prompt
    assert (giraffe.subject, giraffe.source_subject, giraffe.category) == ("a giraffe", "a bear", "different-subject")
    assert snow.target_prompt == "A bear walking in a snowy forest" and snow.category == "same-subject"
    assert cases["paragliding/scene-swap-0"].target_prompt == "Paraglider flying over a city, aerial view from above"
    v = giraffe.source.load()
    assert v.num_frames == 24 and v.fps == pytest.approx(10.0)  # stride 3 of a 30 fps clip
    assert giraffe.source.path == shared_data / "videos" / "bear.mp4"
    assert giraffe.meta["frame_range"] == [0, 70, 3] and giraffe.meta["frames"] == [0, 3, 24]
    assert giraffe.meta["origin"] == "WebVid bear" and giraffe.meta["duration"] == "PT00H00M03S"
    # a root one level up finds the clip folder (ROOT/videos)
    assert webvid(shared_data).cases()[0].source.path == shared_data / "videos" / "bear.mp4"


def test_options_frames_clips_categories(shared_data):
    ds = webvid(shared_data / "videos", clips="car-roundabout-24+car-turn", num_frames=16,
                categories="same-subject")
    (case,) = ds.cases()
    assert case.case_id == "car-turn/scene-swap-0" and case.source.load().num_frames == 16
    with pytest.raises(ManifestError, match="num_frames"):
        webvid(shared_data, num_frames=1)
    with pytest.raises(ManifestError, match="unknown clip"):
        webvid(shared_data, clips="cat")


def official_layout(tmp_path: Path, shared_data: Path) -> Path:
    """A WebVid download as the official script writes it: videos/<page_dir>/<videoid>.mp4."""
    for vid, page, clip in [("1066699", "000001_000050", "car-turn"), ("21179416", "006001_006050", "bear")]:
        (tmp_path / "videos" / page).mkdir(parents=True, exist_ok=True)
        (tmp_path / "videos" / page / f"{vid}.mp4").symlink_to(shared_data / "videos" / f"{clip}.mp4")
    (tmp_path / "meta.csv").write_text(
        HEADER + "1066699,https://example.invalid/1066699.mp4,PT00H00M07S,000001_000050,"
                 "Gray car with black tires driving on a forest road\n"
                 "21179416,https://example.invalid/21179416.mp4,PT00H00M03S,006001_006050,Bear walking on rocks\n"
                 "99,https://example.invalid/99.mp4,PT00H00M09S,000051_000100,A clip nobody downloaded\n")
    return tmp_path


def test_official_page_dir_layout_and_numeric_videoids(shared_data, tmp_path):
    root = official_layout(tmp_path, shared_data)
    (root / "mine.yaml").write_text("""version: 1
kind: webvid
metadata: meta.csv
frames: {count: 16, stride: 2}
clips:
  - {videoid: 1066699, source_subject: gray car, subject_swaps: [red bus]}
  - videoid: 21179416
    template: "{subject} climbing {scene}"
    source_subject: a bear
    source_scene: a snowy hill
    subject_swaps: [a goat]
    scene_swaps: [a glacier]
""")
    ds = webvid(root, manifest=str(root / "mine.yaml"))
    assert ds.check() == []
    car, goat, bear = ds.cases()
    assert car.source.path == root / "videos" / "000001_000050" / "1066699.mp4"
    assert car.target_prompt == "Red bus with black tires driving on a forest road"
    assert (goat.target_prompt, bear.target_prompt) == ("A goat climbing a snowy hill", "A bear climbing a glacier")
    assert car.source.load().num_frames == 16 and car.meta["page_dir"] == "000001_000050"
    # the clip folder given directly works too
    assert webvid(root / "videos", manifest=str(root / "mine.yaml")).check() == []


BROKEN = """version: 1
kind: webvid
metadata: meta.csv
clips:
  - {videoid: 1066699, source_subject: gray car, subject_swaps: [red bus]}          # fine
  - {videoid: 99, source_subject: clip, subject_swaps: [dog]}                       # not downloaded
  - {videoid: 21179416, source_subject: bear, subject_swaps: [a goat], frames: {stride: 4}}  # 82 frames < 93
  - {videoid: 555, source_subject: x, subject_swaps: [y]}                           # not in the CSV
  - {videoid: 777, source_subject: cat, subject_swaps: [dog]}                       # unreadable file
  - {videoid: 888, source_subject: a horse, subject_swaps: [a zebra]}               # words not in the caption
"""


def broken_sample(tmp_path, shared_data) -> Path:
    root = official_layout(tmp_path, shared_data)
    with (root / "meta.csv").open("a") as f:
        f.write("777,,PT00H00M05S,000001_000050,A cat on a sofa\n888,,PT00H00M05S,000001_000050,A pony galloping\n")
    (root / "videos" / "000001_000050" / "777.mp4").write_bytes(b"not an mp4 at all" * 100)
    shutil.copy(shared_data / "videos" / "paragliding.mp4", root / "videos" / "000001_000050" / "888.mp4")
    (root / "broken.yaml").write_text(BROKEN)
    return root


def test_data_check_lists_every_problem_of_a_broken_sample(shared_data, tmp_path):
    root = broken_sample(tmp_path, shared_data)
    r = cli("data", "check", str(root / "broken.yaml"), "--root", str(root))
    assert r.exit_code == 1
    lines = [line for line in r.output.splitlines() if not line.startswith("5 problem")]
    videos = root / "videos"
    assert lines[:3] == [
        f"99: clip not found ({videos / '000051_000100' / '99.mp4'} or {videos / '99.mp4'})",
        f"21179416: clip {videos / '006001_006050' / '21179416.mp4'} too short: 82 frames, the selection needs 93 "
        "(start 0, stride 4, count 24)",
        f"555: videoid 555 is not in the metadata CSV {root / 'meta.csv'}",
    ]
    assert lines[3].startswith(f"777: {videos / '000001_000050' / '777.mp4'}: unreadable video")
    assert lines[4] == "888: source_subject 'a horse' does not occur in the caption 'A pony galloping'"
    assert len(lines) == 5 and "5 problem(s)" in r.output


def test_broken_clips_are_recorded_as_failed_in_a_run(shared_data, tmp_path):
    root = broken_sample(tmp_path, shared_data)
    r = cli("run", f"webvid[manifest={root / 'broken.yaml'},transforms={SMALL}]", "--root", str(root),
            "--generators", "copy", "--metrics", "temporal-flicker", "--out", str(tmp_path / "out"), "--quiet",
            "--allow-failures")   # 5 of 6 clips are broken on purpose: without the flag, exit 1
    assert r.exit_code == 0, r.output
    df = stored_results(tmp_path / "out").set_index("case_id")
    assert len(df) == 6 and df.loc["1066699/subject-swap-0", "status"] == "ok"
    failed = df[df.status == "failed"]["error"]
    assert len(failed) == 5
    assert "99.mp4: no such file or folder" in failed["99/subject-swap-0"]
    assert "frame range end 93" in failed["21179416/subject-swap-0"]
    assert "555 is not in the metadata CSV" in failed["555/subject-swap-0"]
    assert "unreadable video" in failed["777/subject-swap-0"]
    assert "'a horse' does not occur in the caption" in failed["888/subject-swap-0"]


def test_every_schema_problem_at_once(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("""version: 1
kind: webvid
swap_categories: {subject: other-subject, objet: same-subject}
clips:
  - {videoid: 1, subject_swaps: [a dog], colour: red}
  - {videoid: 1, targets: [{prompt: x, category: weird}]}
  - {videoid: 2, frames: {count: 1}}
""")
    with pytest.raises(ManifestProblems) as info:
        webvid(None, manifest=str(p))
    assert sorted(info.value.problems) == sorted([
        "metadata: required field missing",
        "clips.0.colour: unknown field",
        "clips.2.frames.count: Input should be greater than or equal to 2",
        "swap_categories.objet: unknown field",
        "clips.1 (1): duplicate item id",
        "clips.1 (1).targets.0: unknown category 'weird' (known: same-subject, different-subject)",
        "swap_categories.subject: unknown category 'other-subject' (known: same-subject, different-subject)",
    ])
    p.write_text("version: 1\nkind: webvid\nmetadata: m.csv\nclips:\n  - {videoid: 1, subject_swaps: [a dog]}\n"
                 "  - {videoid: 2}\n")
    with pytest.raises(ManifestProblems) as info:
        webvid(None, manifest=str(p))
    assert info.value.problems == [
        "clips.0: clip '1': subject_swaps need source_subject (the caption's subject words) or a template with {subject}",
        "clips.1: clip '2': give targets, subject_swaps or scene_swaps"]


def test_metadata_csv_problems(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("videoid,name\n1,a\n")
    with pytest.raises(ManifestError, match="not a WebVid metadata CSV: missing column.s. contentUrl, duration, page_dir"):
        read_metadata(p)
    p.write_text(HEADER + "1,,PT1S,a,first\n1,,PT1S,a,second\n2,,PT1S,b,other\n")
    with pytest.raises(ManifestError, match="listed more than once: 1"):
        read_metadata(p, ["1"])
    assert set(read_metadata(p, ["2"])) == {"2"}  # a subset is read in chunks: unwanted rows are skipped
    with pytest.raises(ManifestError, match="WebVid metadata CSV not found"):
        read_metadata(tmp_path / "none.csv")


def test_motion_transfer_manifest_mixes_webvid_and_davis_sources(shared_data, tmp_path):
    m = tmp_path / "mi.yaml"
    m.write_text(f"""version: 1
kind: motion-transfer
webvid: {{metadata: {datasets_dir() / 'webvid_sample.csv'}, clips: videos}}
items:
  - id: bear
    webvid: bear
    frame_range: {{end: 24}}
    targets: [{{prompt: A panda walking on the rocks, subject: a panda, category: different-subject}}]
  - id: blackswan
    source: davis/JPEGImages/480p/blackswan
    masks: davis/Annotations/480p/blackswan
    frame_range: {{end: 48, step: 2}}
    source_prompt: A black swan swimming in a river
    targets: [{{prompt: A duck swimming in a river, category: different-subject}}]
  - id: gone
    webvid: 123456
    targets: [{{prompt: x}}]
""")
    ds = DATASETS.get("motion-transfer")(shared_data, manifest=str(m))
    assert ds.check() == [f"gone: webvid videoid 123456 is not in the metadata CSV {datasets_dir() / 'webvid_sample.csv'}"]
    bear, swan, gone = ds.cases()
    assert bear.source_prompt == "A bear walking on the rocks" and bear.meta["origin"] == "WebVid bear"
    assert bear.source.load().num_frames == 24 and swan.source.load().num_frames == 24
    assert "webvid" not in swan.meta  # DAVIS items keep the case hash they had
    with pytest.raises(VideoReadError, match="123456 is not in the metadata CSV"):
        gone.source.load()
    m.write_text("version: 1\nkind: motion-transfer\nitems:\n  - {id: a, webvid: 1, targets: [{prompt: x}]}\n"
                 "  - {id: b, targets: [{prompt: y}]}\n")
    with pytest.raises(ManifestProblems) as info:
        DATASETS.get("motion-transfer")(shared_data, manifest=str(m))
    assert info.value.problems == [
        "items.1.source: required field missing (or 'webvid': a WebVid videoid)",
        "items.0 (a): a webvid clip needs the manifest's 'webvid' block (metadata CSV and clip folder)"]


def test_copy_has_motion_fidelity_one_on_the_sample(shared_data, tmp_path):
    r = cli("run", "webvid[clips=car-roundabout-24+paragliding,num_frames=12,transforms=crop-resize:120x208]", "--root",
            str(shared_data / "videos"), "-g", "copy", "-m", "motion-fidelity[backend=klt]",
            "--out", str(tmp_path), "--quiet")
    assert r.exit_code == 0, r.output
    df = stored_results(tmp_path)
    assert len(df) == 3 and (df["status"] == "ok").all()
    assert df["value"].to_numpy() == pytest.approx(1.0)


@pytest.mark.slow
def test_the_documented_command_on_the_whole_sample(shared_data, tmp_path):
    r = cli("run", "webvid", "--root", str(shared_data / "videos"), "-g", "copy",
            "-m", "motion-fidelity[backend=klt]", "--out", str(tmp_path))
    assert r.exit_code == 0, r.output
    assert "| copy | 100.0 ± 0.0 |" in r.output
    df = stored_results(tmp_path)
    assert len(df) == 7 and (df["status"] == "ok").all() and df["value"].to_numpy() == pytest.approx(1.0)
