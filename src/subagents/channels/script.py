"""Conversation scripts: a scripted-model scenario with the user's turns written in.

A script is the scripted model's scenario file (see :mod:`subagents.llm.scenario`) whose list
may also hold ``user:`` items. They are the user's messages, in order; every other item is
one model reply, replayed in order by the scripted model::

    scenario:
      - user: "/book_appointment"        # the user's first message
      - text: "What is your name?"       # the agent's first model reply
      - user: "Ann"
      - tool_calls: [{name: set_slot_name, arguments: {slot_value: Ann}}]

``subagents shell --scripted FILE`` plays the user turns (non-interactive) and
``subagents run --scripted FILE`` ignores them and serves the model replies. A keyed
scenario (a mapping of named scripts) can carry its user turns in a top-level ``user:``
list instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from subagents.errors import ConfigError, SubagentsError
from subagents.llm.scenario import check_file_keys, parse_scenario, parse_step, yaml_problem


class ScriptError(SubagentsError):
    """A conversation script cannot be read; the message names the file and the fix."""


@dataclass
class ConversationScript:
    """User turns and model replies read from one scenario file."""

    path: Path
    user_turns: list[str] = field(default_factory=list)
    model_steps: list[dict[str, Any]] | dict[str, Any] = field(default_factory=list)
    model_step_items: list[int] = field(default_factory=list)
    """For a list scenario: the file position (``scenario[i]``) of each model step."""

    def step_label(self, script: str, index: int) -> str:
        """Where model step ``index`` of ``script`` is in the file, e.g. ``scenario[3]``."""
        if isinstance(self.model_steps, dict):
            value = self.model_steps.get(script)
            if isinstance(value, list):
                return f"scenario.{script}[{index}]"
            return f"scenario.{script}.steps[{index}]"
        if 0 <= index < len(self.model_step_items):
            return f"scenario[{self.model_step_items[index]}]"
        return f"model reply #{index + 1}"


def load_conversation_script(path: str | Path) -> ConversationScript:
    """Read ``path`` (YAML); raise :class:`ScriptError` naming the file and field."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScriptError(f"{file}: cannot read scenario file ({exc.strerror})") from None
    try:
        data = YAML(typ="safe").load(text)
    except YAMLError as exc:
        line, what = yaml_problem(exc)
        raise ScriptError(f"{file}{f':{line}' if line else ''}: not valid YAML: {what}") from None
    if isinstance(data, dict):  # names an unknown top-level key (steps: for scenario:)
        _check(check_file_keys, data, source=str(file))
    if isinstance(data, dict) and "scenario" in data:
        steps = data["scenario"]
        extra_turns = data.get("user", [])
    elif isinstance(data, list):
        steps, extra_turns = data, []
    else:
        raise ScriptError(
            f"{file}: expected a top-level 'scenario:' list of model replies and user turns"
        )
    script = ConversationScript(path=file)
    script.user_turns.extend(_user_turns(file, extra_turns))
    if isinstance(steps, dict):
        _check(parse_scenario, steps, source=str(file))
        script.model_steps = steps
        return script
    if not isinstance(steps, list):
        raise ScriptError(f"{file}: field 'scenario' must be a list of steps")
    model: list[dict[str, Any]] = []
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            raise ScriptError(
                f"{file}: scenario[{index}] must be a mapping such as {{text: ...}} "
                "or {user: ...}"
            )
        if "user" in step:
            script.user_turns.extend(_user_turns(file, [step["user"]], index))
        else:
            # Checked here so an error names the file and the step's own index.
            _check(parse_step, step, source=str(file), where=f"scenario[{index}]")
            model.append(step)
            script.model_step_items.append(index)
    script.model_steps = model
    return script


def _check(parse: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run a scenario check; its ConfigError becomes a ScriptError (same text)."""
    try:
        parse(*args, **kwargs)
    except ConfigError as exc:
        # Only an unknown key of a step in the list form may be a mistyped user turn.
        step = kwargs.get("where") is not None and exc.problem.field == kwargs.get("where")
        hint = " (a user turn is written {user: ...})" if step and "unknown key" in str(exc) else ""
        raise ScriptError(f"{exc}{hint}") from None


def _user_turns(file: Path, turns: Any, index: int | None = None) -> list[str]:
    where = f"scenario[{index}].user" if index is not None else "user"
    if not isinstance(turns, list):
        raise ScriptError(f"{file}: field '{where}' must be a list of strings")
    out: list[str] = []
    for turn in turns:
        if isinstance(turn, bool) or not isinstance(turn, (str, int, float)):
            raise ScriptError(f"{file}: field '{where}' must be a string (the user's text)")
        out.append(str(turn))
    return out
