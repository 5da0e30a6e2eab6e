"""Attention control: record / inject / extend Q, K, V per named layer and per denoising step.

- :mod:`.controller`: the per-step context (:class:`AttentionController`) and the
  :class:`Behaviour` contract; each behaviour is one small file (:mod:`.record`,
  :mod:`.inject`, :mod:`.extend`); a new behaviour (value warping, Q flow, ...) is a new file.
- :mod:`.compute`: the processor base class and the attention computation the family
  processors (``evalkit/generators/families/<family>.py``) share.
- :mod:`.install`: :class:`controlled` installs the processors and restores the originals.

Recorded tensors hold only video tokens (CogVideoX's joint attention prepends text tokens: they
are never recorded nor replaced) and are tagged with their layout (``BSHD`` for Wan/LTX,
``BHSD`` for CogVideoX/U-Net) and whether RoPE was applied (Wan, CogVideoX, LTX: after RoPE;
source and target share positions, so replacing post-RoPE Q equals replacing pre-RoPE Q).
"""
from .controller import AttentionCall, AttentionController, Behaviour
from .extend import ExtendKV
from .inject import Inject
from .install import block_filter, controlled, self_attention_layers
from .record import Record
from .store import FeatureStore, Recorded

__all__ = ["AttentionCall", "AttentionController", "Behaviour", "ExtendKV", "FeatureStore", "Inject", "Record",
           "Recorded", "block_filter", "controlled", "self_attention_layers"]
