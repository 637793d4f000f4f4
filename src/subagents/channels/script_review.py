"""Checks of a scripted run (``--scripted``) against what the assistant really asked.

A scripted scenario is easy to get subtly wrong: a tool name with a typo, a flow that is
not offered, replies left over because the conversation took another path. The
framework must cope with such model output anyway (it is fed back to the model as an
error), so the run goes on; these checks only tell the author, naming the scenario step:

* :func:`review_reply`: a scripted tool call names a tool the request did not offer, or
  gives an argument outside the ``enum`` the tool's schema offered (``start_flow``'s
  ``flow``, a categorical slot's value);
* :func:`unused_replies`: scripted replies never asked for.

Both only read the scripted model's records (``requests`` / ``answered``): cheap, and no
change to what the model answers.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from subagents.channels.script import ConversationScript

if TYPE_CHECKING:
    from subagents.llm.scenario import ScriptedToolCall
    from subagents.llm.scripted import ScriptPlayer


def watch_replies(
    script: ConversationScript, model: ScriptPlayer, report: Callable[[str], None]
) -> None:
    """Call ``report(problem)`` for each problem of a scripted reply, as it is served."""

    def check(index: int) -> None:
        for problem in review_reply(script, model, index):
            report(problem)

    model.on_request = check


def review_reply(script: ConversationScript, model: ScriptPlayer, index: int) -> list[str]:
    """Problems of the scripted reply to request ``index``, each naming the step."""
    answered = model.answered[index]
    step = model.answered_step(index)
    if answered is None or step is None or not step.tool_calls:
        return []
    where = f"{script.path}: {script.step_label(*answered)}"
    offered = _offered_tools(model.requests[index])
    problems: list[str] = []
    for call in step.tool_calls:
        if call.name in offered:
            problems.extend(_enum_problems(where, call, offered[call.name]))
            continue
        names = ", ".join(offered) or "none"
        problems.append(
            f"{where}: scripted tool call '{call.name}' names a tool this request did not "
            f"offer (offered: {names}){_did_you_mean(call.name, list(offered))}"
        )
    return problems


def unused_replies(script: ConversationScript, model: ScriptPlayer) -> tuple[int, str]:
    """``(count, first unused step of each script)`` of the replies never asked for."""
    count, firsts = 0, []
    for scripted in model.scripts:
        if scripted.remaining:
            count += scripted.remaining
            firsts.append(script.step_label(scripted.name, scripted.served))
    return count, ", ".join(firsts)


def _offered_tools(request: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Tool name → its JSON-schema ``parameters``, for the tools a request offered."""
    tools: dict[str, Mapping[str, Any]] = {}
    for tool in request.get("tools") or []:
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            parameters = function.get("parameters")
            tools[function["name"]] = parameters if isinstance(parameters, Mapping) else {}
    return tools


def _enum_problems(where: str, call: ScriptedToolCall, schema: Mapping[str, Any]) -> list[str]:
    try:
        arguments = json.loads(call.arguments)
    except ValueError:
        return []  # raw text on purpose: a test of malformed model output
    properties = schema.get("properties")
    if not isinstance(arguments, dict) or not isinstance(properties, Mapping):
        return []
    problems = []
    for name, value in arguments.items():
        prop = properties.get(name)
        allowed = prop.get("enum") if isinstance(prop, Mapping) else None
        if isinstance(allowed, list) and value not in allowed:
            choices = [str(a) for a in allowed]
            problems.append(
                f"{where}: scripted tool call '{call.name}' gives {name}={value!r}, which is "
                f"not among the values offered ({', '.join(choices)})"
                f"{_did_you_mean(str(value), choices)}"
            )
    return problems


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""
