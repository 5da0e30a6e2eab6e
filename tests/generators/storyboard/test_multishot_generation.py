"""Generation for every case kind on the diffusers backbones (tiny pipelines, CPU).

A multi-shot set is one batch with one seed policy (``batch``: one noise draw of N latents from
the case seed; ``offset``: shot i from seed + i, which equals generating that shot alone with
seed + i); a personalization case is text-to-video of its prompt; `evalkit run` takes every
multi-shot method on ``multishot-story`` and ``vanilla`` on ``dreambooth-personalization``;
`evalkit reproduce mbq-table3` fills the rows that have a method here.
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from cli_runs import invoke, run_config  # noqa: E402

from evalkit.cases import InlineVideo, MotionTransferCase, MultiShotCase, PersonalizationCase  # noqa: E402
from evalkit.data.dreambooth import SubjectImages  # noqa: E402
from evalkit.generators.diffusers_t2v import case_prompts  # noqa: E402
from evalkit.registry import GENERATORS  # noqa: E402
from evalkit.run.store import ResultsStore  # noqa: E402
from evalkit.video import Video  # noqa: E402

SET = MultiShotCase("set", "a dog", ("a dog runs", "a dog jumps"))
UNET = dict(backbone="zeroscope", steps=3, height=32, width=32, num_frames=4)


def results(out):
    store = ResultsStore(out)
    try:
        return store.results(store.latest_run_id())
    finally:
        store.close()


def test_case_prompts_of_every_kind(shared_data):
    mt = MotionTransferCase("m", InlineVideo(Video(np.zeros((2, 8, 8, 3), np.uint8))), "a cat runs")
    refs = SubjectImages(tuple(sorted((shared_data / "dreambooth" / "dog").glob("*.jpg")))[:2])
    pc = PersonalizationCase("p", "dog", "dog", "a sks dog on the beach", refs)
    assert case_prompts(mt) == ["a cat runs"] and case_prompts(SET) == ["a dog runs", "a dog jumps"]
    assert case_prompts(pc) == ["a sks dog on the beach"]
    assert set(GENERATORS.get("vanilla").case_kinds) == {"motion-transfer", "multi-shot", "personalization"}
    assert GENERATORS.get("mbq").case_kinds == ("motion-transfer",)


def test_a_set_is_one_batch_and_offset_seeds_equal_single_shots(tiny_dirs):
    opts = dict(UNET, model_path=tiny_dirs("unet"))
    batch = GENERATORS.get("vanilla")(**opts).generate(SET, 7)
    assert len(batch.videos) == 2 and batch.extras["shots"] == 2 and batch.extras["shot_seeds"] == "batch"
    assert batch.videos[1].origin.endswith(":set:shot1") and batch.videos[0].frames.shape == (4, 32, 32, 3)
    offset = GENERATORS.get("vanilla")(**opts, shot_seeds="offset").generate(SET, 7)
    alone = GENERATORS.get("vanilla")(**opts).generate(MultiShotCase("b", "a dog", ("a dog jumps",)), 8)
    diff = np.abs(offset.videos[1].frames.astype(int) - alone.video.frames.astype(int))
    assert diff.max() <= 1                        # shot 1 of the set = that shot alone with seed + 1
    # shot 0 starts from the seed's first draw under both policies; shot 1 does not
    assert np.array_equal(offset.videos[0].frames, batch.videos[0].frames)
    assert not np.array_equal(offset.videos[1].frames, batch.videos[1].frames)


def test_personalization_is_text_to_video_of_its_prompt(tiny_dirs, shared_data):
    refs = SubjectImages(tuple(sorted((shared_data / "dreambooth" / "dog").glob("*.jpg")))[:2])
    case = PersonalizationCase("dog/00", "dog", "dog", "a dog runs", refs)
    gen = GENERATORS.get("vanilla")(**UNET, model_path=tiny_dirs("unet"))
    g = gen.generate(case, 1)
    same_prompt = gen.generate(MultiShotCase("s", "a dog", ("a dog runs",)), 1)
    assert np.array_equal(g.video.frames, same_prompt.video.frames)
    assert [im.shape for im in gen.reference_images(case)] == [(32, 32, 3)] * 2


@pytest.fixture
def tiny_metric_models(tmp_path_factory):
    from evalkit.testing.random_models import install_random_models

    install_random_models(tmp_path_factory.getbasetemp() / "hf_home",
                          ["CIDAS/clipseg-rd64-refined", "facebook/dino-vitb16", "openai/clip-vit-base-patch32"])


@pytest.mark.slow
def test_evalkit_run_multishot_methods_and_reproduce_mbq_table3(tiny_dirs, tmp_path, tiny_metric_models):
    from evalkit.report.paper.reproduce import load_table, reproduce
    from evalkit.report.sources import load_run

    common = dict(UNET, model_path=tiny_dirs("unet"), steps=5)
    cfg = {"dataset": {"name": "multishot-story", "sets": ["girl-surf"], "shots_per_set": 2},
           "generators": [{"name": "vanilla", **common}, {"name": "storyboard", **common, "key_frame_stride": 2},
                          {"name": "consistory", **common}, {"name": "full-q-preservation", **common}],
           "metrics": ["set-consistency", "clip-text", "dynamic-degree[backend=dis]", "subject-consistency",
                       "runtime"]}
    out, _ = run_config(tmp_path, cfg)
    df = results(out)
    assert (df["status"] == "ok").all(), df[df["status"] != "ok"][["generator", "metric", "error"]]
    assert sorted({g.split("[")[0] for g in df["generator"]}) == ["consistory", "full-q-preservation", "storyboard",
                                                                 "vanilla"]
    rep = reproduce(load_table("mbq-table3"), load_run(str(out)))
    filled = {(c.row, c.column) for c in rep.cells if c.n}
    for row in ("VideoCrafter2", "Ours + VideoCrafter2", "Turbo-V2", "Ours + Turbo-V2"):
        assert {(row, col) for col in ("msc", "text", "dyn", "subj")} <= filled, row
    assert not any(c.n for c in rep.cells if c.row in ("VSTAR", "Tokenflow", "ConsiS Im2Vid"))
    md = rep.to_markdown()
    assert "paper backbone VideoCrafter2; run's vanilla[" in md and "uses zeroscope" in md
    cli = invoke("reproduce", "mbq-table3", str(out))
    assert cli.exit_code == 0 and "Ours + VideoCrafter2" in cli.output


@pytest.mark.slow
def test_evalkit_run_vanilla_on_dreambooth(tiny_dirs, tmp_path, shared_data):
    cfg = {"dataset": {"name": "dreambooth-personalization", "subjects": ["dog"], "prompts_per_subject": 1,
                       "max_reference_images": 2},
           "generators": [{"name": "vanilla", **UNET, "model_path": tiny_dirs("unet")}],
           "metrics": ["runtime"]}
    out, _ = run_config(tmp_path, cfg, "--root", str(shared_data / "dreambooth"))
    df = results(out)
    assert len(df) == 1 and df["status"].iloc[0] == "ok" and df["value"].iloc[0] > 0
