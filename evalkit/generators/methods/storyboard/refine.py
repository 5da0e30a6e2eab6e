"""Refinement feature injection (Motion by Queries App. B.4, after ConsiStory's feature injection).

At the active steps, the self-attention output O of each subject token of a shot is blended with
the O of its corresponding token in an anchor shot: ``O ← α·O_anchor[match] + (1 − α)·O``. The
correspondence (:func:`anchor_matches`) is the nearest neighbour by cosine of DIFT features over
the subject tokens of *all frames* of the anchors (App. B.4: "the entire frame set of each anchor
video"); a shot takes matches from the anchors other than itself. Unlike ConsiStory, it acts on
both CFG passes with the same map (App. B.4); ``passes="cond"`` is ConsiStory's choice.

O is the output of the attention module (after its output projection, as in ConsiStory), so the
injection is a forward hook on the attention modules rather than an attention behaviour. Only
layers whose tokens per frame equal the map's (the DIFT resolution, the paper's "32×20 layers")
are changed.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from evalkit.errors import EvalkitError
from evalkit.generators.attention.frames import FrameLayout


def anchor_matches(features, masks, anchors: Sequence[int], chunk: int = 4096, threshold: str = "none"):
    """``features`` ``[shots, F, S, C]``, subject ``masks`` ``[shots, F, S]`` -> (``index``, ``valid``):
    ``index[i, f, p]`` is the flat ``shot·F·S + frame·S + token`` of the most similar anchor subject
    token (anchors other than ``i``); ``valid`` where ``(i, f, p)`` is subject and a match exists.
    ``threshold="otsu"``: also only where the match's cosine distance (1 − cos) is below Otsu's
    threshold over the distances of all of shot ``i``'s tokens (ConsiStory's ``dist_thr='dynamic'``,
    NVlabs/consistory consistory_utils.py ``FeatureInjector.inject_outputs``, per image there, per
    shot, all frames, here)."""
    import torch
    import torch.nn.functional as F

    shots, frames, tokens = masks.shape
    feats = F.normalize(features.float(), dim=-1).reshape(shots * frames * tokens, -1)
    flat_masks = masks.reshape(shots, frames * tokens)
    index = torch.zeros((shots, frames * tokens), dtype=torch.long, device=feats.device)
    valid = torch.zeros((shots, frames * tokens), dtype=torch.bool, device=feats.device)
    for i in range(shots):
        sources = [a for a in anchors if a != i]
        cand = torch.cat([a * frames * tokens + torch.nonzero(flat_masks[a]).flatten() for a in sources]) \
            if sources else torch.zeros(0, dtype=torch.long)
        cand = cand.to(feats.device)
        if cand.numel() == 0:
            continue
        own = feats[i * frames * tokens:(i + 1) * frames * tokens]
        distance = torch.empty(own.shape[0], device=feats.device)
        for s in range(0, own.shape[0], chunk):
            sim, best = (own[s:s + chunk] @ feats[cand].T).max(dim=1)
            index[i, s:s + chunk] = cand[best]
            distance[s:s + chunk] = 1.0 - sim
        valid[i] = flat_masks[i].to(feats.device)
        if threshold == "otsu":
            valid[i] &= distance < otsu_threshold(distance)
    return index.reshape(shots, frames, tokens), valid.reshape(shots, frames, tokens)


def otsu_threshold(values) -> float:
    """Otsu's threshold of a 1-D tensor of values (skimage, as ConsiStory's ``get_dynamic_threshold``)."""
    from skimage.filters import threshold_otsu

    v = values.detach().float().cpu().numpy()
    # all distances equal: nothing to separate, every match kept (skimage would return the value itself)
    return float(threshold_otsu(v)) if v.size and float(v.max() - v.min()) > 0 else float("inf")


class RefinementInjection:
    """``with RefinementInjection(model, layers, layout, index, valid, alpha, active, step):`` — forward
    hooks on the ``layers`` attention modules; ``step()`` gives the current denoising step."""

    def __init__(self, model, layers: Sequence[str], layout: FrameLayout, index, valid, alpha: float,
                 active: Callable[[int], bool], step: Callable[[], int], *, cfg: str = "none",
                 passes: str = "both") -> None:
        if not 0.0 <= alpha <= 1.0:
            raise EvalkitError(f"refinement injection alpha {alpha} outside [0, 1]")
        if passes not in ("cond", "both"):
            raise EvalkitError(f"refinement injection passes {passes!r} not in ('cond', 'both')")
        self.model, self.layers, self.layout = model, list(layers), layout
        self.index, self.valid, self.alpha, self.active, self.step = index, valid, alpha, active, step
        self.cfg, self.passes = cfg, passes
        self.count = 0

    def __enter__(self) -> "RefinementInjection":
        self._seen: dict = {}
        self._handles = [self.model.get_submodule(name).register_forward_hook(self._hook) for name in self.layers]
        return self

    def _groups(self, module, groups: int) -> range:
        """The passes of this call to change: all, or the conditional one (ConsiStory's choice)."""
        if self.passes == "both" or self.cfg == "none":
            return range(groups)
        if self.cfg == "batched":
            return range(groups - 1, groups)                    # [uncond, cond]
        key = (id(module), self.step())                         # sequential: the first call of a step
        self._seen[key] = self._seen.get(key, 0) + 1
        return range(groups) if self._seen[key] == 1 else range(0)

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()

    def _hook(self, module, args, output) -> Any:
        import torch

        if not self.active(self.step()):
            return None
        out = output[0] if isinstance(output, tuple) else output
        if out.ndim != 3:
            return None
        o = self.layout.to_frames(out, "BSHD")                      # [G·N, F, S, C]
        shots, per_frame = self.layout.shots, o.shape[2]
        if per_frame != self.index.shape[2]:
            return None                                            # another resolution than the map's
        index = self.index.to(o.device).reshape(-1)
        valid = self.valid.to(o.device).reshape(shots, o.shape[1], per_frame, 1)
        new = o.clone()
        for g in self._groups(module, o.shape[0] // shots):
            own = o[g * shots:(g + 1) * shots]
            matched = own.reshape(-1, own.shape[-1])[index].reshape(own.shape)
            blend = (self.alpha * matched + (1 - self.alpha) * own).to(own.dtype)
            new[g * shots:(g + 1) * shots] = torch.where(valid, blend, own)
        self.count += 1
        new = self.layout.from_frames(new, "BSHD")
        return (new,) + tuple(output[1:]) if isinstance(output, tuple) else new

