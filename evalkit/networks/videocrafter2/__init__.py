"""VideoCrafter2 (github.com/AILab-CVC/VideoCrafter, ``configs/inference_t2v_512_v2.0.yaml``) and
T2V-Turbo-v2 (github.com/Ji4chenLi/t2v-turbo), ported here: the lvdm U-Net with the official
parameter names (:mod:`.unet`, :mod:`.attention`), the official key list (:mod:`.keys`), checkpoint
reading and mapping (:mod:`.checkpoint`), the samplers (:mod:`.sampler`) and diffusers-style
pipelines (:mod:`.pipeline`). See docs/generators.md, "VideoCrafter2, T2V-Turbo-v2, AnimateDiff".
"""
