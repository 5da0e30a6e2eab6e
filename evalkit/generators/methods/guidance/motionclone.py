"""MotionClone (Ling et al., ICLR 2025): guidance by sparse temporal attention.

The reference (its clean latent noised to t = 400 with random noise, one pass with the empty
prompt) gives, for every query of the chosen temporal attention, its top-1 key (frame) and weight;
the loss is the mean squared difference between the generation's attention weights at those keys
and the reference's (the release's ``compute_temp_loss``, summed over layers).

Two forms, chosen by the backbone's architecture:

- **U-Net** (the release on AnimateDiff; ZeroScope/ModelScope's ``temp_attentions`` play the
  motion modules' part): both temporal self-attentions of every temporal transformer in
  ``up_blocks.1``; at the steps with t ≥ 600 (the first 40 % of a uniform schedule) the gradient
  of 2000 × the loss (linear warm-up over the first 10 guided steps and cool-down over the last
  10) is subtracted inside the DDIM step, ε̃ = ε − √(1−ᾱ_t) ∇L, i.e. x_{t−1} − √(1−ᾱ_{t−1})
  √(1−ᾱ_t) ∇L (score rule; the release's 300 uneven steps are ``steps=300`` with uniform spacing);
- **DiT** (DiTFlow Sec. 5.1: "operating on the temporal axis of attention"): temporal attention
  read from the full attention of the guidance block (each query against the same spatial patch
  in every frame, softmax over frames, per head), optimised like DiTFlow (KV injection in block 0,
  Adam, 5 steps, the first 20 % of the steps, lr 0.002 → 0.001).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

from evalkit.errors import EvalkitError
from evalkit.generators.families.unet import UNetFamily
from evalkit.registry import GENERATORS

from .base import GuidedTransfer
from .features import token_grid
from .passes import FeaturePass, heads_first
from .schedule import ramp_weight
from .settings import GuidanceSettings, paper_table

#: the paper settings per architecture (options left at None take them)
PAPER = paper_table(
    # DiTFlow's normalised setting for its DiT baselines (Sec. 5.1)
    dit={"guidance_fraction": 0.2, "kv_blocks": "0", "reference_timestep": 400, "opt_steps": 5,
         "guidance_weight": 1.0, "warm_up_steps": 0, "cool_down_steps": 0},
    # the MotionClone release (configs/t2v_*.yaml): t >= 600 guided, weight 2000, ramps of 10 steps,
    # the temporal attention of up_blocks.1
    unet={"guidance_fraction": 0.4, "kv_blocks": "none", "reference_timestep": 400, "opt_steps": 1,
          "guidance_weight": 2000.0, "warm_up_steps": 10, "cool_down_steps": 10, "blocks": (1,)})


@dataclass(frozen=True)
class MotionCloneSettings(GuidanceSettings):
    guidance_weight: float
    warm_up_steps: int
    cool_down_steps: int
    cfg_combine: str               # standard | release (guidance_scale then holds the effective s + 1)
    reference_noise: str           # seed | generation
    source_frames: int | None      # None: every source frame


#: the release's CFG form, reference noise and frame count (the ``*_release`` values of the options)
CFG_COMBINES = ("standard", "release")
REFERENCE_NOISES = ("seed", "generation")


def temporal_attention_dit(q, k, frames: int):
    """[heads, F·S, d] Q, K of a DiT layer -> per-head temporal attention [heads, S, F, F]."""
    import torch

    heads, n, d = q.shape
    s = n // frames
    qs = q.float().view(heads, frames, s, d).transpose(1, 2)
    ks = k.float().view(heads, frames, s, d).transpose(1, 2)
    return torch.softmax(qs @ ks.transpose(-1, -2) / d ** 0.5, dim=-1)


def temporal_attention_unet(q, k):
    """Q, K of a U-Net temporal attention ([positions, heads, F, d]) -> [positions, heads, F, F]."""
    import torch

    return torch.softmax(q.float() @ k.float().transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1)


def sparse_target(probs):
    """The reference's top-1 key per query: (weights, indices)."""
    values, indices = probs.topk(1, dim=-1)
    return values, indices


def sparse_loss(target, probs):
    import torch.nn.functional as F

    values, indices = target
    return F.mse_loss(probs.gather(-1, indices), values.to(probs.dtype))


@GENERATORS.register("motionclone")
class MotionClone(GuidedTransfer):
    families: ClassVar[tuple[str, ...]] = ("cogvideox", "wan", "unet", "animatediff")
    PAPER = PAPER
    settings_class = MotionCloneSettings
    #: the release's (LPengYang/MotionClone@7724ee8, configs/t2v_object.yaml and t2v_camera.yaml, line 7)
    RELEASE_NEGATIVE_PROMPT = ("bad anatomy, extra limbs, ugly, deformed, noisy, blurry, distorted, out of focus,  "
                               "poorly drawn face, poorly drawn hands, missing fingers")
    defaults: ClassVar[dict[str, Any]] = {
        **GuidedTransfer.defaults,
        "guidance_fraction": None, "kv_blocks": None, "reference_timestep": None, "opt_steps": None,
        "guidance_weight": None,       # U-Net: 2000 (the release's motion_guidance_weight)
        "warm_up_steps": None, "cool_down_steps": None,
        "cfg_combine": "standard",     # release: ε_c + s(ε_c − ε_u), i.e. the standard form at s + 1
        "reference_noise": "seed",     # generation: the reference is noised with the generation's initial noise
        "source_frames": None,         # N: the source resampled to N frames (the release: 16)
    }
    types: ClassVar[dict[str, type]] = {
        **GuidedTransfer.types, "guidance_fraction": float, "reference_timestep": int, "opt_steps": int,
        "guidance_weight": float, "warm_up_steps": int, "cool_down_steps": int, "source_frames": int}
    bounds: ClassVar[dict[str, tuple]] = {**GuidedTransfer.bounds, "guidance_weight": (0.0, None),
                                          "warm_up_steps": (0, None), "cool_down_steps": (0, None),
                                          "source_frames": (1, None)}
    choices: ClassVar[dict[str, tuple]] = {**GuidedTransfer.choices, "cfg_combine": CFG_COMBINES,
                                           "reference_noise": REFERENCE_NOISES}

    def __init__(self, device: str = "cpu", **options: Any) -> None:
        super().__init__(device=device, **options)
        if self.settings.cfg_combine == "release":
            # the release (motionclone/utils/motionclone_functions.py:239, :255) combines
            # ε_c + s(ε_c − ε_u) = ε_u + (s + 1)(ε_c − ε_u): the pipeline's own CFG at s + 1
            self.settings = replace(self.settings, guidance_scale=float(self.settings.guidance_scale) + 1.0)
    @property
    def unet(self) -> bool:
        return type(self.family).architecture == "unet"

    # -- the release's reference: resampled frames, the generation's noise -----------------
    def resample_source(self, frames):
        """``source_frames`` = N: N frames at evenly spaced indices (the release's
        ``np.linspace(0, total − 1, N, dtype=int)``, motionclone/utils/util.py:230)."""
        import numpy as np

        n = self.settings.source_frames
        if n is None:
            return frames
        f = self.family.temporal_factor()
        if (int(n) - 1) % f:
            raise EvalkitError(f"motionclone: source_frames={n} is not k·{f}+1 frames, as {self.spec.name}'s VAE needs")
        return frames[np.linspace(0, len(frames) - 1, int(n), dtype=int)]

    def record_noise(self, x0, seed: int):
        """``reference_noise="generation"``: the initial noise the pipeline draws for this case seed (the
        release seeds both draws alike: t2v_video_sample.py:84-95, motionclone_functions.py:42)."""
        if self.settings.reference_noise == "seed":
            return super().record_noise(x0, seed)
        family = self.family
        noise = family.initial_noise(x0.num_frames, x0.height, x0.width, family.seed_generator(seed),
                                     self.embed(self.negative_prompt).embeds.dtype)
        if tuple(noise.shape) != tuple(x0.tensor.shape):
            raise EvalkitError(f"motionclone: the generation's noise {tuple(noise.shape)} does not match the "
                               f"reference latent {tuple(x0.tensor.shape)}")
        return noise.to(x0.tensor)

    def update_rule(self) -> str:
        return "score" if self.unet else "optimise"

    # -- U-Net: temporal attention layers of the chosen up blocks ----------------------
    def blocks(self) -> tuple[int, ...]:
        if self.unet:
            b = self.settings.blocks
            return b if isinstance(b, tuple) else tuple(int(x) for x in str(b).split(","))
        return super().blocks()

    def temporal_family(self):
        ups = "|".join(str(b) for b in self.blocks())
        pattern = (rf"^up_blocks\.(?:{ups})\.(?:temp_attentions|motion_modules)\.\d+\.transformer_blocks\.\d+"
                   r"\.attn[12]$")
        return type("TemporalAttention", (UNetFamily,), {"self_attention": pattern})

    def guidance_layers(self) -> list[str]:
        if not self.unet:
            return super().guidance_layers()
        from evalkit.generators.attention import self_attention_layers

        layers = self_attention_layers(self.family.denoiser, self.temporal_family())
        if not layers:
            raise EvalkitError(f"motionclone: {self.spec.name} has no temporal attention in up block(s) "
                               f"{list(self.blocks())}")
        return layers

    def feature_pass(self) -> FeaturePass:
        if not self.unet:
            blocks = self.blocks()
            return FeaturePass(self.family, attention_layers=self.layers_at(blocks),
                               stop_module=self.stop_module(blocks))
        nxt = f"up_blocks.{max(self.blocks()) + 1}"
        model = self.family.denoiser
        stop = nxt if self.settings.truncate and nxt in dict(model.named_modules()) else None
        return FeaturePass(self.family, attention_family=self.temporal_family(),
                           attention_layers=self.guidance_layers(), stop_module=stop)

    # -- the loss ----------------------------------------------------------------------
    def attention_maps(self, feats: dict) -> list:
        out = []
        for layer in self.guidance_layers():
            q, k = feats[(layer, "q")], feats[(layer, "k")]
            if self.unet:
                out.append(temporal_attention_unet(q.tensor, k.tensor))
            else:
                qh, kh = heads_first(q), heads_first(k)
                frames = token_grid(qh.shape[1], self.latent_grid)[0]
                out.append(temporal_attention_dit(qh, kh, frames))
        return out

    def reference_target(self, feats: dict) -> Any:
        return [sparse_target(p) for p in self.attention_maps(feats)]

    def loss(self, target: Any, feats: dict):
        return sum(sparse_loss(t, p) for t, p in zip(target, self.attention_maps(feats)))

    def loss_weights(self, n: int) -> list[float]:
        s = self.settings
        w, up, down = float(s.guidance_weight), int(s.warm_up_steps), int(s.cool_down_steps)
        return [w * ramp_weight(k, n, up, down) for k in range(n)]

    def extras(self, case, seed, run, x0, zero_shot) -> dict:
        s = self.settings
        return {**super().extras(case, seed, run, x0, zero_shot), "cfg_combine": s.cfg_combine,
                "guidance_scale": float(s.guidance_scale), "reference_noise": s.reference_noise}

    def score_step(self, run, i: int, grad):
        """√(1−ᾱ_prev) √(1−ᾱ_t) ∇L: the DDIM step with ε − √(1−ᾱ_t) ∇L (η = 0), minus the plain step."""
        sched = run.sched
        if type(sched).__name__ != "DDIMScheduler":
            raise EvalkitError(f"motionclone: the U-Net form guides a DDIM step; {self.spec.name}'s scheduler is "
                               f"{type(sched).__name__}")
        t = int(sched.timesteps[i])
        prev = t - sched.config.num_train_timesteps // sched.num_inference_steps
        a_t = sched.alphas_cumprod[t]
        a_prev = sched.alphas_cumprod[prev] if prev >= 0 else sched.final_alpha_cumprod
        return float((1 - a_prev) ** 0.5 * (1 - a_t) ** 0.5) * grad
