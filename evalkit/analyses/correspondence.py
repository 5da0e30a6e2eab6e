"""The PCK correspondence probe (V-Warper Sec. 4.2, Fig. 4, App. B.1), a registered analysis.

How well a method's internal cross-branch matches (generation token → reference token) agree
with dense DINO matches between the generated frame and the reference image
(:mod:`.dense_matches`), per feature type (``intermediate`` block outputs, ``raw-qk`` Q/K as
attention uses them, ``rope-free-qk``), layer and denoising step: PCK@α with α = 0.05 of the
image size (``max(H, W)``, :func:`.pck.pck`), over the subject's foreground tokens. Not a
per-video metric: it needs the method's internals, so a *prober* (a generator with
``probe(case, seed, steps, layers) -> ProbeRecording``, e.g. ``vwarper``) records them.

Substitutions (docs/generators/vwarper.md): the paper's foreground is Grounded-SAM's; ours is
the method's own subject-attention foreground at that step (``foreground="attention"``) or every
token (``"all"``). DINOv3 is the default backbone; any DINO-family model can stand in
(``dense_backbone``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..configurable import Configurable
from ..errors import EvalkitError, InvalidInputError
from ..registry import ANALYSES
from .dense_matches import DINOV3, DenseMatcher
from .pck import pck

FEATURES = ("intermediate", "raw-qk", "rope-free-qk")


@dataclass(frozen=True)
class ProbeRecording:
    """One generation's internal matches, as a prober records them."""
    case_id: str
    frames: np.ndarray        # (F, H, W, 3) uint8: the generated frame standing for each latent frame
    reference: np.ndarray     # (H, W, 3) uint8: the reference image as the reference branch saw it
    grid: tuple[int, int, int]   # token grid (frames F, rows h, columns w)
    #: (feature, layer, step) -> (F·h·w,) the reference token (frame-major index) each generation token matches
    matches: Mapping[tuple[str, int, int], np.ndarray]
    #: step -> (F·h·w,) bool foreground of the generation (the method's own, at that step)
    foreground: Mapping[int, np.ndarray] = field(default_factory=dict)


def token_centres(grid: tuple[int, int, int], size: tuple[int, int]) -> np.ndarray:
    """``(h·w, 2)`` pixel centres (x, y) of one frame's tokens in an image of ``size`` (H, W)."""
    _, h, w = grid
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    return np.stack([(xx.ravel() + 0.5) * size[1] / w, (yy.ravel() + 0.5) * size[0] / h], -1)


def pseudo_ground_truth(matcher, rec: ProbeRecording) -> np.ndarray:
    """``(F, h·w, 2)``: the dense matcher's reference position for every generation token."""
    frames, h, w = rec.grid
    if len(rec.frames) != frames:
        raise InvalidInputError(f"{rec.case_id}: {len(rec.frames)} frames for a token grid of {frames} frames")
    centres = token_centres(rec.grid, rec.frames.shape[1:3])
    return np.stack([matcher.match(frame, rec.reference, centres) for frame in rec.frames])


def score_recording(rec: ProbeRecording, gt: np.ndarray, alpha: float = 0.05, foreground: str = "attention"
                    ) -> list[dict[str, Any]]:
    """One row per (feature, layer, step): PCK@α of the method's matches against ``gt``."""
    frames, h, w = rec.grid
    size = rec.frames.shape[1:3]
    centres = token_centres(rec.grid, size)
    rows = []
    for (feature, layer, step), m in sorted(rec.matches.items()):
        row: dict[str, Any] = {"feature": feature, "layer": int(layer), "step": int(step)}
        m = np.asarray(m)
        if m.shape != (frames * h * w,):
            raise InvalidInputError(f"{rec.case_id}: {feature} layer {layer} step {step}: {m.shape} matches for "
                                    f"{frames * h * w} tokens")
        pred = centres[m % (h * w)].reshape(frames, h * w, 2)
        if foreground == "attention":
            if step not in rec.foreground:
                raise EvalkitError(f"{rec.case_id}: no foreground recorded at step {step}")
            visible = np.asarray(rec.foreground[step], bool).reshape(frames, h * w)
        else:
            visible = np.ones((frames, h * w), bool)
        try:
            res = pck(pred, gt, alpha, visible=visible, image_size=size)
            row.update(pck=res.per_point, points=res.num_points, error="")
        except InvalidInputError as exc:   # e.g. an empty foreground: recorded, never a silent NaN
            row.update(pck=float("nan"), points=0, error=str(exc))
        rows.append(row)
    return rows


@dataclass
class ProbeResult:
    frame: pd.DataFrame            # one row per case × seed × feature × layer × step
    config: dict[str, Any]

    def summary(self) -> pd.DataFrame:
        """Mean PCK over cases (and seeds) per feature × layer × step, and over steps (``step`` "all")."""
        ok = self.frame[self.frame["error"] == ""]
        per_step = ok.groupby(["feature", "layer", "step"], as_index=False).agg(pck=("pck", "mean"),
                                                                                 cases=("pck", "size"))
        overall = ok.groupby(["feature", "layer"], as_index=False).agg(pck=("pck", "mean"), cases=("pck", "size"))
        overall["step"] = "all"
        return pd.concat([per_step.astype({"step": object}), overall], ignore_index=True)

    def best_layers(self) -> dict[str, dict[str, float]]:
        s = self.summary()
        s = s[s["step"] == "all"]
        return {f: {"layer": int(g.loc[g["pck"].idxmax(), "layer"]), "pck": float(g["pck"].max())}
                for f, g in s.groupby("feature")}

    def plot(self) -> bytes:
        """Layer-wise PCK, one line per feature type; one panel per step and one over all steps (Fig. 4)."""
        import io

        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        s = self.summary()
        panels = [st for st in sorted(s["step"].unique(), key=lambda v: (v == "all", str(v).zfill(6)))]
        fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3), dpi=100, squeeze=False, sharey=True)
        for ax, st in zip(axes[0], panels):
            for feature in FEATURES:
                g = s[(s["step"] == st) & (s["feature"] == feature)].sort_values("layer")
                if len(g):
                    ax.plot(g["layer"], g["pck"], marker="o", ms=3, label=feature)
            ax.set_title("all steps" if st == "all" else f"step {st}", fontsize=9)
            ax.set_xlabel("layer")
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel(f"PCK@{self.config.get('alpha', 0.05)}")
        axes[0][-1].legend(fontsize=7)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        return buf.getvalue()

    def save(self, folder: str | Path) -> dict[str, Path]:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {"cases": folder / "correspondence_pck.csv", "summary": folder / "correspondence_pck_summary.csv",
                 "plot": folder / "correspondence_pck.png", "json": folder / "correspondence_pck.json"}
        self.frame.to_csv(paths["cases"], index=False)
        self.summary().to_csv(paths["summary"], index=False)
        paths["plot"].write_bytes(self.plot())
        paths["json"].write_text(json.dumps({"config": self.config, "best_layers": self.best_layers(),
                                             "failed": int((self.frame["error"] != "").sum())}, indent=1))
        return paths


@ANALYSES.register("correspondence-pck")
class CorrespondenceProbe(Configurable):
    """Layer-wise PCK of a prober's internal matches against dense DINO matches."""
    defaults = {"alpha": 0.05, "dense_backbone": DINOV3, "steps": [10, 20, 30, 40], "layers": "all",
                "foreground": "attention", "short_side": 448, "dtype": "float32"}
    nullable = ("short_side",)   # None: the dense backbone sees the frames at their own size
    choices = {"foreground": ("attention", "all")}

    def __init__(self, device: str = "cpu", **options: Any) -> None:
        super().__init__(**options)
        self.device = device

    def run(self, prober, cases: Iterable, seeds: Sequence[int] = (0,), out: str | Path | None = None,
            matcher=None) -> ProbeResult:
        if not hasattr(prober, "probe"):
            raise EvalkitError(f"{type(prober).__name__} records no internal matches (needs probe(case, seed, ...))")
        o = self.options
        matcher = matcher or DenseMatcher(o["dense_backbone"], self.device, o["dtype"], o["short_side"])
        layers = None if o["layers"] == "all" else [int(x) for x in o["layers"]]
        rows = []
        for case in cases:
            for seed in seeds:
                rec = prober.probe(case, int(seed), steps=tuple(int(s) for s in o["steps"]), layers=layers)
                gt = pseudo_ground_truth(matcher, rec)
                rows += [{"case_id": case.case_id, "seed": int(seed), **r}
                         for r in score_recording(rec, gt, float(o["alpha"]), o["foreground"])]
        if not rows:
            raise EvalkitError("correspondence probe: no case to probe")
        config = {**self.config, "prober": getattr(prober, "config", type(prober).__name__)}
        result = ProbeResult(pd.DataFrame(rows), config)
        if out is not None:
            result.save(out)
        return result
