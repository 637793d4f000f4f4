"""The package version (keep in step with `version` in pyproject.toml)."""

from __future__ import annotations

__version__ = "0.1.0"
