"""Reference generators for multi-shot and personalization cases: no model, known answers.

``synthetic-shots`` renders one synthetic clip per shot: with ``same_subject`` every shot is
the same clip (multi-shot set consistency 1.0 by construction), otherwise each shot shows a
different subject (the lower reference). ``reference-still`` holds a subject's reference
image still for ``num_frames`` (the identity upper bound for CLIP-I / DINO-I, no motion).
"""
from __future__ import annotations

import cv2
import numpy as np

from evalkit.cases import Generation, StageTimings
from evalkit.errors import InvalidInputError
from evalkit.hashing import stable_hash
from evalkit.registry import GENERATORS
from evalkit.synthetic import SyntheticSpec, render
from evalkit.video import Video

from ..base import Generator


@GENERATORS.register("synthetic-shots")
class SyntheticShots(Generator):
    case_kinds = ("multi-shot",)
    weight_free = True
    defaults = {"same_subject": True, "motion": "translation", "num_frames": 8, "height": 128, "width": 160}

    def generate(self, case, seed):
        o = self.options
        base = int(stable_hash(case.case_id, seed, length=8), 16) % 10_000
        videos = []
        for shot in range(len(case.prompts)):
            spec = SyntheticSpec(o["motion"], seed=base if o["same_subject"] else base + shot,
                                 num_frames=o["num_frames"], height=o["height"], width=o["width"])
            videos.append(render(spec).video)
        return Generation(tuple(videos), StageTimings(), extras={"reference": self.registry_name})


@GENERATORS.register("reference-still")
class ReferenceStill(Generator):
    case_kinds = ("personalization",)
    weight_free = True
    defaults = {"image": 0, "num_frames": 16, "height": 256, "width": 256, "fps": 8.0}

    def generate(self, case, seed):
        o = self.options
        images = case.reference_images.load()
        if not 0 <= o["image"] < len(images):
            raise InvalidInputError(f"{case.case_id}: reference image {o['image']} of {len(images)} requested")
        frame = cv2.resize(images[o["image"]], (o["width"], o["height"]), interpolation=cv2.INTER_AREA)
        frames = np.repeat(frame[None], o["num_frames"], axis=0)
        video = Video(frames, o["fps"], f"{case.case_id}:reference-still")
        return Generation((video,), StageTimings(), extras={"reference": self.registry_name})
