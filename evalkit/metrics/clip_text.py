"""CLIP text similarity (MbQ Table 1 "Text", DiTFlow IQ, V-Warper T_CLIP, LMP Align).

Mean over frames of cos(CLIP image embedding of the frame, CLIP text embedding of the
prompt). The prompt: the target prompt (motion transfer), each shot's own prompt
(multi-shot; mean over shots), the generation prompt without the subject token
(personalization, as DreamBooth's CLIP-T). Raw cosine; ``clip-score`` is the CLIPScore
variant. Default ViT-B/32 (DiTFlow's 0.31 is raw B/32 cosine; MbQ reports ×100).
"""
from __future__ import annotations

import numpy as np

from ..cases import Case, Generation
from ..errors import InvalidInputError
from ..features.base import FeatureContext
from ..features.shared import frame_embeddings, text_embeddings
from ..registry import METRICS
from .base import Metric, MetricResult, MetricSpec, per_video_result

PREPROCESS = "vbench-clip"  # shares frame features with background consistency


def prompts_per_video(case: Case, n_videos: int) -> list[str]:
    if case.kind == "motion-transfer":
        prompts = [case.target_prompt] * n_videos
    elif case.kind == "multi-shot":
        if len(case.prompts) != n_videos:
            raise InvalidInputError(f"{case.case_id}: {len(case.prompts)} prompts for {n_videos} shots")
        prompts = list(case.prompts)
    else:  # personalization: "a sks dog ..." -> "a dog ..."
        prompts = [" ".join(w for w in case.prompt.split() if w != case.subject_token)] * n_videos
    if not all(p.strip() for p in prompts):
        raise InvalidInputError(f"{case.case_id}: empty prompt")
    return prompts


def frame_text_cosines(frames: np.ndarray, text: np.ndarray) -> np.ndarray:
    return frames @ text


@METRICS.register()
class ClipText(Metric):
    spec = MetricSpec(
        name="clip-text", measures="text alignment", higher_is_better=True, value_range=(-1.0, 1.0),
        case_kinds=("motion-transfer", "multi-shot", "personalization"), inputs=("generated", "prompt"),
        reference="Radford et al. 2021; Motion by Queries Table 1 (Text, x100: 28.8); DiTFlow IQ (0.31)",
        backends=("clip-vit-b32", "clip-vit-l14"), report_scale=100.0)

    def per_frame(self, cosines: np.ndarray) -> np.ndarray:
        return cosines

    def compute(self, case: Case, generation: Generation, ctx: FeatureContext) -> MetricResult:
        prompts = prompts_per_video(case, len(generation.videos))
        texts = text_embeddings(ctx, self.backend, prompts, preprocess=PREPROCESS)
        scores = []
        for video, text in zip(generation.videos, texts):
            frames = frame_embeddings(ctx, self.backend, video, preprocess=PREPROCESS)
            scores.append(float(np.mean(self.per_frame(frame_text_cosines(frames, text)))))
        return per_video_result(case, scores)
