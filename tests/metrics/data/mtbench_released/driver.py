"""Runs the released MTBench motion_fidelity (Shi-qingyu/DeT evaluation.py) on the random tracks
of tests/metrics/mtbench_tracks.py through a stand-in tracker; prints the fixture JSON."""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

sys.path[:0] = [str(Path(__file__).parent / "stubs"), str(Path(__file__).parent), sys.argv[1]]
torch.Tensor.cuda = lambda self, *a, **k: self  # the release moves videos to CUDA; CPU here
from evalkit.compat import ensure_torchvision; ensure_torchvision()
import evaluation  # the released file, copied to this temporary folder
from cotracker import predictor
from cotracker.utils import visualizer

from tests.metrics.mtbench_tracks import CASES, random_tracks

MASK = Path(sys.argv[2])  # a first-frame mask (MTBench dance-twirl 00000.png)
work = Path(__file__).parent / "work"
out = []
for seed, ts, tg, ss, gs, n in CASES:
    source, generated = random_tracks(seed, ts, tg, ss, gs, n)
    shutil.rmtree(work, ignore_errors=True)
    data, gen = work / "data" / "case", work / "gen"
    (data / "videos").mkdir(parents=True); (data / "masks" / "case").mkdir(parents=True)
    (data / "videos" / "case.mp4").touch()
    shutil.copy(MASK, data / "masks" / "case" / "00000.png")
    (data / "eval_prompts.txt").write_text("A robot is dancing.  \n")
    (gen / "A_robot_is_dancing").mkdir(parents=True)
    (gen / "A_robot_is_dancing" / "a.mp4").touch()
    visualizer.SIZES.update({str(data / "videos" / "case.mp4"): (ts, *ss),
                             str(gen / "A_robot_is_dancing" / "a.mp4"): (tg, *gs)})
    row = {"seed": seed}
    for key, hybrid in (("cosine", False), ("hybrid_seed0", True), ("hybrid_seed7", True)):
        predictor.NEXT[:] = [source.copy(), generated.copy()]  # get_tracklets divides them in place
        if hybrid:
            torch.manual_seed(int(key[len("hybrid_seed"):]))
        row[key] = float(evaluation.motion_fidelity(work / "data", gen, None, device="cpu",
                                                    add_frechet_score=hybrid))
    box = predictor.CALLS[-1]["mask"][0, 0].numpy()
    ys, xs = np.nonzero(box)
    row["box"] = [int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())]
    row["grid_size"] = predictor.CALLS[-1]["grid_size"]
    out.append(row)
print(json.dumps(out, indent=1))
