"""The Toolset seam: an abstract base with declared capabilities, forwarding wrappers."""

from __future__ import annotations

import pytest

from subagents.errors import UnknownToolError
from subagents.testing import RecordingToolset
from subagents.tools.base import FilteredToolset, ForwardingToolset, Toolset, ToolSpec
from subagents.tools.builtin import TaskCompletedToolset
from subagents.tools.custom import CustomToolset
from subagents.tools.redacting import RedactingToolset


def test_a_toolset_must_implement_listing_and_calling() -> None:
    class Half(Toolset):
        async def list_tools(self) -> list[ToolSpec]:
            return []

    with pytest.raises(TypeError, match="call_tool"):
        Half()  # type: ignore[abstract]


def test_capabilities_have_declared_defaults() -> None:
    custom = CustomToolset([])
    assert custom.tools_version is None and custom.validates_arguments is False
    assert TaskCompletedToolset().validates_arguments is True


async def test_wrappers_pass_everything_through_by_default() -> None:
    inner = RecordingToolset("srv").add("a", "A").add("secret", "token=s3cr3t")
    stacked = FilteredToolset(RedactingToolset(inner, ["s3cr3t"]), exclude=["b"])
    assert stacked.tools_version == inner.tools_version == 2
    inner.add("b", "B")
    assert stacked.tools_version == 3  # a change of the inner list is seen through both
    assert [t.name for t in await stacked.list_tools()] == ["a", "secret"]
    assert (await stacked.call_tool("secret", {})).text == "token=***"
    with pytest.raises(UnknownToolError):
        await stacked.call_tool("b", {})
    assert inner.calls == [("secret", {})]  # the filtered call never reached the server
    control = RedactingToolset(TaskCompletedToolset(), ["x"])
    assert control.validates_arguments is True

    class Renaming(ForwardingToolset):
        """A future wrapper overrides only what it changes."""

        async def list_tools(self) -> list[ToolSpec]:
            return [
                ToolSpec(f"x_{t.name}", t.description, t.input_schema)
                for t in await self.inner.list_tools()
            ]

    renaming = Renaming(inner)
    assert renaming.tools_version == 3
    assert (await renaming.call_tool("a", {})).text == "A"
