"""FastVMT (Ma et al., ICLR 2026): DiTFlow's AMF guidance with its two redundancies removed.

- motion redundancy: between different frames a patch attends only to a local window of patches
  when the AMF is computed (:func:`.amf.local_window`; ``window``, 21 patches in the release);
- gradient redundancy: of the optimisation updates at a guided step only every ``reuse_interval``-th
  runs the forward and backward pass, the others step with the last computed gradient
  (:func:`.optimise.gradient_descent`; 3 in the release).

Everything else is DiTFlow's engine (:mod:`.ditflow`) with the release's settings
(mayuelala/FastVMT@34a050b, diffsynth/pipelines/wan_video.py), among them its reference: at every
guided step the source latent noised to t_i with the generation's initial noise, empty prompt, soft
AMF (``reference_timing=per-step``, ``reference_amf=soft``), and no KV injection. Where evalkit
differs from the release (window centre, tracking loss, frame span, learning-rate decay) is in
docs/generators/guidance.md ("FastVMT").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from evalkit.generators.settings import PaperSettings
from evalkit.registry import GENERATORS

from .amf import amf_loss
from .ditflow import DiTFlow, DiTFlowSettings
from .settings import paper_table

_DITFLOW = paper_table()
#: the release reads Q, K of DiT block index 14 on both Wan sizes (wan_video.py:576, :594)
_RELEASE_BLOCK = {"blocks": (14,)}


def frame_pair_grid(frames: int, device):
    """(i, j) frame indices of an [F, F] pair grid."""
    import torch

    idx = torch.arange(frames, device=device)
    return torch.meshgrid(idx, idx, indexing="ij")


@dataclass(frozen=True)
class FastVMTSettings(DiTFlowSettings):
    window: int
    reuse_interval: int
    reference_timing: str
    reference_amf: str
    frame_span: int
    pair_weights: str


@GENERATORS.register("fast-vmt")
class FastVMT(DiTFlow):
    defaults: ClassVar[dict[str, Any]] = {
        **DiTFlow.defaults,
        # mayuelala/FastVMT@34a050b, diffsynth/pipelines/wan_video.py:
        "window": 21,              # l, the side of the local window in patches (:603, :633); 0: no mask
        "reuse_interval": 3,       # a computed gradient at updates j % 3 == 0 (:622, :637-640; interval=3 at :818, :822)
        "opt_steps": 10,           # total_steps (:572)
        "optimizer": "adamw",      # torch.optim.AdamW (:584)
        "lr_start": 0.003,         # initial_lr (:570)
        "lr_end": 0.002,           # final_lr (:571)
        "temperature": 1.0,        # tau (:603, :633)
        "kv_blocks": "none",       # the release injects no KV (its guidance_step, :555-646)
        # per-step: the source noised to t_i with the seed's noise, empty prompt (:589-592); clean: DiTFlow's t = 0
        "reference_timing": "per-step",
        "frame_span": 4,           # sf: only frame pairs j ∈ [i, i + 4) (:379; default sf=4, :679); 0: all F² pairs
        "pair_weights": "release",  # with frame_span: pair (i, j) weighted linspace(1, 0.8, span)[j − i]; uniform
        "reference_amf": "soft",   # softmax displacements also for the reference (:603); hard: DiTFlow's argmax
    }
    choices: ClassVar[dict[str, tuple]] = {**DiTFlow.choices, "reference_timing": ("per-step", "clean"),
                                           "reference_amf": ("soft", "hard"), "pair_weights": ("release", "uniform")}
    bounds: ClassVar[dict[str, tuple]] = {**DiTFlow.bounds, "window": (0, None), "reuse_interval": (1, None),
                                          "frame_span": (0, None)}
    families: ClassVar[tuple[str, ...] | None] = ("wan", "cogvideox")
    PAPER: ClassVar[PaperSettings] = PaperSettings(
        rows={**_DITFLOW.rows, "wan2.1-1.3b": _RELEASE_BLOCK, "wan2.1-14b": _RELEASE_BLOCK},
        by_architecture=_DITFLOW.by_architecture)
    settings_class = FastVMTSettings

    def amf_window(self) -> int:
        return int(self.settings.window)

    def reuse_every(self) -> int:
        return int(self.settings.reuse_interval)

    def loss(self, target: Any, feats: dict):
        span = int(self.settings.frame_span)
        if span <= 0:
            return super().loss(target, feats)
        import torch

        generated = self.flows(feats, hard=False)
        i, j = frame_pair_grid(generated[0].shape[0], generated[0].device)
        pairs = (j >= i) & (j < i + span)                       # [Fi, Fj]: the release's compared pairs
        # pair_weights=release: 1 → 0.8 over the distances 0 … span−1 (:723-729, :495); scaling both AMFs
        # by √w weights each squared error by w and keeps the moving mask (w > 0)
        w = torch.ones(span) if self.settings.pair_weights == "uniform" else torch.linspace(1.0, 0.8, span)
        root = w.sqrt().to(generated[0].device)[(j - i)[pairs]][:, None, None]
        losses = [amf_loss(root * ref[pairs], root * gen[pairs], self.settings.loss_mask)
                  for ref, gen in zip(target, generated)]
        return sum(losses) / len(losses)

    def reference_target(self, feats: dict) -> Any:
        return self.flows(feats, hard=self.settings.reference_amf == "hard")

    def reference(self, x0, case, seed: int) -> Any:
        if self.settings.reference_timing == "clean":
            return super().reference(x0, case, seed)
        return {"embeds": self.embed("" if self.settings.reference_prompt == "empty" else case.source_prompt)}

    def target_at(self, run, i: int) -> Any:
        """per-step: the reference pass at step i on the source noised with the generation's initial noise."""
        if self.settings.reference_timing == "clean":
            return run.target
        x = self.family.noise_to(run.sched, run.x0.tensor, run.noise.to(run.x0.tensor.dtype), i)
        feats = self.feature_pass().run(run.x0.with_tensor(x), run.sched.timesteps[i], run.target["embeds"],
                                        grad=False, step=i)
        return self.reference_target(feats)

    def extras(self, case, seed, run, x0, zero_shot) -> dict:
        out = super().extras(case, seed, run, x0, zero_shot)
        computed = sum(len(v) for v in run.losses.values())
        out.update(window=self.amf_window(), reuse_interval=self.reuse_every(), backward_passes=computed,
                   reused_gradients=len(run.losses) * int(run.opt_steps) - computed if run.mode == "optimise" else 0)
        return out
