"""Motion by Queries (MbQ) and its feature-injection relatives.

- :mod:`.mbq`: the resolved ``InjectionSettings``, its helpers, ``FeatureInjection`` (record on the
  source, inject into the target) and ``mbq``;
- :mod:`.recordings`: the process-wide recording cache (``clear_recordings``);
- :mod:`.kv_injection`: ``kv-injection``, DiTFlow's "Injection" baseline (K, V instead of Q);
- :mod:`.extended`: ``mbq-extended`` (MbQ Fig. 3: Q injection into a batch sharing extended attention).
"""
