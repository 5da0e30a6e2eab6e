"""evalkit: benchmarking harness for identity–motion trade-offs in text-to-video generation."""

__version__ = "0.3.0.dev0"
