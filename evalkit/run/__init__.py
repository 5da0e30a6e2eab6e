"""Run execution: plan, runner, load stage, results store and its typed rows, artifacts, provenance,
cache keys, Ray."""
