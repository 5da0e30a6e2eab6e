"""A method package written the way a new method is added (a test-only plugin).

``example-scaled-queries`` runs a backbone with the video queries of chosen self-attention layers
scaled by a factor during the first steps: one typed settings object, one private attention
behaviour, the families it runs on, and nothing but the backbone layer's public API
(:mod:`evalkit.generators`): no shared module is touched to add it.
"""
from .method import ScaledQueries

__all__ = ["ScaledQueries"]
