"""Generators: everything that turns a case into videos.

This package is the backbone layer every method builds on; methods live in their own packages.

- :mod:`.base`: the contract (``load()``, ``generate(case, seed) -> Generation``);
- :mod:`.diffusers_t2v`: ``DiffusersT2V``, the base of every diffusers generator, and ``vanilla``;
- :mod:`.backbones`, :mod:`.loading`: the table of checkpoints and their offline-first loading;
- :mod:`.families`: one class per kind of denoiser (Wan, CogVideoX, LTX, U-Nets); methods ask it;
- :mod:`.attention`: the shared attention control (controller, record / inject / extend, SDSA);
- :mod:`.settings`: per-backbone paper settings and the "backbone's default" sentinel;
- :mod:`.x0`, :mod:`.peak_memory`, :mod:`.training`: x̂0 of a step, peak memory, trained artifacts;
- :mod:`.methods`: one package per method family (``mbq``, ``storyboard``, ``guidance``, ``lmp``,
  ``vwarper``), each with its private attention behaviours;
- :mod:`.weight_free`: generators that load no model (reference transforms, submitted videos).
"""
