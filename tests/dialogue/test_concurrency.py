"""Many conversations at once, one conversation's messages in order, SQLite persistence."""

from __future__ import annotations

import asyncio
from typing import Any

from dialogue_helpers import continue_router, texts

from subagents.dialogue.assistant import Assistant

ACTIONS = """
import asyncio, random
from subagents.actions import Action, SlotSet


class Echo(Action):
    def name(self):
        return "action_echo"

    async def run(self, dispatcher, tracker, domain):
        await asyncio.sleep(random.uniform(0, 0.02))
        dispatcher.utter_message(text="echo " + tracker.latest_message["text"])
        return [SlotSet("count", (tracker.get_slot("count") or 0) + 1)]


class Welcome(Action):
    def name(self):
        return "action_welcome"

    async def run(self, dispatcher, tracker, domain):
        await asyncio.sleep(random.uniform(0, 0.02))
        dispatcher.utter_message(text=f"Welcome {tracker.get_slot('name')}")
        return []
"""

DOMAIN: dict[str, Any] = {
    "slots": {"name": {"type": "text"}, "count": {"type": "float"}},
    "responses": {"utter_ask_name": [{"text": "Name?"}]},
}
FLOWS: dict[str, Any] = {
    "signup": {
        "description": "Sign up.",
        "steps": [{"collect": "name", "ask_before_filling": True}, {"action": "action_welcome"}],
    },
    "echo": {"description": "Echo the message.", "steps": [{"action": "action_echo"}]},
}


async def test_fifty_conversations_at_once_do_not_cross(
    make_project: Any, load_assistant: Any, scripted_model: Any
) -> None:
    server = await scripted_model(
        {
            "router": {
                "loop": True,
                "when": {"user_contains": "sign me up"},
                "steps": [
                    {"tool_calls": [{"name": "start_flow", "arguments": {"flow": "signup"}}]}
                ],
            },
            # The name answers the collect: the router says so by calling no tool.
            "continue": {"loop": True, "steps": [{"text": ""}]},
        }
    )
    root = make_project(domain=DOMAIN, flows=FLOWS, actions=ACTIONS)
    assistant = await load_assistant(root, llm_url=server.url)
    ids = [f"user-{i}" for i in range(50)]
    first = await asyncio.gather(*(assistant.handle_message(c, "sign me up") for c in ids))
    assert all(texts(r) == ["Name?"] for r in first)
    second = await asyncio.gather(*(assistant.handle_message(c, f"name-{c}") for c in ids))
    for cid, reply in zip(ids, second, strict=True):
        assert reply == [{"recipient_id": cid, "text": f"Welcome name-{cid}"}]
        events = (await assistant.get_tracker(cid))["events"]
        names = [e["value"] for e in events if e["event"] == "slot" and e["name"] == "name"]
        assert names == [f"name-{cid}", None]  # filled, then reset when the flow ended
    # One router call per message: a text collect's answer is checked for a change of topic.
    assert len(server.requests) == 100
    assert len(assistant._locks) == 0  # no lock kept for idle conversations


async def test_messages_of_one_conversation_run_in_order(
    make_project: Any, load_assistant: Any
) -> None:
    root = make_project(domain=DOMAIN, flows=FLOWS, actions=ACTIONS)
    assistant = await load_assistant(root)
    replies = await asyncio.gather(
        *(assistant.handle_message("one", f"/echo {i}") for i in range(15))
    )
    assert [texts(r) for r in replies] == [[f"echo /echo {i}"] for i in range(15)]
    tracker = await assistant.get_tracker("one")
    assert tracker["slots"]["count"] == 15  # no lost update
    said = [e["text"] for e in tracker["events"] if e["event"] in ("user", "bot")]
    expected = []
    for i in range(15):
        expected += [f"/echo {i}", f"echo /echo {i}"]
    assert said == expected


async def test_sqlite_store_conversation_survives_restart(make_project: Any, tmp_path: Any) -> None:
    root = make_project(
        domain=DOMAIN,
        flows=FLOWS,
        actions=ACTIONS,
        endpoints={"tracker_store": {"type": "sqlite", "path": "data/conv.db"}},
    )
    first = await Assistant.load(root, llm_factory=continue_router())
    try:
        assert texts(await first.handle_message("p", "/signup")) == ["Name?"]
    finally:
        await first.aclose()
    assert (root / "data" / "conv.db").exists()
    second = await Assistant.load(root, llm_factory=continue_router())
    try:
        # The waiting collect step survived the restart.
        assert texts(await second.handle_message("p", "Grace")) == ["Welcome Grace"]
        tracker = await second.get_tracker("p")
        assert [e["event"] for e in tracker["events"]].count("user") == 2
        assert await second.store.list() == ["p"]
    finally:
        await second.aclose()


WRITER = """
import asyncio, sys
from subagents.dialogue.assistant import Assistant
from subagents.llm.scripted import ScriptPlayer, scripted_clients

async def main(root):
    player = ScriptPlayer({"router": {"loop": True, "steps": [{"text": ""}]}})
    assistant = await Assistant.load(root, llm_factory=scripted_clients(player))
    turn = 0
    while True:
        cid = f"c{turn % 5}"
        await assistant.handle_message(cid, "/signup" if (turn // 5) % 2 == 0 else f"n{turn}")
        turn += 1
        print(turn, flush=True)

asyncio.run(main(sys.argv[1]))
"""


def test_kill_9_during_conversations_then_reopen(make_project: Any) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    root = make_project(
        domain=DOMAIN, flows=FLOWS, actions=ACTIONS, endpoints={"tracker_store": {"type": "sqlite"}}
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        deadline, done = time.monotonic() + 60, 0
        while done < 60 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            done = int(line)
        assert done >= 60
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    async def check() -> None:
        assistant = await Assistant.load(root, llm_factory=continue_router())
        try:
            assert sorted(await assistant.store.list()) == [f"c{i}" for i in range(5)]
            for i in range(5):
                tracker = await assistant.get_tracker(f"c{i}")
                users = [e["text"] for e in tracker["events"] if e["event"] == "user"]
                assert len(users) >= done // 5  # every reported turn is there
                # State and events agree: waiting for a name exactly after a /signup.
                waiting = bool(tracker["stack"])
                assert waiting == (users[-1] == "/signup")
                reply = await assistant.handle_message(f"c{i}", "/signup" if not waiting else "Zed")
                assert texts(reply) == (["Welcome Zed"] if waiting else ["Name?"])
        finally:
            await assistant.aclose()

    asyncio.run(check())
