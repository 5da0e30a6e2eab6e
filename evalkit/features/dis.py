"""Weight-free dense flow: OpenCV DIS (dense inverse search), for machines without RAFT weights.
Its magnitudes are not RAFT's: a report must name the backend that produced them."""
from __future__ import annotations

import cv2
import numpy as np

from ..registry import FEATURES
from ..video import Video
from .tracking import FlowBackend

_PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
            "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
            "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


@FEATURES.register("dis")
class DISFlow(FlowBackend):
    defaults = {"preset": "medium"}
    choices = {"preset": tuple(_PRESETS)}
    weights_id = None

    def flow(self, video: Video, frames=None) -> np.ndarray:  # a CPU algorithm: reads video.frames
        dis = cv2.DISOpticalFlow.create(_PRESETS[self.options["preset"]])
        gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in video.frames]
        out = np.empty((video.num_frames - 1, video.height, video.width, 2), np.float32)
        for t in range(video.num_frames - 1):
            # the stubs require an initial flow; OpenCV takes None (no initial guess)
            out[t] = dis.calc(gray[t], gray[t + 1], None)  # type: ignore[call-overload]
        return out
