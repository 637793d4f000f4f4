"""Fixtures for the actions tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from actions_helpers import DOMAIN, PROJECT


@pytest.fixture
def project_root() -> Path:
    return PROJECT


@pytest.fixture
def domain() -> dict[str, Any]:
    return DOMAIN
