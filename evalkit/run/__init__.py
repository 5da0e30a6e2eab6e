"""Run execution: plan, runner, results store, artifacts, provenance, cache keys, Ray."""
