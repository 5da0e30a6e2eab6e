"""Video Storyboarding (MbQ Sec. 5, App. B) and the multi-shot baselines.

- :mod:`.storyboard`: ``storyboard`` and ``full-q-preservation``; :mod:`.consistory`: ``consistory``;
- :mod:`.run_settings`: per-backbone rows and the resolved ``StoryboardRunSettings``;
- :mod:`.passes`: phase windows, layer sets, frame layout and the three passes of a set;
- :mod:`.q_flow`, :mod:`.q_blend`, :mod:`.refine`: its attention behaviours (Q flow, ConsiStory's
  vanilla-query blend, DIFT-guided refinement);
- :mod:`.dift`, :mod:`.subject_masks`: DIFT features and CLIPSeg + Otsu subject masks on x̂0.
"""
