"""Benchmarks: the library against hand-written SQL on the raw driver.

Run `make bench` (or `python -m bench --help`). Every workload runs through
mastra-storage and through a raw baseline (plain `sqlite3` / plain `psycopg`)
doing the same work on the same tables, in the same run; the growth part times
the per-turn reads on threads of 1k, 100k and 1M messages.
"""
