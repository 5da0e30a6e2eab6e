"""LMP: Latent Motion Priors for training-free motion transfer on CogVideoX.

- :mod:`.lmp`: ``lmp`` and the Table 2 ablations (``lmp-no-fbdm``, ``lmp-no-asm``);
- :mod:`.settings`: ``LMPSettings``, the options resolved once at construction;
- :mod:`.reference`: the reference row noised to each step (Eq. 10);
- :mod:`.asm`, :mod:`.masks`, :mod:`.text_attention`: appearance suppression, subject masks and
  the text-attention maps they read; :mod:`.kv_concat`: its attention behaviour.
"""
