"""Benchmark harness: Shardis against a real redis-server in the same run
(``python -m bench --help``; docs/performance.md)."""
