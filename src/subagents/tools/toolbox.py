"""The merged tools of one agent: MCP toolsets, custom tools and built-ins.

A :class:`Toolbox` lists every toolset once, maps names to what the model may see, compiles
one argument validator per tool and serialises the ``tools`` request parameter once
(:class:`~subagents.llm.base.ToolPayload`). It is rebuilt only when a toolset's list
changed: toolsets that keep a ``tools_version`` (the MCP layer bumps it on
``tools/list_changed``) are checked by that number on every step; others (``None``) are
re-listed at most once per run and compared.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jsonschema.protocols import Validator

from subagents.errors import ConfigError
from subagents.llm.base import ToolPayload
from subagents.tools.base import ToolKind, Toolset, ToolSpec
from subagents.tools.schema import SAFE_NAME, ToolNameMapper, compile_validator, schema_for_model

logger = logging.getLogger("subagents.tools.toolbox")


@dataclass(frozen=True)
class BoundTool:
    """A tool as the loop uses it: the model's name, the spec, where to call it."""

    model_name: str
    spec: ToolSpec
    toolset: Toolset
    validator: Validator | None
    """``None`` when the toolset validates its own arguments (built-ins)."""

    @property
    def control(self) -> bool:
        """Built-in tools that steer the run (``task_completed``, ``set_slot_*``)."""
        return self.spec.kind is ToolKind.CONTROL


def tool_definition(model_name: str, spec: ToolSpec) -> dict[str, Any]:
    """The OpenAI ``tools`` entry for one tool (strict ones keep their schema as is)."""
    parameters = dict(spec.input_schema) if spec.strict else schema_for_model(spec.input_schema)
    return {
        "type": "function",
        "function": {
            "name": model_name,
            "description": spec.description,
            "parameters": parameters,
            "strict": spec.strict,
        },
    }


def _duplicate_message(config_file: str, name: str, first: str, second: str) -> str:
    where = f"{config_file}: tool '{name}' is offered by both '{first}' and '{second}'"
    if {first, second} & {"builtin", "custom"}:
        return (
            f"{where}; built-in (task_completed, set_slot_*) and custom tool names must be "
            "unique: rename the custom tool or exclude the MCP tool (exclude_tools)"
        )
    return f"{where}; exclude it from one of them (exclude_tools under connections.mcp_servers)"


class Toolbox:
    """Every tool offered to one agent (see module docstring)."""

    def __init__(self, toolsets: Sequence[Toolset], *, agent: str, config_file: str = "") -> None:
        self.agent = agent
        self.config_file = config_file or f"sub_agents/{agent}/config.yml"
        self._toolsets = list(toolsets)
        self._listed: list[list[ToolSpec] | None] = [None] * len(self._toolsets)
        self._versions: list[int | None] = [None] * len(self._toolsets)
        self._by_model_name: dict[str, BoundTool] = {}
        self._validators: dict[tuple[int, str], tuple[ToolSpec, Validator | None]] = {}
        self.payload = ToolPayload([])
        self.built = False

    # ------------------------------------------------------------------ lookup

    def lookup(self, model_name: str) -> BoundTool | None:
        """The tool the model called by ``model_name``; ``None`` if not offered."""
        return self._by_model_name.get(model_name)

    @property
    def model_names(self) -> list[str]:
        return list(self._by_model_name)

    @property
    def tools(self) -> list[BoundTool]:
        return list(self._by_model_name.values())

    # ------------------------------------------------------------------ (re)building

    async def build(self) -> None:
        """List every toolset and build the payload; duplicate names are a ConfigError."""
        for index, toolset in enumerate(self._toolsets):
            self._versions[index] = toolset.tools_version
            self._listed[index] = await toolset.list_tools()
        self._rebuild(strict=True)

    async def refresh(self, *, relist: bool = False) -> bool:
        """Rebuild if a toolset's tools changed; ``relist`` also re-lists unversioned ones.

        Returns True when the payload was rebuilt.
        """
        changed = False
        for index, toolset in enumerate(self._toolsets):
            version = toolset.tools_version
            if version is not None:
                if version == self._versions[index]:
                    continue
            elif not relist:
                continue
            tools = await toolset.list_tools()
            self._versions[index] = version
            if tools != self._listed[index]:
                self._listed[index] = tools
                changed = True
        if changed:
            self._rebuild(strict=False)
            logger.info("agent.tools.refreshed", extra={"agent": self.agent})
        return changed

    def _rebuild(self, *, strict: bool) -> None:
        owners: dict[str, str] = {}
        entries: list[tuple[int, ToolSpec]] = []
        for index, tools in enumerate(self._listed):
            for spec in tools or []:
                source = spec.origin or f"toolset {index}"
                if spec.name in owners:
                    message = _duplicate_message(
                        self.config_file, spec.name, owners[spec.name], source
                    )
                    if strict:
                        raise ConfigError(message, file=self.config_file, field="connections")
                    logger.error("agent.tools.duplicate", extra={"agent": self.agent})
                    continue
                owners[spec.name] = source
                entries.append((index, spec))
        mapper = ToolNameMapper()
        # Valid names first so that a mapped name never takes a valid one's place.
        for _, spec in entries:
            if SAFE_NAME.match(spec.name):
                mapper.add(spec.name)
        bound: dict[str, BoundTool] = {}
        definitions: list[dict[str, Any]] = []
        validators: dict[tuple[int, str], tuple[ToolSpec, Validator | None]] = {}
        for index, spec in entries:
            model_name = mapper.add(spec.name)
            validator = self._validator(index, spec)
            validators[(index, spec.name)] = (spec, validator)
            toolset = self._toolsets[index]
            bound[model_name] = BoundTool(
                model_name=model_name,
                spec=spec,
                toolset=toolset,
                validator=validator,
            )
            definitions.append(tool_definition(model_name, spec))
        self._validators = validators
        self._by_model_name = bound
        self.payload = ToolPayload(definitions)
        self.built = True

    def _validator(self, index: int, spec: ToolSpec) -> Validator | None:
        if self._toolsets[index].validates_arguments:
            return None
        cached = self._validators.get((index, spec.name))
        if cached is not None and cached[0] == spec:
            return cached[1]
        return compile_validator(spec.input_schema, spec.name)
