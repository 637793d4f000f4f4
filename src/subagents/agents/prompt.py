"""Prompt templates of the ReAct sub agents (Jinja2, compiled once per agent).

Variables available to every template:

``description``            the agent's description (config.yml ``agent.description``)
``conversation_history``   the transcript the caller passed (``AgentInput.conversation_history``)
``user_message``           the latest user message
``slots``                  slot values by name (``{{ slots.time }}``)
``slot_names``             the slots the task agent must fill (prints as ``a, b``)
``agent_name``             the agent's name
``current_datetime``, ``current_date``, ``current_time``   local time at the start of the run

Templates render with Jinja's strict undefined: a misspelt variable fails loudly instead of
rendering as nothing (and is reported at load, see
:func:`subagents.config.checks.template_problem`). A slot without a value still renders
empty: ``slots`` answers every name.
"""

from __future__ import annotations

import datetime as _dt
from functools import cache
from importlib import resources
from typing import Any

import jinja2

from subagents.errors import ConfigError

_ENV = jinja2.Environment(
    autoescape=False, undefined=jinja2.StrictUndefined, keep_trailing_newline=True
)

OPEN_AGENT_TEMPLATE = "open_agent.jinja2"
TASK_AGENT_TEMPLATE = "task_agent.jinja2"


class SlotValues(dict[str, Any]):
    """Slot values by name; a slot that is not set reads as ``""`` (renders empty)."""

    def __missing__(self, key: str) -> Any:
        return ""


class NameList(list[str]):
    """A list of names that renders as ``a, b`` in a template."""

    def __str__(self) -> str:
        return ", ".join(self)


@cache
def default_template(filename: str) -> jinja2.Template:
    """One of the packaged default templates (compiled once per process)."""
    text = resources.files("subagents.agents").joinpath("templates", filename).read_text("utf-8")
    return _ENV.from_string(text)


def compile_template(text: str, *, source: str = "prompt_template") -> jinja2.Template:
    """Compile a user template; a syntax error is a ConfigError naming file and line."""
    try:
        return _ENV.from_string(text)
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(
            f"{source}:{exc.lineno}: Jinja2 syntax error in the prompt template: {exc.message}",
            file=source,
            line=exc.lineno,
            field="configuration.prompt_template",
        ) from None


def render_prompt(template: jinja2.Template, variables: dict[str, Any]) -> str:
    """Render with the standard variables added (current date and time)."""
    now = _dt.datetime.now().astimezone()
    full = {
        "current_datetime": now.isoformat(timespec="seconds"),
        "current_date": now.date().isoformat(),
        "current_time": now.strftime("%H:%M"),
        "slot_names": NameList(),
        "conversation_history": "",
        "user_message": "",
        **variables,
    }
    full["slots"] = SlotValues(full.get("slots") or {})
    return template.render(full)
