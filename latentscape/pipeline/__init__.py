"""Shard plans, dataset roots (create / resume / refuse), executors."""
