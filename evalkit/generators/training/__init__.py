"""Trained artifacts of a generator (V-Warper's coarse stage today; any tuning-based method next):

- :mod:`.lora`: a peft LoRA on the denoiser's attention projections (train, save, apply);
- :mod:`.artifact`: where a training run lives (cache key → folder), its lock and its files, so a
  training is cached, resumable and reported like a generation.

The training loops themselves belong to their method (e.g. ``methods/vwarper/coarse_training.py``).
"""
