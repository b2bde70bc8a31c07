"""Writes of ctDNA monitoring: one function per use case, each in a durable transaction."""
