"""Prompt templates of the ReAct sub agents (Jinja2, compiled once per agent).

Variables available to every template:

``description``            the agent's description (config.yml ``agent.description``)
``conversation_history``   the transcript the caller passed (``AgentInput.conversation_history``)
``user_message``           the latest user message
``slots``                  slot values by name (``{{ slots.time }}``)
``slot_names``             the slots the task agent must fill (prints as ``a, b``)
``agent_name``             the agent's name
``current_datetime``, ``current_date``, ``current_time``   local time at the start of the run
"""

from __future__ import annotations

import datetime as _dt
from functools import cache
from importlib import resources
from typing import Any

import jinja2

from subagents.errors import ConfigError

_ENV = jinja2.Environment(autoescape=False, undefined=jinja2.Undefined, keep_trailing_newline=True)

OPEN_AGENT_TEMPLATE = "open_agent.jinja2"
TASK_AGENT_TEMPLATE = "task_agent.jinja2"


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
        **variables,
    }
    return template.render(full)
