from .allocations import Allocation, Crossover
from .designs import (
    TWO_POW_53,
    Design,
    DesignSource,
    DesignStatus,
    ListEntry,
    Method,
    MinimizationDraw,
    StratumCursor,
)

__all__ = [
    "TWO_POW_53",
    "Allocation",
    "Crossover",
    "Design",
    "DesignSource",
    "DesignStatus",
    "ListEntry",
    "Method",
    "MinimizationDraw",
    "StratumCursor",
]
