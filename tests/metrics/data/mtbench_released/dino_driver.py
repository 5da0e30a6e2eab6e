"""Runs the released MTBench calculate_dino (Shi-qingyu/DeT evaluation.py) with evalkit's tiny
random DINO ViT-B/16 on rendered clips; prints fixture JSON. argv: evalkit checkout, the model
snapshot (saved by evalkit.testing.random_models.install_random_models: it holds pooler weights).
Run it under transformers 4.x, whose ViTImageProcessor resizes with PIL (the release's >=4.40)."""
import json
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent / "stubs"), str(Path(__file__).parent), sys.argv[1]]
from evalkit.compat import ensure_torchvision; ensure_torchvision()
import decord
import evaluation  # the released file, copied to this temporary folder
import torch
import transformers
from transformers import ViTImageProcessor, ViTModel

from tests.metrics.mtbench_clips import CLIPS, clip_frames

model = ViTModel.from_pretrained(sys.argv[2]).eval()
processor = ViTImageProcessor()  # the snapshot has no preprocessor_config.json: the class defaults
out = []
with torch.no_grad():
    for spec in CLIPS:
        decord.FRAMES[spec["name"]] = clip_frames(spec)
        out.append({"name": spec["name"], "tc": evaluation.calculate_dino(model, processor, spec["name"]).item(),
                    "transformers": transformers.__version__})
print(json.dumps(out, indent=1))
