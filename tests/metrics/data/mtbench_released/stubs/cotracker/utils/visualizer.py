import numpy as np

SIZES = {}
def read_video_from_path(path):
    t, h, w = SIZES[str(path)]
    return np.zeros((t, h, w, 3), np.uint8)
