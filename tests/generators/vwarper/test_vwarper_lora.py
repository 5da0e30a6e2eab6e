"""V-Warper's coarse stage: LoRA + subject token on a tiny real CogVideoX, cached and resumable."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

import tiny_pipelines as tp  # noqa: E402  (makes torchvision importable, which peft needs)

pytest.importorskip("peft")

from evalkit.cases import ImageFiles, PersonalizationCase  # noqa: E402
from evalkit.errors import EvalkitError  # noqa: E402
from evalkit.generators.families import family_class  # noqa: E402
from evalkit.generators.methods.vwarper.coarse_training import (
    CoarseSettings,
    CoarseTrainer,
    cover_resize,
    ensure_coarse,
    training_key,
)
from evalkit.generators.training.artifact import CoarseArtifact  # noqa: E402
from evalkit.generators.training.lora import applied_lora  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
SETTINGS = CoarseSettings(height=32, width=32, rank=4, steps=10, lr=1e-3, token_lr=5e-3)


@pytest.fixture(scope="module")
def family():
    return family_class("cogvideox")(tp.tiny_cogvideox(), "cpu")


def make_case(folder: Path, n: int = 2, seed: int = 0) -> PersonalizationCase:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        paths.append(folder / f"{i:02d}.png")
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), np.uint8)).save(paths[-1])
    return PersonalizationCase("dog/00", "dog", "dog", "a sks dog runs on the road", ImageFiles(tuple(paths)))


def weights(artifact: CoarseArtifact) -> dict:
    from safetensors.torch import load_file

    return {**load_file(str(artifact.path(artifact.LORA))), **load_file(str(artifact.path(artifact.TOKEN)))}


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def forward(model, rope):
    g = torch.Generator().manual_seed(0)
    x, emb = torch.randn(1, 1, 4, 4, 4, generator=g), torch.randn(1, 6, 32, generator=g)
    with torch.no_grad():
        return model(hidden_states=x, encoder_hidden_states=emb, timestep=torch.tensor([500]), image_rotary_emb=rope,
                     return_dict=False)[0]


def test_a_few_lora_steps_lower_the_loss_and_the_artifact_is_reused(family, tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))
    case = make_case(tmp_path / "refs")
    before = forward(family.denoiser, None)
    res = ensure_coarse(family, case, SETTINGS, "tiny", checkpoint_every=5)
    meta = res.meta
    assert res.trained_now and meta["complete"] and meta["steps"] == 10 and len(meta["losses"]) == 10
    assert meta["eval_loss_after"] < meta["eval_loss_before"]
    art = res.artifact
    assert art.folder.parent == tmp_path / "cache" / "lora" and art.folder.name.startswith("dog-")
    assert all(art.path(f).is_file() for f in (art.LORA, art.TOKEN, art.META, art.PLOT))
    assert not art.path(art.CHECKPOINT).exists()                        # removed once complete
    assert meta["key"] == training_key(case.reference_images.fingerprint(), "sks", "dog", SETTINGS, "tiny")
    assert torch.equal(forward(family.denoiser, None), before)          # the shared model is restored
    again = ensure_coarse(family, case, SETTINGS, "tiny")
    assert not again.trained_now and again.artifact == art and again.meta["losses"] == meta["losses"]
    other = ensure_coarse(family, case, CoarseSettings(**{**SETTINGS.__dict__, "steps": 2}), "tiny")
    assert other.trained_now and other.artifact != art


class Stop(Exception):
    pass


def test_an_interrupted_run_resumes_to_the_weights_of_an_uninterrupted_one(family, tmp_path, monkeypatch):
    case = make_case(tmp_path / "refs")
    images = case.reference_images.load()
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "whole"))
    whole = CoarseArtifact.for_key("dog", "k" * 16)
    settings = CoarseSettings(**{**SETTINGS.__dict__, "steps": 6})
    CoarseTrainer(family, images, "sks", "dog", settings, checkpoint_every=2, progress=False).run(whole)

    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "split"))
    split = CoarseArtifact.for_key("dog", "k" * 16)

    def stop_at_3(step, loss):
        if step == 3:
            raise Stop

    with pytest.raises(Stop):
        CoarseTrainer(family, images, "sks", "dog", settings, checkpoint_every=2, progress=False,
                      on_step=stop_at_3).run(split)
    assert split.path(split.CHECKPOINT).is_file() and not split.complete()
    meta = CoarseTrainer(family, images, "sks", "dog", settings, checkpoint_every=2, progress=False).run(split)
    assert meta["resumed_from"] == [2] and len(meta["losses"]) == 6
    assert meta["losses"] == whole.meta()["losses"]
    assert same_weights(weights(split), weights(whole))


CHILD = """
import sys, time, torch
torch.set_num_threads(1)
sys.path[:0] = [{repo!r}, {tests!r}]
import tiny_pipelines as tp
from evalkit.generators.families import family_class
from evalkit.generators.methods.vwarper import coarse_training as coarse
from evalkit.generators.methods.vwarper.coarse_training import CoarseSettings, ensure_coarse
from evalkit.cases import ImageFiles, PersonalizationCase
from pathlib import Path
slow_step = coarse.CoarseTrainer._step
def step(self, *a, **k):
    out = slow_step(self, *a, **k)
    time.sleep(0.5)   # keep the run alive until the parent kills it
    return out
coarse.CoarseTrainer._step = step
family = family_class("cogvideox")(tp.tiny_cogvideox(), "cpu")
paths = tuple(sorted(Path({refs!r}).glob("*.png")))
case = PersonalizationCase("dog/00", "dog", "dog", "a sks dog", ImageFiles(paths))
ensure_coarse(family, case, CoarseSettings(**{settings!r}), "tiny", checkpoint_every=2)
"""


@pytest.mark.slow
def test_a_killed_training_process_resumes_from_its_checkpoint(family, tmp_path, monkeypatch):
    """A real SIGKILL of the training process mid-run; the next run resumes from the checkpoint it
    left and ends with the weights of an uninterrupted run."""
    case = make_case(tmp_path / "refs")
    env = {**os.environ, "EVALKIT_CACHE": str(tmp_path / "killed"), "PYTHONPATH": str(REPO)}
    script = CHILD.format(repo=str(REPO), tests=str(REPO / "tests" / "generators"), refs=str(tmp_path / "refs"),
                          settings=SETTINGS.__dict__)
    child = subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE)
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "killed"))
    key = training_key(case.reference_images.fingerprint(), "sks", "dog", SETTINGS, "tiny")
    art = CoarseArtifact.for_key("dog", key)
    deadline = time.time() + 240
    while not art.path(art.CHECKPOINT).is_file():
        assert child.poll() is None, child.stderr.read().decode()[-2000:]
        assert time.time() < deadline, "no checkpoint written"
        time.sleep(0.2)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL and not art.complete()
    res = ensure_coarse(family, case, SETTINGS, "tiny", checkpoint_every=2)
    assert res.trained_now and res.meta["resumed_from"] and res.meta["resumed_from"][0] % 2 == 0
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "whole"))
    whole = ensure_coarse(family, case, SETTINGS, "tiny", checkpoint_every=2)
    assert same_weights(weights(res.artifact), weights(whole.artifact))
    assert res.meta["losses"] == whole.meta["losses"]


def test_a_given_lora_in_diffusers_format_is_applied_then_removed(family, tmp_path, monkeypatch):
    from safetensors.torch import load_file, save_file

    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))
    res = ensure_coarse(family, make_case(tmp_path / "refs"), CoarseSettings(height=32, width=32, rank=4, steps=2,
                                                                             lr=1e-2), "tiny")
    state = load_file(str(res.artifact.path(CoarseArtifact.LORA)))
    user = tmp_path / "user_lora.safetensors"      # a pipeline-level file: "transformer." keys, no metadata
    save_file({f"transformer.{k}": v for k, v in state.items()}, str(user))
    model = family.denoiser
    plain = forward(model, None)
    with applied_lora(model, res.artifact.folder):
        ours = forward(model, None)
    with applied_lora(model, user):
        theirs = forward(model, None)
        assert hasattr(model.transformer_blocks[0].attn1.to_k, "base_layer")     # peft's LoRA layer
    assert not torch.allclose(ours, plain) and torch.allclose(ours, theirs, atol=1e-6)
    assert type(model.transformer_blocks[0].attn1.to_k) is torch.nn.Linear
    assert torch.equal(forward(model, None), plain)
    with pytest.raises(EvalkitError, match="no pytorch_lora_weights.safetensors"):
        with applied_lora(model, tmp_path):
            pass


def test_cover_resize_keeps_the_centre():
    img = np.zeros((40, 80, 3), np.uint8)
    img[:, 20:60] = 255                            # the centre half
    out = cover_resize(img, 32, 32)
    assert out.shape == (32, 32, 3) and out.min() == 255
    assert cover_resize(img, 20, 80).shape == (20, 80, 3)
