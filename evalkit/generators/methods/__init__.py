"""Methods: one package per method family, each registering its generators.

A method package holds its generator classes, its typed settings, its private attention
behaviours and helpers; it imports the backbone layer (:mod:`evalkit.generators`) and never
another method package. See ``docs/generators/<method>.md`` for each.
"""
