"""V-Warper's coarse appearance adaptation (Sec. 4.1, App. A): LoRA + a learnable subject token
trained on a subject's reference images, as a cached, resumable artifact.

- :mod:`.lora`: the peft LoRA on the denoiser's attention projections (train, save, apply);
- :mod:`.artifact`: where a training run lives (cache key → folder), its lock and its files;
- :mod:`.coarse`: the training loop (checkpoints that survive a kill, progress bar, loss curve).
"""
