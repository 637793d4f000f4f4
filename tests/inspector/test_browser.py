"""The inspector in a real browser: Debian's chromium driven by Playwright, against
`subagents inspect --scripted` on the example assistant (real MCP servers over stdio,
in-process actions, the SQLite store).

Nothing is skipped: without /usr/bin/chromium these tests fail, saying how to install it
(.ci/run does). The browser is launched with its own executable and flags that keep it
off the network (`playwright install` is never used).
"""

from __future__ import annotations

import shutil
import signal
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import REPO

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCENARIOS = Path(__file__).parent / "scenarios"
OUTPUT = REPO / "tests" / "output"
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the inspector's browser tests drive Debian's chromium; "
            ".ci/run installs it (apt-get install -y chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(WAIT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield opened
    finally:
        context.close()
    assert not errors, f"the page raised: {errors}"


def open_inspector(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-live='on']")


def turns_done(page: Any, count: int) -> None:
    """Wait until ``count`` saved turns are drawn and no message is in flight."""
    page.wait_for_function(
        """n => document.querySelectorAll('#timeline .turn:not(.live)').length >= n
               && !document.querySelector('#timeline .turn.live')
               && document.body.dataset.busy === 'false'""",
        arg=count,
    )


def say(page: Any, text: str, turns: int) -> None:
    page.fill("#input", text)
    page.press("#input", "Enter")
    turns_done(page, turns)


def test_a_turn_streams_and_its_agent_tree_grows_live(
    page: Any, example: Path, inspect_process: Any
) -> None:
    proc = inspect_process(example, SCENARIOS / "live.yml")
    open_inspector(page, proc.wait_ready())
    # Keyboard only: "/" goes to the input, Enter sends.
    page.locator("#restart").focus()
    page.keyboard.press("/")
    page.keyboard.type("I'd like to book a haircut")
    page.keyboard.press("Enter")

    # While the turn runs, the live tree already shows the agent and its first tool call.
    live_tool = page.wait_for_selector(
        ".turn.live [data-agent='appointment_booker'] [data-tool='set_slot_appointment_service']"
    )
    assert page.evaluate("document.body.dataset.busy") == "true"
    assert "builtin/set_slot_appointment_service" in live_tool.text_content()
    running = page.locator(".turn.live [data-agent='appointment_booker'] > summary")
    assert "running…" in running.text_content()
    assert "1 iteration(s)" in running.text_content()
    turns_done(page, 1)

    # The saved turn: the run with its two iterations, the set_slot call, the slot table.
    run = page.locator("#timeline .turn[data-turn='1'] .run[data-agent='appointment_booker']")
    summary = run.locator("> summary").text_content()
    assert "asked the user" in summary and "2 iteration(s)" in summary
    assert "flow book_appointment, step " in summary  # the flow step that called the agent
    assert "683 tokens" in summary  # 322 + 361, as the scenario's usage says
    first = run.locator(".iteration[data-iteration='1'] > summary").text_content()
    assert "gpt-4o" in first and "322 tokens" in first and "tool_calls" in first
    first_iteration = run.locator(".iteration[data-iteration='1']")
    tool = first_iteration.locator(".tool[data-tool='set_slot_appointment_service']")
    assert "builtin/set_slot_appointment_service" in tool.locator("> summary").text_content()
    assert '"slot_value": "haircut"' in tool.text_content()
    # The prompt of a model call, on demand.
    first_iteration.locator("button.show-prompt").first.click()
    system = first_iteration.locator(".prompt-messages li[data-role='system']")
    assert "You are the booking assistant of a hair salon." in system.text_content()
    assert "show all" in system.text_content()  # a long prompt is cut
    user = first_iteration.locator(".prompt-messages li[data-role='user']")
    assert "I'd like to book a haircut" in user.text_content()
    row = page.locator("#slots tr[data-slot='appointment_service']")
    assert row.get_attribute("class") == "changed"
    assert row.locator(".value").text_content() == "haircut"
    assert "appointment_booker → set_slot_appointment_service" in row.locator(".by").text_content()
    totals = page.locator("#totals-table").text_content()
    assert "683" in totals and "1 turns" in totals

    # Turn 2: the weather agent's reply streams in piece by piece.
    page.evaluate(
        """() => {
            window.__seen = [];
            const box = document.getElementById('messages');
            new MutationObserver(() => {
                const bubble = box.querySelector('li.streaming');
                const text = bubble ? bubble.textContent : null;
                if (text && window.__seen[window.__seen.length - 1] !== text) {
                    window.__seen.push(text);
                }
            }).observe(box, {childList: true, subtree: true, characterData: true});
        }"""
    )
    say(page, "Wait, what's the weather like in Paris?", 2)
    seen = page.evaluate("window.__seen")
    reply = "It's 17°C and sunny in Paris. Do you want the forecast too?"
    assert len(seen) >= 6, seen
    assert seen[-1] == reply
    assert all(reply.startswith(part) for part in seen)
    assert page.locator("#messages li.bot").last.text_content() == reply
    weather = page.locator("#timeline .turn[data-turn='2'] .run[data-agent='weather_helper']")
    assert "weather/get_weather" in weather.text_content()
    # The booking flow waits under the weather flow on the dialogue stack.
    stack = page.locator("#stack li")
    assert stack.nth(0).get_attribute("data-flow") == "weather"
    assert stack.nth(1).get_attribute("data-flow") == "book_appointment"


def test_a_tool_error_and_the_iteration_limit_are_shown(
    page: Any, example: Path, inspect_process: Any
) -> None:
    proc = inspect_process(example, SCENARIOS / "errors.yml")
    open_inspector(page, proc.wait_ready())
    say(page, "What's the weather in Atlantis?", 1)

    run = page.locator("#timeline .run.failed[data-agent='weather_helper']")
    summary = run.locator("> summary").text_content()
    assert "iteration limit" in summary and "8 iteration(s)" in summary
    assert "iteration limit reached (8 LLM calls)" in run.locator(".exit-reason").text_content()
    failed = run.locator(".tool.failed[data-tool='get_weather']")
    assert failed.count() == 8
    first, second = failed.nth(0), failed.nth(1)
    assert "weather/get_weather" in first.locator("> summary").text_content()
    assert "error" in first.locator("> summary .tag").text_content()
    assert "Unknown city 'Atlantis'" in second.text_content()
    # The first call's 480-character city is cut in the arguments and the error, each
    # with "show all" (keyboard: focus the button, press Enter).
    first.locator("> summary").click()
    buttons = first.locator("button.show-all")
    assert buttons.count() == 2
    assert "Atlantis" * 60 not in first.text_content()
    buttons.first.focus()
    page.keyboard.press("Enter")
    assert "Atlantis" * 60 in first.locator("pre.payload").first.text_content()
    assert "flow cancelled" in page.locator("#timeline .turn[data-turn='1']").text_content()


def test_an_older_conversation_opens_from_the_list_after_a_restart(
    page: Any, example: Path, inspect_process: Any
) -> None:
    demo = example / "scenarios" / "demo.yml"
    first = inspect_process(example, demo)
    open_inspector(page, first.wait_ready() + "?conversation=before-restart")
    say(page, "hi", 1)
    assert first.stop(signal.SIGTERM) == 0

    second = inspect_process(example, demo)  # the same SQLite store, a new process
    open_inspector(page, second.wait_ready())  # a new conversation id
    assert page.locator("#messages li").count() == 0
    page.wait_for_selector("#conversations option[value='before-restart']", state="attached")
    page.select_option("#conversations", "before-restart")
    page.wait_for_selector("#timeline .turn[data-turn='1']")
    assert page.locator("#conversation-id").text_content() == "before-restart"
    turn = page.locator("#timeline .turn[data-turn='1']").text_content()
    assert "“hi”" in turn and "flow started" in turn and "greet" in turn
    chat = page.locator("#messages li")
    assert chat.nth(0).text_content() == "hi"
    assert chat.nth(1).text_content().startswith("Hi, welcome to the salon!")


def test_the_demo_conversation_laid_open_and_its_screenshot(
    page: Any, example: Path, inspect_process: Any
) -> None:
    demo = example / "scenarios" / "demo.yml"
    turns = yaml.safe_load(demo.read_text(encoding="utf-8"))["user"]
    proc = inspect_process(example, demo)
    open_inspector(page, proc.wait_ready())
    for number, text in enumerate(turns, start=1):
        say(page, text, number)

    slots = {
        name: page.locator(f"#slots tr[data-slot='{name}'] .value").text_content()
        for name in ("appointment_service", "customer_name", "appointment_date", "appointment_time")
    }
    assert slots == {
        "appointment_service": "beard trim",  # the demo's correction (issue 17)
        "customer_name": "Alex",
        "appointment_date": "2030-05-14",
        "appointment_time": "13:00",
    }
    timeline = page.locator("#timeline")
    for shown in (
        "appointments/check_availability",
        "appointments/book_appointment",
        "weather/get_weather",
        "custom/recommend_outfit",
        "builtin/task_completed",
    ):
        assert shown in timeline.text_content(), shown
    confirm = page.locator("#timeline [data-action='action_confirm_booking']")
    assert confirm.count() == 1
    assert "in-process" in confirm.text_content() and "chunk(s) streamed" in confirm.text_content()
    assert page.locator("#timeline [data-action='action_salon_summary']").count() == 1
    booking = page.locator(".run[data-agent='appointment_booker'] > summary").last
    assert "exit_if met" in booking.text_content()
    weather = page.locator(".run[data-agent='weather_helper'] > summary").last
    assert "task_completed" in weather.text_content()
    assert f"{len(turns)} turns" in page.locator("#totals-table").text_content()
    assert page.locator("#stack").text_content().startswith("empty")

    OUTPUT.mkdir(parents=True, exist_ok=True)
    shot = OUTPUT / "inspector-demo.png"
    page.screenshot(path=str(shot))
    width, height, distinct = png_summary(shot.read_bytes())
    assert (width, height) == (1280, 800)
    assert distinct > 40, "the screenshot looks blank"
    shutil.copy2(shot, example / "inspector-demo.png")  # kept with the test's files too


def png_summary(data: bytes) -> tuple[int, int, int]:
    """Width, height and how many distinct byte values the decoded pixel rows hold (a
    blank page compresses to a handful)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, idat, width, height = 8, b"", 0, 0
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


def test_with_a_token_the_page_works_through_it(
    page: Any, example: Path, inspect_process: Any
) -> None:
    token = "inspector-browser-token-7"
    proc = inspect_process(
        example, example / "scenarios" / "demo.yml", "--host", "127.0.0.1", "--auth-token", token
    )
    proc.wait_ready()
    # The URL is printed without the token itself.
    assert f"Inspector: {proc.base}/inspector?token=<your token>" in proc.output()
    assert token not in proc.output()
    denied = page.goto(f"{proc.base}/inspector")
    assert denied is not None and denied.status == 401
    # The page sends the token with its requests: the list, the tracker, the stream, the
    # webhook (Bearer) and the event stream (?token=).
    open_inspector(page, f"{proc.base}/inspector?token={token}")
    say(page, "hi", 1)
    assert page.locator("#messages li.bot").first.text_content().startswith("Hi, welcome")
    assert page.locator("#conversations option").count() >= 1
