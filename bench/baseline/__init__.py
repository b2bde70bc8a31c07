"""The stack's ceiling: a bare DRF endpoint inserting one audited row, for ``make bench``."""

BASELINE_PATH = "/bench/baseline/"
