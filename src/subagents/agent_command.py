"""``subagents agent``: run one sub agent from the command line, online or offline.

::

    subagents agent --project . --agent weather_helper \\
        --scenario scenarios/weather_helper.yml "What's the weather in Paris?"

    subagents agent --agent appointment_booker \\
        --exit-if "slots.appointment_date is not null" \\
        --exit-if "slots.appointment_time is not null" \\
        --scenario scenarios/appointment_booker.yml "I need a haircut" "Tuesday 10:30"

Each message is one run; the agent keeps its transcript between them (``input_required``).
With ``--scenario`` (or ``--scripted``) every model group is the in-process scripted model
(no API key, no network); without it the models in endpoints.yml are used.
``--slot name=value`` presets slots (values parsed as JSON when possible).
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from subagents.agents.schemas import AgentInput, AgentInputSlot, AgentOutput, AgentStatus


@dataclass
class AgentRun:
    """The options of one ``subagents agent`` invocation."""

    messages: list[str]
    agent: str
    project: str = "."
    scenario: str | None = None
    exit_if: list[str] = field(default_factory=list)
    slot: list[str] = field(default_factory=list)
    stream: bool = False
    json: bool = False


def _slots(pairs: list[str], project: Any) -> dict[str, Any]:
    from subagents.errors import ConfigError

    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise ConfigError(
                f"--slot expects name=value (e.g. --slot city=Paris), got '{pair}'",
                field="--slot",
            )
        try:
            values[name] = json.loads(raw)
        except ValueError:
            values[name] = raw
    for name, slot in project.domain.slots.items():
        values.setdefault(name, slot.initial_value)
    return values


def _print(output: AgentOutput, as_json: bool, streamed: bool) -> None:
    if as_json:
        print(output.model_dump_json(indent=2))
        return
    for result in output.structured_results:
        flag = "error" if result["is_error"] else "ok"
        arguments = json.dumps(result["arguments"], ensure_ascii=False)
        print(f"  [tool {flag}] {result['name']}({arguments}) -> {result['result'][:200]}")
    for event in output.events:
        if event.get("event") == "slot":
            value = json.dumps(event["value"], ensure_ascii=False)
            print(f"  [slot] {event['name']} = {value}")
        elif event.get("event") == "tool_progress":
            print(f"  [progress] {event['name']}: {event['text']}")
    if output.response_message and not streamed:
        print(f"agent: {output.response_message}")
    if output.error_message:
        print(f"error: {output.error_message}")
    print(f"  ({output.status.value}, {output.metadata.get('iterations', 0)} LLM calls)")


async def _main(args: AgentRun) -> int:
    from subagents.agents.loader import load_agents
    from subagents.config.loader import load_project
    from subagents.llm.scripted import ScriptPlayer, scripted_clients

    project = load_project(Path(args.project))
    player = ScriptPlayer(Path(args.scenario)) if args.scenario else None
    # A run that finds no reply left fails (and says so), as a test would.
    factory = scripted_clients(player, exhausted="raise") if player is not None else None
    status = 0
    async with load_agents(project, llm_factory=factory) as registry:
        agent = registry.get(args.agent, exit_if=args.exit_if or None)
        slots = _slots(args.slot, project)
        history: list[str] = []
        for message in args.messages:
            print(f"user: {message}")
            history.append(f"USER: {message}")
            output = await _run_once(agent, message, slots, history, args.stream)
            _print(output, args.json, args.stream)
            for event in output.events:
                slots[event["name"]] = event["value"]
            if output.response_message:
                history.append(f"AI: {output.response_message}")
            if output.status is AgentStatus.FATAL_ERROR:
                status = 1
            if output.status is not AgentStatus.INPUT_REQUIRED:
                break
    if player is not None and len(player.requests) > player.replies:
        missing = len(player.requests) - player.replies
        print(
            f"error: {args.scenario}: the scenario ran out of model replies "
            f"({missing} request(s) unanswered); add the missing replies",
            file=sys.stderr,
        )
        status = 1
    return status


async def _run_once(
    agent: Any, message: str, slots: dict[str, Any], history: list[str], stream: bool
) -> AgentOutput:
    async def on_text(delta: str) -> None:
        sys.stdout.write(delta)
        sys.stdout.flush()

    if stream:
        sys.stdout.write("agent: ")
    output: AgentOutput = await agent.run(
        AgentInput(
            id="demo",
            user_message=message,
            slots=[AgentInputSlot(name=n, value=v) for n, v in slots.items()],
            conversation_history="\n".join(history),
        ),
        on_text=on_text if stream else None,
    )
    if stream:
        sys.stdout.write("\n")
    return output


def run_agent(args: AgentRun) -> int:
    """Run ``subagents agent``; return the exit code (2: usage error, 1: a run failed)."""
    from subagents.errors import ConfigError, SubagentsError

    try:
        return asyncio.run(_main(args))
    except ConfigError as exc:
        # A problem outside any file (unknown --agent, bad --slot) has no file to name.
        print(f"error: {exc if exc.problem.file else exc.problem.message}", file=sys.stderr)
        return 2
    except SubagentsError as exc:  # e.g. an MCP server that cannot start
        print(f"error: {exc}", file=sys.stderr)
        return 1
