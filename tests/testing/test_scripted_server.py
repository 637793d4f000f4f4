"""The scripted model server: wire format, scenario replay, recording, lifecycle."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai

from subagents.testing import ScriptedModelServer

USER = [{"role": "user", "content": "hi"}]


def tool(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}


def sse_chunks(body: str) -> list[Any]:
    events = [line[len("data: ") :] for line in body.split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    return [json.loads(e) for e in events[:-1]]


async def test_stream_wire_format_matches_openai(scripted_model: Any) -> None:
    srv = await scripted_model(
        [{"text": "Hello big world", "tool_calls": [{"name": "f", "arguments": {"q": "x" * 30}}]}]
    )
    payload = {
        "model": "m",
        "messages": USER,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    async with httpx.AsyncClient() as http:
        resp = await http.post(srv.url + "/chat/completions", json=payload)
    assert resp.headers["content-type"].startswith("text/event-stream")
    chunks = sse_chunks(resp.text)
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "m" for c in chunks)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0]["role"] == "assistant"
    texts = [d["content"] for d in deltas if d.get("content")]
    assert len(texts) >= 3 and "".join(texts) == "Hello big world"
    calls = [d["tool_calls"][0] for d in deltas if d.get("tool_calls")]
    assert calls[0]["index"] == 0 and calls[0]["id"] and calls[0]["function"]["name"] == "f"
    fragments = [c["function"]["arguments"] for c in calls[1:]]
    assert len(fragments) >= 2 and json.loads("".join(fragments)) == {"q": "x" * 30}
    finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finish[-1] == "tool_calls" and set(finish[:-1]) == {None}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


async def test_openai_sdk_understands_it(scripted_model: Any) -> None:
    srv = await scripted_model(
        [
            {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}, "id": "c1"}]},
            {"text": "Streaming reply here"},
        ]
    )
    sdk = openai.AsyncOpenAI(base_url=srv.url, api_key="sk-x", max_retries=0)
    reply = await sdk.chat.completions.create(model="m", messages=USER, tools=[tool("get_weather")])  # type: ignore[arg-type, list-item]
    call = reply.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert (call.id, call.function.name) == ("c1", "get_weather")  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "Oslo"}  # type: ignore[union-attr]
    stream = await sdk.chat.completions.create(model="m", messages=USER, stream=True)  # type: ignore[arg-type]
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Streaming reply here"
    models = await sdk.models.list()
    assert [m.id for m in models.data] == ["scripted"]
    await sdk.close()


async def test_records_requests_and_helpers(scripted_model: Any) -> None:
    srv = await scripted_model(["first", "second"])
    async with httpx.AsyncClient() as http:
        await http.post(
            srv.url + "/chat/completions", json={"messages": USER, "tools": [tool("a")]}
        )
        convo = USER + [{"role": "assistant", "content": "first"}, {"role": "user", "content": "x"}]
        await http.post(srv.url + "/chat/completions", json={"messages": convo})
    assert len(srv.requests) == 2
    assert srv.tools_offered(0) == ["a"] and srv.tools_offered() == []
    assert srv.last_messages() == convo
    assert srv.remaining() == 0


async def test_exhausted_scenario_answers_500(scripted_model: Any) -> None:
    srv = await scripted_model([{"text": "one"}])
    async with httpx.AsyncClient() as http:
        await http.post(srv.url + "/chat/completions", json={"messages": USER})
        resp = await http.post(srv.url + "/chat/completions", json={"messages": USER})
    assert resp.status_code == 500
    assert "scripted scenario exhausted after 1 replies" in resp.json()["error"]["message"]


async def test_error_step_status_header_and_body(scripted_model: Any) -> None:
    srv = await scripted_model([{"error": {"status": 503, "retry_after": 7, "body": "overloaded"}}])
    async with httpx.AsyncClient() as http:
        resp = await http.post(srv.url + "/chat/completions", json={"messages": USER})
    assert (resp.status_code, resp.headers["retry-after"], resp.text) == (503, "7", "overloaded")


async def test_bad_request_is_400_and_consumes_nothing(scripted_model: Any) -> None:
    srv = await scripted_model(["kept"])
    async with httpx.AsyncClient() as http:
        bad = await http.post(srv.url + "/chat/completions", content=b"{not json")
        missing = await http.post(srv.url + "/chat/completions", json={"model": "m"})
        unknown = await http.get(srv.url + "/nope")
    assert (bad.status_code, missing.status_code, unknown.status_code) == (400, 400, 404)
    assert srv.requests == [] and srv.remaining() == 1


async def test_keyed_scripts_chosen_by_when(scripted_model: Any) -> None:
    srv = await scripted_model(
        {
            "router": {
                "when": {"tool_offered": "start_flow"},
                "steps": [{"tool_calls": [{"name": "start_flow", "arguments": {"flow": "w"}}]}],
            },
            "weather": {"when": {"system_contains": "weather agent"}, "steps": ["Sunny."]},
            "chitchat": {"steps": ["Hello!"], "loop": True},
        }
    )
    weather = [{"role": "system", "content": "You are the weather agent."}] + USER
    async with httpx.AsyncClient() as http:

        async def ask(body: dict[str, Any]) -> Any:
            resp = await http.post(srv.url + "/chat/completions", json=body)
            return resp.json()["choices"][0]["message"]

        routed = await ask({"messages": USER, "tools": [tool("start_flow")]})
        assert routed["tool_calls"][0]["function"]["name"] == "start_flow"
        assert (await ask({"messages": weather}))["content"] == "Sunny."
        assert (await ask({"messages": USER}))["content"] == "Hello!"
        assert (await ask({"messages": USER}))["content"] == "Hello!"  # loops
        resp = await http.post(
            srv.url + "/chat/completions", json={"messages": USER, "tools": [tool("start_flow")]}
        )
    assert resp.status_code == 500
    assert "exhausted after 1 replies (script 'router')" in resp.json()["error"]["message"]


def test_start_in_thread_for_sync_code() -> None:
    srv = ScriptedModelServer([{"text": "from a thread"}]).start_in_thread()
    try:
        with httpx.Client() as http:
            resp = http.post(srv.url + "/chat/completions", json={"messages": USER})
            assert resp.json()["choices"][0]["message"]["content"] == "from a thread"
            assert http.get(srv.url + "/models").status_code == 200
    finally:
        srv.stop()
    with httpx.Client() as http:
        try:
            http.get(srv.url + "/models", timeout=2)
        except httpx.ConnectError:
            pass
        else:
            raise AssertionError("server still answering after stop()")


def test_sync_fixture(scripted_model_sync: Any) -> None:
    srv = scripted_model_sync(["sync"])
    with httpx.Client() as http:
        resp = http.post(srv.url + "/chat/completions", json={"messages": USER})
    assert resp.json()["choices"][0]["message"]["content"] == "sync"


async def test_keep_alive_connection_is_reused(scripted_model: Any) -> None:
    srv = await scripted_model(["a", "b", "c"])
    async with httpx.AsyncClient() as http:
        for _ in range(3):
            resp = await http.post(srv.url + "/chat/completions", json={"messages": USER})
            assert resp.status_code == 200
    assert len({h["host"] for h in srv.request_headers}) == 1
    assert len(srv._writers) <= 1  # one connection served all three
