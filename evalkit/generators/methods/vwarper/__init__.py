"""V-Warper: coarse appearance adaptation (LoRA + subject token) then value warping.

- :mod:`.vwarper`: the ``vwarper`` / ``vwarper-coarse`` / ``vwarper-nomask`` generators;
- :mod:`.settings`: :class:`VWarperSettings`, every option resolved once (what the helpers take);
- :mod:`.coarse`, :mod:`.coarse_training`: the coarse stage and its cached, resumable training;
- :mod:`.branches`: the generation and reference branches in one pipeline call;
- :mod:`.inversion`, :mod:`.correspondence`, :mod:`.field`, :mod:`.masks`, :mod:`.prompts`,
  :mod:`.match_recording`: DDIM inversion, matching, warp fields, subject maps, subject prompts,
  and the recording the correspondence analysis reads;
- :mod:`.attention`: its private attention behaviours.
"""
