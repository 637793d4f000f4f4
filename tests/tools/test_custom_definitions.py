"""Custom tool definitions an agent author gets wrong, and the forms that are fine.

Mistakes are ConfigErrors raised when the agent is prepared (at load time), naming the
agent module, the line of ``get_custom_tool_definitions``, the definition's index and
the fix. The forms that work are then called for real through the agent's tool loop.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator
from typing import Any

import pytest

from subagents import AgentInput, AgentStatus, AgentToolResult, MCPOpenAgent
from subagents.errors import ConfigError
from subagents.llm import LLMClient, create_llm_client
from subagents.testing import scripted_model_config


def scripted_llm(url: str) -> LLMClient:
    return create_llm_client(scripted_model_config(url, retries=0, timeout=10))


def tool(name: str, executor: Any, parameters: Any = None) -> dict[str, Any]:
    function: dict[str, Any] = {"name": name, "description": f"The {name} tool."}
    if parameters is not None:
        function["parameters"] = parameters
    return {"type": "function", "function": function, "tool_executor": executor}


def sync_lookup(arguments: dict[str, Any]) -> str:
    return "blocking"


async def stream_lookup(arguments: dict[str, Any]) -> AsyncIterator[str]:
    yield "x"


async def price_times(factor: int, arguments: dict[str, Any]) -> AgentToolResult:
    return AgentToolResult(tool_name="price", result=f"{arguments['item']}: {3 * factor} EUR")


async def price(arguments: dict[str, Any]) -> AgentToolResult:
    return await price_times(1, arguments)


class Pricer:
    """A callable object with an async __call__ (accepted)."""

    async def __call__(self, arguments: dict[str, Any]) -> str:
        return f"{arguments['item']}: 5 EUR"


class BadAgent(MCPOpenAgent):
    definitions: list[Any] = []

    def get_custom_tool_definitions(self) -> list[dict[str, Any]]:
        return list(self.definitions)


DEFINITIONS_LINE = inspect.getsourcelines(BadAgent.get_custom_tool_definitions)[1]


@pytest.mark.parametrize(
    ("definition", "field", "words"),
    [
        (tool("lookup", None), "[0]", "needs a callable 'tool_executor'"),
        (tool("lookup", "sync_lookup"), "[0]", "needs a callable 'tool_executor'"),
        (tool("lookup", sync_lookup), "[0]", "(sync_lookup) must be an `async def` function"),
        (tool("lookup", stream_lookup), "[0]", "(stream_lookup) must be an `async def` function"),
        ({"name": "flat", "tool_executor": price}, "[0]", "expected {'type': 'function'"),
        (
            tool("lookup", price, parameters=["item"]),
            "[0].function.parameters",
            "'function.parameters' of custom tool 'lookup' is a list",
        ),
        (
            tool("lookup", price, parameters={"type": "array"}),
            "[0].function.parameters",
            "has type 'array'",
        ),
        (
            tool("lookup", price, {"type": "object", "properties": {"item": {"type": "txt"}}}),
            "[0].function.parameters",
            "is not a valid JSON schema ('txt' is not valid",
        ),
    ],
)
async def test_mistakes_are_config_errors_naming_file_line_and_field(
    scripted_model: Any, definition: Any, field: str, words: str
) -> None:
    server = await scripted_model([])
    agent = type("ShopAgent", (BadAgent,), {"definitions": [definition]})(
        name="shop", llm=scripted_llm(server.url)
    )
    with pytest.raises(ConfigError) as info:
        await agent.prepare()
    problem = info.value.problem
    assert (problem.file, problem.line) == (__file__, DEFINITIONS_LINE)
    assert problem.field == f"ShopAgent.get_custom_tool_definitions(){field}"
    assert words in str(info.value)
    assert str(info.value).startswith(f"{__file__}:{DEFINITIONS_LINE}: ShopAgent.")
    # The run reports the same problem instead of calling the model.
    out = await agent.run(AgentInput(user_message="hi"))
    assert out.status is AgentStatus.FATAL_ERROR and words in (out.error_message or "")
    assert server.requests == []


async def test_duplicate_names_name_the_second_definition(scripted_model: Any) -> None:
    server = await scripted_model([])
    agent = type("Twice", (BadAgent,), {"definitions": [tool("a", price), tool("a", price)]})(
        name="twice", llm=scripted_llm(server.url)
    )
    with pytest.raises(ConfigError, match=r"\[1\]: custom tool name 'a' is defined twice"):
        await agent.prepare()


async def test_async_callables_of_every_shape_are_called(scripted_model: Any) -> None:
    schema = {"type": "object", "properties": {"item": {"type": "string"}}, "required": ["item"]}
    definitions = [
        tool("plain", price, schema),
        tool("doubled", functools.partial(price_times, 2), schema),
        tool("obj", Pricer(), schema),
        tool("via_lambda", lambda arguments: price_times(10, arguments), schema),
        tool("no_schema", price, {}),
    ]
    calls = [
        {"name": n, "arguments": {"item": "tea"}} for n in ("plain", "doubled", "obj", "via_lambda")
    ]
    server = await scripted_model(
        [
            {"tool_calls": calls},
            {"tool_calls": [{"name": "task_completed", "arguments": {"message": "Done."}}]},
        ]
    )
    agent = type("Fine", (BadAgent,), {"definitions": definitions})(
        name="fine", llm=scripted_llm(server.url)
    )
    out = await agent.run(AgentInput(user_message="prices?"))
    assert out.status is AgentStatus.COMPLETED, out.error_message
    results = {r["name"]: r["result"] for r in out.structured_results}
    assert results == {
        "plain": "tea: 3 EUR",
        "doubled": "tea: 6 EUR",
        "obj": "tea: 5 EUR",
        "via_lambda": "tea: 30 EUR",
        "task_completed": results["task_completed"],
    }
    offered = {t["function"]["name"]: t["function"] for t in server.requests[0]["tools"]}
    assert offered["no_schema"]["parameters"] == {"type": "object", "properties": {}}


async def test_what_an_executor_returns_reaches_the_model(scripted_model: Any) -> None:
    async def as_dict(arguments: dict[str, Any]) -> Any:
        return {"stock": 3, "item": "tea"}

    async def as_object(arguments: dict[str, Any]) -> Any:
        loop: list[Any] = []
        loop.append(loop)  # no JSON form at all
        return loop

    async def nothing(arguments: dict[str, Any]) -> Any:
        return None

    definitions = [tool("as_dict", as_dict), tool("as_object", as_object), tool("nothing", nothing)]
    calls = [{"name": n, "arguments": {}} for n in ("as_dict", "as_object", "nothing")]
    done = {"name": "task_completed", "arguments": {"message": "Done."}}
    server = await scripted_model([{"tool_calls": calls}, {"tool_calls": [done]}])
    agent = type("Returns", (BadAgent,), {"definitions": definitions})(
        name="returns", llm=scripted_llm(server.url)
    )
    out = await agent.run(AgentInput(user_message="stock?"))
    results = {r["name"]: (r["is_error"], r["result"]) for r in out.structured_results}
    assert results["as_dict"] == (False, '{"stock": 3, "item": "tea"}')
    assert results["nothing"] == (False, "(the tool returned no output)")
    is_error, text = results["as_object"]
    assert is_error and "the tool returned list, expected AgentToolResult" in text


async def test_a_huge_custom_result_is_truncated_with_a_note(scripted_model: Any) -> None:
    async def dump(arguments: dict[str, Any]) -> AgentToolResult:
        return AgentToolResult(tool_name="dump", result="x" * 250_000)

    done = {"name": "task_completed", "arguments": {"message": "Done."}}
    server = await scripted_model(
        [{"tool_calls": [{"name": "dump", "arguments": {}}]}, {"tool_calls": [done]}]
    )
    agent = type("Dumps", (BadAgent,), {"definitions": [tool("dump", dump)]})(
        name="dumps", llm=scripted_llm(server.url)
    )
    await agent.run(AgentInput(user_message="dump"))
    sent = [m["content"] for m in server.requests[1]["messages"] if m["role"] == "tool"][0]
    assert len(sent) < 100_200
    assert sent.endswith(
        "[truncated: the tool returned 250000 characters; only the first 100000 are shown]"
    )
