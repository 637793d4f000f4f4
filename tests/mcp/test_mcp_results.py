"""Tool results as the model reads them: text, structured content, binaries, resources,
audience and errors (real results from the toolbox server, plus edge cases built with the
SDK's own types)."""

from __future__ import annotations

import base64
import json

import mcp_types as types
from mcp_helpers import stdio_config

from subagents.mcp import MAX_RESULT_CHARS, result_to_outcome


async def test_real_results_are_described_for_the_model(managers) -> None:
    toolset = managers(stdio_config()).toolset("toolbox")

    picture = await toolset.call_tool("picture", {})
    assert picture.text.startswith("a red pixel\n\n[image: image/png, ")
    assert "bytes]" in picture.text and "iVBOR" not in picture.text  # never base64

    sound = await toolset.call_tool("sound", {})
    assert sound.text == "[audio: audio/wav, 12 bytes]"

    resources = (await toolset.call_tool("resources", {})).text
    assert "[resource file:///notes.txt (text/plain)]\nnote body" in resources
    assert "[binary resource file:///data.bin: application/octet-stream, 2.0 KB]" in resources
    assert "[resource link big.csv <file:///big.csv> (text/csv)]" in resources
    assert "AAAA" not in resources

    audience = await toolset.call_tool("audience", {})
    assert audience.text == "for the model"

    structured = await toolset.call_tool("structured_only", {})
    assert structured.text == '{"a":1,"b":[1,2]}' and structured.structured == {"a": 1, "b": [1, 2]}

    weather = await toolset.call_tool("weather", {"city": "Oslo"})
    assert json.loads(weather.text) == {"city": "Oslo", "temperature": 21.5}  # sent once

    failed = await toolset.call_tool("fail", {"reason": "disk full"})
    assert failed.is_error and "failed because disk full" in failed.text


async def test_structured_content_beside_text_is_not_sent_twice(managers) -> None:
    """Filesystem- and memory-like servers repeat their text as structured content: the
    model reads it once (a 30 KB file must not arrive as 60 KB), and media base64 never."""
    toolset = managers(stdio_config()).toolset("toolbox")

    file = await toolset.call_tool("read_text_file", {"lines": 3000})
    body = "".join(f"line {i}\n" for i in range(3000))
    assert file.text == body
    assert file.text.count("line 2999") == 1

    graph = await toolset.call_tool("read_graph", {})
    assert graph.text.count("Ada") == 1 and json.loads(graph.text)["entities"][0]["name"] == "Ada"

    media = await toolset.call_tool("read_media_file", {})
    assert media.text.startswith("[image: image/png, ") and "iVBOR" not in media.text

    only = await toolset.call_tool("media_structured_only", {})
    assert json.loads(only.text) == {"image": "[base64 data, 13.7 KB]", "name": "dot"}


async def test_big_results_are_truncated_with_a_note(managers) -> None:
    toolset = managers(stdio_config()).toolset("toolbox")
    outcome = await toolset.call_tool("big", {"size": 300_000})
    assert len(outcome.text) < MAX_RESULT_CHARS + 200
    assert outcome.text.startswith("x" * 1000)
    assert "[truncated: the tool returned 300000 characters" in outcome.text


def text(value: str, **kwargs) -> types.TextContent:
    return types.TextContent(type="text", text=value, **kwargs)


def test_text_wins_over_structured_content() -> None:
    result = types.CallToolResult(
        content=[text("Found 2 flights")], structured_content={"flights": ["LH1", "AF2"]}
    )
    outcome = result_to_outcome(result)
    assert outcome.text == "Found 2 flights"
    assert outcome.structured == {"flights": ["LH1", "AF2"]}  # still there for code


def test_wrapped_scalar_structured_content_is_not_repeated() -> None:
    result = types.CallToolResult(content=[text("42")], structured_content={"result": 42})
    assert result_to_outcome(result).text == "42"


def test_text_blocks_joined_and_user_only_dropped() -> None:
    result = types.CallToolResult(
        content=[
            text("one"),
            text("secret ui hint", annotations=types.Annotations(audience=["user"])),
            text("two", annotations=types.Annotations(audience=["user", "assistant"])),
        ]
    )
    assert result_to_outcome(result).text == "one\n\ntwo"


def test_only_user_content_and_empty_results_say_so() -> None:
    user_only = types.CallToolResult(
        content=[text("hi", annotations=types.Annotations(audience=["user"]))]
    )
    assert "for the user only" in result_to_outcome(user_only).text
    assert "no content" in result_to_outcome(types.CallToolResult(content=[])).text


def test_error_result_keeps_its_text() -> None:
    result = types.CallToolResult(content=[text("city not found")], is_error=True)
    outcome = result_to_outcome(result)
    assert outcome.is_error and outcome.text == "city not found"


def test_large_image_size_in_megabytes() -> None:
    data = base64.b64encode(b"\x89" * (3 * 1024 * 1024)).decode()
    result = types.CallToolResult(
        content=[types.ImageContent(type="image", data=data, mime_type="image/jpeg")]
    )
    outcome = result_to_outcome(result)
    assert outcome.text == "[image: image/jpeg, 3.0 MB]"


def test_custom_truncation_limit() -> None:
    result = types.CallToolResult(content=[text("abcdefghij")])
    outcome = result_to_outcome(result, max_chars=4)
    assert outcome.text.startswith("abcd\n\n[truncated: the tool returned 10 characters")


def test_wrapped_boolean_is_not_repeated() -> None:
    result = types.CallToolResult(content=[text("true")], structured_content={"result": True})
    assert result_to_outcome(result).text == "true"
