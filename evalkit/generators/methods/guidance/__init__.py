"""The guidance engine of optimisation-based motion transfer (DiTFlow, SMM, MOFT, MotionClone, DMT).

One idea per module:

- :mod:`.schedule`: guided steps, learning-rate schedule, loss-weight ramps;
- :mod:`.features`: module-output hooks, truncated forwards, DiT token grids;
- :mod:`.passes`: one controlled forward pass returning features (attention Q/K/V via the
  attention-control layer's ``Capture`` behaviour, module outputs), noised inputs;
- :mod:`.amf`: DiTFlow's Attention Motion Flow and its loss;
- :mod:`.positional`: the positional embedding ρ as an optimisation variable (the family hooks it);
- :mod:`.optimise`: Adam descent, loss gradients, gradient checkpointing;
- :mod:`.sampler`: guidance inside the pipeline's denoising loop, DiTFlow's per-step KV injection;
- :mod:`.settings`: ``GuidanceSettings`` (the options resolved once, at construction; each method
  subclasses it) and the per-backbone paper settings (``paper_table``);
- :mod:`.base`: ``GuidedTransfer``, the generator base every method file subclasses.
"""
