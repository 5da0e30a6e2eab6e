"""Test support shipped with the package: random-weight models of the real architectures."""
