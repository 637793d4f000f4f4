"""REST never answers 5xx for a problem inside a conversation: the user gets
`utter_internal_error` ("Sorry, something went wrong. Please try again.") with HTTP 200,
and `/<unknown>` gets `utter_fallback` ("Sorry, I can't help with that.")."""

from __future__ import annotations

import json
from pathlib import Path

from contract_support import call, free_port, say, serve, toolbox_stdio, write_project

from subagents.dialogue.assistant import Assistant
from subagents.testing import ScriptedModelServer

INTERNAL_ERROR = "Sorry, something went wrong. Please try again."
FALLBACK = "Sorry, I can't help with that."


def project(root: Path, closed_port: int) -> Path:
    return write_project(
        root,
        {
            "endpoints.yml": f"""
                model_groups:
                  - id: default
                    models:
                      - model: gpt-4o
                        api_base: http://127.0.0.1:{closed_port}/v1
                        api_key: not-used
                        retries: 0
                        timeout: 5
                action_endpoint:
                  url: http://127.0.0.1:{closed_port}
                  retries: 0
                tracker_store:
                  type: memory
                """,
            "domain.yml": "slots: {}\n",
            "flows.yml": """
                flows:
                  remote:
                    description: Run an action on the action server.
                    steps:
                      - action: action_remote
                """,
        },
    )


async def test_problems_inside_a_conversation_are_http_200(tmp_path: Path) -> None:
    # Nothing listens on this port: the LLM and the action server are both unreachable.
    assistant = await Assistant.load(project(tmp_path / "p", free_port()))
    try:
        async with serve(assistant) as client:
            assert [m["text"] for m in await say(client, "e1", "route me")] == [INTERNAL_ERROR]
            assert [m["text"] for m in await say(client, "e1", "/remote")] == [INTERNAL_ERROR]
            assert [m["text"] for m in await say(client, "e1", "/no_such_flow")] == [FALLBACK]
            streamed = await client.post(
                "/webhooks/rest/webhook?stream=true", json={"sender": "e1", "message": "/remote"}
            )
            assert streamed.status_code == 200
            lines = [json.loads(line) for line in streamed.text.splitlines() if line]
            assert lines == [{"recipient_id": "e1", "text": INTERNAL_ERROR}]
            tracker = (await client.get("/conversations/e1/tracker")).json()
    finally:
        await assistant.aclose()
    cancelled = [e for e in tracker["events"] if e["event"] == "flow_cancelled"]
    assert [e["flow_id"] for e in cancelled] == ["remote", "remote"]


async def test_default_iteration_limit_is_a_fatal_error_answered_with_200(
    tmp_path: Path,
) -> None:
    root = write_project(
        tmp_path / "loop",
        {
            "endpoints.yml": "mcp_servers:\n"
            + toolbox_stdio()
            + "tracker_store:\n  type: memory\n",
            "flows.yml": """
                flows:
                  spin:
                    description: Spin.
                    steps:
                      - call: spinner
                """,
            "sub_agents/spinner/config.yml": """
                agent:
                  name: spinner
                connections:
                  mcp_servers:
                    - name: toolbox
                      include_tools: [echo]
                """,
        },
    )
    async with ScriptedModelServer([call("echo", text="again")] * 12) as model:
        assistant = await Assistant.load(root, llm_url=model.url)
        try:
            async with serve(assistant) as client:
                assert [m["text"] for m in await say(client, "l1", "/spin")] == [INTERNAL_ERROR]
                tracker = (await client.get("/conversations/l1/tracker")).json()
        finally:
            await assistant.aclose()
    assert len(model.requests) == 10  # configuration.max_iterations defaults to 10
    (failed,) = [e for e in tracker["events"] if e["event"] == "agent_failed"]
    assert "iteration limit reached" in failed["error"]
    # The flow is cancelled, then pattern_internal_error sends the reply (issue 17).
    assert [e["event"] for e in tracker["events"]][-5:] == [
        "flow_cancelled",
        "flow_started",
        "bot",
        "action",
        "flow_completed",
    ]
