"""CLIP text similarity (MbQ Table 1 "Text", DiTFlow IQ, V-Warper T_CLIP, LMP Align).

Mean over frames of cos(CLIP image embedding of the frame, CLIP text embedding of the
prompt). The prompt: the target prompt (motion transfer), each shot's own prompt
(multi-shot; mean over shots), the generation prompt without the subject token
(personalization, as DreamBooth's CLIP-T). Raw cosine; ``clip-score`` is the CLIPScore
variant. Default ViT-B/32 (DiTFlow's 0.31 is raw B/32 cosine; MbQ reports ×100).

Protocols (how the frames reach CLIP; docs/metrics/fidelity.md):

- ``evalkit`` (default): VBench's ``clip_transform``, so the frame features are the ones
  background consistency and CLIP temporal consistency compute (one CLIP pass per video).
- ``ditflow``: DiTFlow ``eval/clip_score.py``: OpenAI CLIP's ``preprocess`` on
  ``Image.fromarray(frame)`` (PIL bicubic, antialiased, centre crop).
- ``mtbench``: MTBench ``evaluation.py`` ``CLIP_Score`` (Shi-qingyu/DeT @ 2a2f4dd): HF
  ``CLIPProcessor`` (PIL bicubic short side 224, centre crop 224: the ``clip`` preset) and the
  text read back from the output folder name (``prompt_from_dir_name``: underscores → spaces,
  a '.' appended). MTBench reports ``logits_per_image``, logit scale × cosine (100.003 ×
  for the released ViT-B/32); the value stays the cosine and ``details["mtbench_logits"]``
  holds the released number.

``fp16=True`` runs CLIP as ``clip.load`` does on CUDA (fp16, LayerNorm in float32; backend
precision ``openai-fp16``). With ``protocol=ditflow`` the score is then also formed in fp16
as DiTFlow's script forms it on a GPU: each frame's dot product in fp16 and the running sum
over frames in fp16 (``score_acc`` starts as a Python 0.0 and becomes an fp16 tensor), then
divided by the frame count in fp16.
"""
from __future__ import annotations

import numpy as np

from ..cases import Case, Generation
from ..errors import InvalidInputError
from ..features.base import FeatureContext
from ..features.shared import backend, frame_embeddings, text_embeddings
from ..mtbench_layout import case_output_dir, prompt_from_dir_name
from ..registry import METRICS
from .base import DTYPE_CHOICES, DTYPE_DEFAULT, Metric, MetricResult, MetricSpec, per_video_result

PROTOCOLS = {"evalkit": "vbench-clip", "ditflow": "clip", "mtbench": "clip"}  # protocol -> preprocessing preset
PREPROCESS = PROTOCOLS["evalkit"]  # shares frame features with background consistency


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


def fp16_running_mean(frames: np.ndarray, text: np.ndarray) -> float:
    """DiTFlow's ``calculate_clip_score`` on fp16 unit vectors: per frame ``(t * f).sum()`` in
    fp16, summed over frames in fp16, divided by the frame count in fp16."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(text)).half()
    acc = None
    for f in torch.from_numpy(np.ascontiguousarray(frames)).half():
        score = (t * f).sum()
        acc = score if acc is None else acc + score
    return float(acc / len(frames))


@METRICS.register()
class ClipText(Metric):
    spec = MetricSpec(
        name="clip-text", measures="text alignment", higher_is_better=True, value_range=(-1.0, 1.0),
        case_kinds=("motion-transfer", "multi-shot", "personalization"), inputs=("generated", "prompt"),
        reference="Radford et al. 2021; Motion by Queries Table 1 (Text, x100: 28.8); DiTFlow IQ (0.31), "
                  "ditflow/ditflow eval/clip_score.py",
        backends=("clip-vit-b32", "clip-vit-l14"), report_scale=100.0)
    defaults = {**DTYPE_DEFAULT, "protocol": "evalkit", "fp16": False}
    choices = {**DTYPE_CHOICES, "protocol": tuple(PROTOCOLS), "fp16": (False, True)}

    @property
    def backend_options(self) -> dict:
        return {"preprocess": PROTOCOLS[self.options["protocol"]],
                "precision": "openai-fp16" if self.options["fp16"] else "float32"}

    def video_score(self, frames: np.ndarray, text: np.ndarray) -> float:
        if self.options["fp16"] and self.options["protocol"] == "ditflow":
            return fp16_running_mean(frames, text)
        return float(np.mean(frame_text_cosines(frames, text)))

    def prompts(self, case: Case, n_videos: int) -> list[str]:
        if self.options["protocol"] == "mtbench":
            if case.kind != "motion-transfer":
                raise InvalidInputError(f"{case.case_id}: protocol=mtbench scores motion-transfer cases")
            return [prompt_from_dir_name(case_output_dir(case))] * n_videos  # CLIP_Score's text
        return prompts_per_video(case, n_videos)

    def compute(self, case: Case, generation: Generation, ctx: FeatureContext) -> MetricResult:
        prompts = self.prompts(case, len(generation.videos))
        texts = text_embeddings(ctx, self.backend, prompts, self.feature_dtype, **self.backend_options)
        scores = [self.video_score(frame_embeddings(ctx, self.backend, video, self.feature_dtype,
                                                    **self.backend_options), text)
                  for video, text in zip(generation.videos, texts)]
        if self.options["protocol"] != "mtbench":
            return per_video_result(case, scores)
        model = backend(ctx, self.backend, self.feature_dtype, **self.backend_options).model
        scale = float(model.logit_scale.detach().float().exp())
        return per_video_result(case, scores, text=prompts[0], logit_scale=scale,
                                mtbench_logits=scale * float(np.mean(scores)))
