"""Analyses (``evalkit analyze``): validation of feature backends against exact ground truth and
correspondence analyses of generations (PCK, tracker checks, V-Warper's matching), not per-video metrics."""
