"""Reproducible performance runs for subagents (``python -m benchmarks.run``).

Figures are ratios to a floor measured in the same run, never timed assertions.
"""
