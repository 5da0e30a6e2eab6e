"""Validation of feature backends against exact ground truth (not per-video metrics)."""
