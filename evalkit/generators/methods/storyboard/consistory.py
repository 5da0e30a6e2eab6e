"""ConsiStory-style extended attention for video, without Q intervention (MbQ Fig. 7 "No Q
Intervention", Sec. 5.1): the video form of ConsiStory's subject-driven self-attention.

Framewise SDSA with two anchor shots and CLIPSeg-on-x̂0 + Otsu masks, and refinement feature
injection, exactly as in Video Storyboarding (:mod:`evalkit.generators.methods.storyboard.storyboard`), but the
shots' Q is never replaced: no vanilla pass, no Q preservation, no Q flow. The paper's finding
is that identity is kept while motion degrades (synchronised, less varied). ConsiStory's own
image settings (mask dropout 0.5, SDSA on all frames, conditional-pass feature injection) are
options: ``sdsa_dropout=0.5``, ``sdsa_frames=all``, ``refine_passes=cond`` (the "ConsiS" row of
App. B.7, Fig. 12).
"""
from __future__ import annotations

from typing import Any, ClassVar

from evalkit.registry import GENERATORS

from .storyboard import Storyboard


@GENERATORS.register("consistory")
class ConsiStoryVideo(Storyboard):
    defaults: ClassVar[dict[str, Any]] = {**Storyboard.defaults, "q_mode": "none"}
