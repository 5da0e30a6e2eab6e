"""Generators that load no model: reference transforms of the source (``copy``, ``static``,
``reverse``, ...), reference sets (``synthetic-shots``, ``reference-still``) and ``videos``
(a method's submitted outputs, read in the layout of :mod:`evalkit.submissions`)."""
