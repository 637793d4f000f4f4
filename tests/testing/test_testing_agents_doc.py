"""docs/testing-agents.md is true: its examples are executed and their tests run here.

They unit-test agents the way a user would: an agent subclass with a custom tool, the
in-process ``RecordingToolset`` and ``ScriptedLLM``, no port and no server.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "testing-agents.md"
FENCE = re.compile(r"^```python\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)

TestFunction = Callable[[], Coroutine[Any, Any, None]]


def _doc_tests() -> dict[str, TestFunction]:
    tests: dict[str, TestFunction] = {}
    for index, match in enumerate(FENCE.finditer(PAGE.read_text(encoding="utf-8"))):
        namespace: dict[str, Any] = {"__name__": f"testing_agents_doc_{index}"}
        exec(compile(match.group(1), f"{PAGE}:block {index}", "exec"), namespace)
        tests.update({k: v for k, v in namespace.items() if k.startswith("test_")})
    return tests


DOC_TESTS = _doc_tests()


def test_the_page_has_examples_to_run() -> None:
    assert len(DOC_TESTS) >= 3


@pytest.mark.parametrize("name", sorted(DOC_TESTS))
async def test_doc_example(name: str) -> None:
    await DOC_TESTS[name]()
