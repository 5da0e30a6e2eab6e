"""The coarse appearance adaptation loop (V-Warper Sec. 4.1, App. A), cached and resumable.

LoRA (rank 128, AdamW lr 1e-4) on K, V, O of every MM-DiT attention layer plus a learnable
subject-token embedding (lr 5e-4), trained on the subject's reference images as one-frame videos
with the model's own diffusion loss (MSE to its prediction target: v for CogVideoX). Choices the
paper leaves open (docs/generators/vwarper.md): 500 steps, batch 1, LoRA alpha = rank,
AdamW's default weight decay (0.01), prompt "a photo of {token} {class_noun}", images resized
to cover the generation size and centre-cropped, VAE posterior mode, timesteps uniform over
training steps, the token initialised to the mean embedding of the class noun.

Each run is an artifact (:mod:`.artifact`): an unchanged request reuses it; a killed run
resumes from its last checkpoint (LoRA, token, optimiser and RNG states), giving the same
weights as an uninterrupted run.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.generators.training.artifact import CoarseArtifact
from evalkit.generators.training.lora import add_trainable_lora, load_lora_state, lora_config, lora_state, save_lora
from evalkit.hashing import stable_hash

TRAINING_VERSION = 1
EVAL_LEVELS = 5   # timesteps of the fixed evaluation loss, evenly spread over training steps


@dataclass(frozen=True)
class CoarseSettings:
    """Everything that determines the trained weights (with the images and the base weights)."""
    height: int
    width: int
    rank: int = 128
    alpha: float | None = None          # None: = rank (scale 1)
    targets: str = "kvo"
    lr: float = 1e-4
    token_lr: float = 5e-4
    steps: int = 500
    batch_size: int = 1
    weight_decay: float = 1e-2
    seed: int = 0
    learn_token: bool = True
    token_space: str = "input"          # "input" (textual inversion) or "output" (.prompts)
    prompt: str = "a photo of {token} {class_noun}"
    gradient_checkpointing: bool = False


@dataclass
class CoarseResult:
    artifact: CoarseArtifact
    meta: dict[str, Any]
    trained_now: bool
    seconds: float = 0.0


def cover_resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize ``image`` to cover ``height × width`` (aspect kept), then centre-crop."""
    import cv2

    h, w = image.shape[:2]
    s = max(height / h, width / w)
    nh, nw = max(height, round(h * s)), max(width, round(w * s))
    img = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    top, left = (nh - height) // 2, (nw - width) // 2
    return np.ascontiguousarray(img[top:top + height, left:left + width])


def training_key(images_fingerprint: str, token: str, class_noun: str, settings: CoarseSettings,
                 base_weights: str) -> str:
    return stable_hash(TRAINING_VERSION, images_fingerprint, token, class_noun, asdict(settings), base_weights)


@dataclass
class CoarseTrainer:
    family: Any                       # a bound ModelFamily (CogVideoX)
    images: Sequence[np.ndarray]
    token: str
    class_noun: str
    settings: CoarseSettings
    checkpoint_every: int = 50
    progress: bool | None = None      # tqdm: None = only on a terminal
    on_step: Callable[[int, float], None] | None = None   # after each step (tests stop a run with it)
    provenance: dict[str, Any] = field(default_factory=dict)   # key, base weights: recorded in the meta
    losses: list[float] = field(default_factory=list)

    def run(self, artifact: CoarseArtifact) -> dict[str, Any]:
        import torch

        from .prompts import SubjectPrompts, initial_embedding

        s, model = self.settings, self.family.denoiser
        device = self.family.device
        start_time = time.perf_counter()
        with _frozen(self.family):
            with torch.random.fork_rng(devices=[device] if str(device).startswith("cuda") else []):
                torch.manual_seed(s.seed)   # the LoRA's random init is part of the run's identity
                params = add_trainable_lora(model, lora_config(self.family.self_attention, s.rank,
                                                               s.alpha or s.rank, s.targets))
            try:
                token = initial_embedding(self.family, self.class_noun, s.token_space).to(device).requires_grad_(True) \
                    if s.learn_token else None
                groups = [{"params": params, "lr": s.lr}]
                if token is not None:
                    groups.append({"params": [token], "lr": s.token_lr})
                opt = torch.optim.AdamW(groups, weight_decay=s.weight_decay)
                rng = torch.Generator("cpu").manual_seed(s.seed)
                prompts = SubjectPrompts(self.family, self.token, token, s.token_space)
                prompt = s.prompt.format(token=self.token, class_noun=self.class_noun)
                self._latents = self._encode_images()
                self._rope = self.family.rotary_embeddings(s.height, s.width, 1)   # one-frame videos
                state = self._resume(artifact, model, token, opt, rng)
                if s.gradient_checkpointing:
                    model.enable_gradient_checkpointing()
                if state["eval_before"] is None:
                    state["eval_before"] = self.eval_loss(prompts, prompt)
                self._loop(state, artifact, model, prompts, prompt, token, opt, rng)
                state["eval_after"] = self.eval_loss(prompts, prompt)
                return self._finish(artifact, model, token, state, time.perf_counter() - start_time)
            finally:
                if s.gradient_checkpointing:
                    model.disable_gradient_checkpointing()
                model.unload_lora()

    # -- the loop ----------------------------------------------------------------------
    def _loop(self, state, artifact, model, prompts, prompt, token, opt, rng) -> None:
        from tqdm.auto import tqdm

        s = self.settings
        bar = tqdm(range(state["step"], s.steps), initial=state["step"], total=s.steps, leave=False,
                   disable=None if self.progress is None else not self.progress, desc=f"LoRA {self.token}")
        for step in bar:
            loss = self._step(model, prompts, prompt, opt, rng)
            self.losses.append(loss)
            bar.set_postfix(loss=f"{loss:.4f}")
            state["step"] = step + 1
            if state["step"] % self.checkpoint_every == 0 and state["step"] < s.steps:
                self._checkpoint(artifact, model, token, opt, rng, state)
            if self.on_step is not None:
                self.on_step(state["step"], loss)
        bar.close()

    def _step(self, model, prompts, prompt, opt, rng) -> float:
        import torch

        s, sched = self.settings, self.family.pipe.scheduler
        n = len(self._latents)
        idx = torch.randint(0, n, (s.batch_size,), generator=rng)
        x0 = torch.cat([self._latents[int(i)] for i in idx])
        t = torch.randint(0, sched.config.num_train_timesteps, (s.batch_size,), generator=rng)
        noise = torch.randn(x0.shape, generator=rng)
        loss = self._loss(model, prompts, prompt, x0, t, noise, grad=True)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(loss.detach())

    def _loss(self, model, prompts, prompt, x0, t, noise, *, grad: bool):
        import torch

        sched, device = self.family.pipe.scheduler, self.family.device
        x0, noise = x0.to(device, torch.float32), noise.to(device, torch.float32)
        t = t.to(device)
        noisy = sched.add_noise(x0, noise, t)
        target = sched.get_velocity(x0, noise, t) if sched.config.prediction_type == "v_prediction" else noise
        with torch.set_grad_enabled(grad):
            emb = prompts.encode(prompt, grad=grad).embeds.expand(len(x0), -1, -1)
            pred = model(hidden_states=noisy.to(model.dtype), encoder_hidden_states=emb, timestep=t,
                         image_rotary_emb=self._rope, return_dict=False)[0]
            return torch.nn.functional.mse_loss(pred.float(), target.float())

    def eval_loss(self, prompts, prompt) -> float:
        """The loss on a fixed set (every image × EVAL_LEVELS timesteps, fixed noise)."""
        import torch

        T = self.family.pipe.scheduler.config.num_train_timesteps
        rng = torch.Generator("cpu").manual_seed(self.settings.seed + 1)
        total = []
        for x0 in self._latents:
            for level in range(EVAL_LEVELS):
                t = torch.tensor([int(T * (level + 0.5) / EVAL_LEVELS)])
                noise = torch.randn(x0.shape, generator=rng)
                total.append(float(self._loss(self.family.denoiser, prompts, prompt, x0, t, noise, grad=False)))
        return float(np.mean(total))

    # -- inputs ------------------------------------------------------------------------
    def _encode_images(self) -> list:
        s = self.settings
        if not len(self.images):
            raise EvalkitError(f"coarse stage of {self.token!r}: no reference images")
        return [self.family.encode_video(cover_resize(im, s.height, s.width)[None], 1.0).tensor.float().cpu()
                for im in self.images]

    # -- checkpoints -------------------------------------------------------------------
    def _checkpoint(self, artifact, model, token, opt, rng, state) -> None:
        import os

        import torch

        artifact.folder.mkdir(parents=True, exist_ok=True)
        tmp = artifact.path(artifact.CHECKPOINT + ".tmp")
        torch.save({"lora": lora_state(model), "token": None if token is None else token.detach().cpu(),
                    "optimizer": opt.state_dict(), "rng": rng.get_state(), "step": state["step"],
                    "losses": list(self.losses), "eval_before": state["eval_before"],
                    "resumed_from": state["resumed_from"]}, tmp)
        os.replace(tmp, artifact.path(artifact.CHECKPOINT))

    def _resume(self, artifact, model, token, opt, rng) -> dict:
        import torch

        state = {"step": 0, "eval_before": None, "resumed_from": []}
        f = artifact.path(artifact.CHECKPOINT)
        if not f.is_file():
            return state
        ck = torch.load(f, map_location="cpu", weights_only=True)
        load_lora_state(model, ck["lora"])
        if token is not None and ck["token"] is not None:
            with torch.no_grad():
                token.copy_(ck["token"].to(token.device))
        opt.load_state_dict(ck["optimizer"])
        rng.set_state(ck["rng"])
        self.losses = list(ck["losses"])
        state.update(step=int(ck["step"]), eval_before=ck["eval_before"],
                     resumed_from=list(ck["resumed_from"]) + [int(ck["step"])])
        return state

    def _finish(self, artifact, model, token, state, seconds: float) -> dict[str, Any]:
        import os

        from safetensors.torch import save_file

        artifact.folder.mkdir(parents=True, exist_ok=True)
        for name in (artifact.LORA, artifact.TOKEN):   # a result left by an earlier, interrupted finish
            artifact.path(name).unlink(missing_ok=True)
        tmp = artifact.path(artifact.LORA + ".tmp")
        save_lora(model, tmp)
        os.replace(tmp, artifact.path(artifact.LORA))
        if token is not None:
            save_file({"embedding": token.detach().float().cpu().contiguous()}, str(artifact.path(artifact.TOKEN)),
                      metadata={"token": self.token, "space": self.settings.token_space})
        meta = {"complete": True, "version": TRAINING_VERSION, "settings": asdict(self.settings),
                "token": self.token, "class_noun": self.class_noun, "images": len(self.images),
                "losses": self.losses, "eval_loss_before": state["eval_before"],
                "eval_loss_after": state["eval_after"], "steps": state["step"], "seconds": seconds,
                "resumed_from": state["resumed_from"], "device": str(self.family.device), **self.provenance}
        try:
            plot_losses(meta, artifact.path(artifact.PLOT))
        except ImportError as exc:   # matplotlib is optional where only weights are needed (GPU benchmark)
            meta["plot"] = f"not drawn: {exc}"
        artifact.write_json(artifact.META, meta)
        artifact.path(artifact.CHECKPOINT).unlink(missing_ok=True)
        return meta


def ensure_coarse(family, case, settings: CoarseSettings, base_weights: str, *, checkpoint_every: int = 50,
                  progress: bool | None = None) -> CoarseResult:
    """The coarse stage of ``case``'s subject: reused when its artifact is complete, else trained
    (resuming a checkpoint left by a killed run) under the artifact's lock."""
    key = training_key(case.reference_images.fingerprint(), case.subject_token, case.class_noun, settings,
                       base_weights)
    artifact = CoarseArtifact.for_key(case.subject_name, key)
    if artifact.complete():
        return CoarseResult(artifact, artifact.meta(), False)
    with artifact.lock():
        if artifact.complete():   # another process finished it while we waited
            return CoarseResult(artifact, artifact.meta(), False)
        start = time.perf_counter()
        trainer = CoarseTrainer(family, case.reference_images.load(), case.subject_token, case.class_noun, settings,
                                checkpoint_every=checkpoint_every, progress=progress,
                                provenance={"key": key, "base_weights": base_weights})
        meta = trainer.run(artifact)
        return CoarseResult(artifact, meta, True, time.perf_counter() - start)


class _frozen:
    """The pipeline's modules frozen (requires_grad False) and in eval mode (no dropout: T5 has
    some) for the block; flags and modes restored after."""

    def __init__(self, family) -> None:
        _, encoder = family.text_components()
        self.modules = [m for m in (family.denoiser, encoder, family.pipe.vae) if m is not None]

    def __enter__(self):
        self.flags = [[p.requires_grad for p in m.parameters()] for m in self.modules]
        self.modes = [[x.training for x in m.modules()] for m in self.modules]
        for m in self.modules:
            m.requires_grad_(False)
            m.eval()

    def __exit__(self, *exc) -> None:
        for m, flags, modes in zip(self.modules, self.flags, self.modes):
            for p, f in zip(m.parameters(), flags):
                p.requires_grad_(f)
            for x, mode in zip(m.modules(), modes):
                x.training = mode


def plot_losses(meta: dict, path) -> None:
    """The loss curve (per step and a running mean) with the fixed evaluation loss before/after."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    losses = np.asarray(meta["losses"], float)
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    if len(losses):
        steps = np.arange(1, len(losses) + 1)
        ax.plot(steps, losses, lw=0.6, alpha=0.4, label="loss per step")
        window = max(1, min(20, len(losses) // 5))
        ax.plot(steps[window - 1:], np.convolve(losses, np.ones(window) / window, "valid"), lw=1.5,
                label=f"running mean ({window})")
    for key, style in (("eval_loss_before", ":"), ("eval_loss_after", "--")):
        if meta.get(key) is not None:
            ax.axhline(meta[key], ls=style, color="k", lw=1, label=f"{key.replace('_', ' ')} {meta[key]:.4f}")
    ax.set_xlabel("step")
    ax.set_ylabel("diffusion loss")
    ax.set_title(f"coarse stage: {meta['token']} {meta['class_noun']} ({meta['images']} images)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
