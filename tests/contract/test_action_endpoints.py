"""A streaming custom action behind a real gRPC or HTTP action server, seen over REST.

gRPC (``action_endpoint.url: grpc://``): without ``?stream=true`` the chunks of one
stream are one message (joined text); with it, each chunk is a ``"chunk": true`` line.
HTTP: the reference's fallback, each chunk is its own message.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from contract_support import say, serve, write_project

from subagents.actions import ActionRegistry
from subagents.actions.server import running_server
from subagents.dialogue.assistant import Assistant

MODULE = "contract_stream_actions"
ACTIONS = """
from subagents.actions import Action


class Stream(Action):
    def name(self):
        return "action_stream"

    async def run(self, dispatcher, tracker, domain):
        await dispatcher.stream_start()
        for word in ["one ", "two ", "three"]:
            await dispatcher.stream_chunk(text=word)
        await dispatcher.stream_end()
        dispatcher.utter_message(text="after")
        return []
"""


def project(root: Path, url: str) -> Path:
    return write_project(
        root,
        {
            "endpoints.yml": f"action_endpoint:\n  url: {url}\n  retries: 0\n"
            "tracker_store:\n  type: memory\n",
            "domain.yml": "slots: {}\n",
            "flows.yml": """
                flows:
                  stream:
                    description: Stream a message.
                    steps:
                      - action: action_stream
                """,
        },
    )


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> ActionRegistry:
    actions_root = tmp_path_factory.mktemp("action_server")
    write_project(actions_root, {f"{MODULE}/__init__.py": textwrap.dedent(ACTIONS)})
    return ActionRegistry.from_module(MODULE, actions_root)


@pytest.mark.parametrize(
    ("grpc", "expected"),
    [(True, ["one two three", "after"]), (False, ["one ", "two ", "three", "after"])],
    ids=["grpc", "http"],
)
async def test_streamed_chunks_in_a_plain_rest_reply(
    tmp_path: Path, registry: ActionRegistry, grpc: bool, expected: list[str]
) -> None:
    async with running_server(registry, port=0, grpc=grpc) as server:
        assert server.url.startswith("grpc://" if grpc else "http://")
        assistant = await Assistant.load(project(tmp_path / "p", server.url))
        try:
            async with serve(assistant) as client:
                assert [m["text"] for m in await say(client, "a1", "/stream")] == expected
        finally:
            await assistant.aclose()


async def test_grpc_chunks_are_lines_of_a_streamed_rest_reply(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    async with running_server(registry, port=0, grpc=True) as server:
        assistant = await Assistant.load(project(tmp_path / "p", server.url))
        try:
            async with serve(assistant) as client:
                response = await client.post(
                    "/webhooks/rest/webhook?stream=true",
                    json={"sender": "a2", "message": "/stream"},
                )
        finally:
            await assistant.aclose()
    lines = [json.loads(line) for line in response.text.splitlines() if line]
    assert lines == [
        {"recipient_id": "a2", "text": "one ", "chunk": True},
        {"recipient_id": "a2", "text": "two ", "chunk": True},
        {"recipient_id": "a2", "text": "three", "chunk": True},
        {"recipient_id": "a2", "text": "after"},
    ]
