"""``make bench``: the product's figures measured beside baselines taken in the same run.

``bench/run.py`` orchestrates; each benchmark is a function returning a dataclass; the pure
helpers (percentiles, verdicts, markdown, wrk output) are tested in ``tests/bench``.
"""
