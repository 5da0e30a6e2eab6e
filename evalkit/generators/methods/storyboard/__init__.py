"""Video Storyboarding (MbQ Sec. 5, App. B) and the multi-shot baselines.

- :mod:`.storyboard`: ``storyboard`` and ``full-q-preservation``; :mod:`.consistory`: ``consistory``;
- :mod:`.q_flow`, :mod:`.refine`: its attention behaviours (Q flow, DIFT-guided refinement);
- :mod:`.dift`, :mod:`.subject_masks`: DIFT features and CLIPSeg + Otsu subject masks on x̂0.
"""
