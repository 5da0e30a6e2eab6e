"""Runs the released MTBench calculate_clip (Shi-qingyu/DeT evaluation.py) with evalkit's tiny
random CLIP ViT-B/32 on rendered clips; prints fixture JSON. argv: evalkit checkout, the model
snapshot (saved by evalkit.testing.random_models.install_random_models). Run it under
transformers 4.x (the release passes CLIPProcessor (text, images) positionally, 4.x's order)."""
import json
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent / "stubs"), str(Path(__file__).parent), sys.argv[1]]
from evalkit.compat import ensure_torchvision; ensure_torchvision()
import decord
import evaluation  # the released file, copied to this temporary folder
import torch
import transformers
from transformers import CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizerFast

from tests.metrics.mtbench_clips import CLIPS, PROMPT_DIR, clip_frames

snap = sys.argv[2]
model = CLIPModel.from_pretrained(snap).eval()
# CLIPImageProcessor's defaults are openai/clip-vit-base-patch32's preprocessor_config.json
processor = CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=CLIPTokenizerFast.from_pretrained(snap))
prompt = PROMPT_DIR.replace("_", " ") + "."  # what CLIP_Score scores a folder's videos against
out = []
with torch.no_grad():
    for spec in CLIPS:
        decord.FRAMES[spec["name"]] = clip_frames(spec)
        logits = evaluation.calculate_clip(model, processor, prompt, spec["name"])
        out.append({"name": spec["name"], "mtbench_logits": logits.mean().item(),
                    "logit_scale": model.logit_scale.exp().item(), "transformers": transformers.__version__})
print(json.dumps(out, indent=1))
