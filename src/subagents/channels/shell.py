"""The interactive shell channel: chat with the assistant in a terminal.

Bot text is printed as it streams in; buttons are numbered (``[1: Basic | 2: Premium]``)
and typing a number sends that button's payload; a dim ``… <agent> is working`` or
``… running <action>`` line shows when an agent or a custom action starts, ``… 40%
indexing files`` when a tool reports progress, and ``? <tool> asks you`` before a tool's
question (the next line typed answers it). Ctrl-D or ``/exit`` quits; ``/restart`` starts
the conversation afresh (handled by the assistant). Given a list of user turns (a
conversation script) the shell plays them instead of reading the keyboard and prints a
transcript.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape

from subagents.channels.rest import MessageHandler, internal_error_message

EXIT_COMMANDS = frozenset({"/exit", "/quit"})


class ShellPrinter:
    """Prints bot messages, streamed chunks and tool progress to a rich console."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._mid_stream = False
        self.messages = 0
        self.buttons: list[dict[str, Any]] = []
        """The buttons of the latest turn: typing ``N`` sends button N's payload."""

    def _end_stream(self) -> None:
        if self._mid_stream:
            self.console.print()
            self._mid_stream = False

    async def on_message(self, message: dict[str, Any]) -> None:
        """Print one message or one streamed chunk, the moment it arrives."""
        if message.get("chunk"):
            if not self._mid_stream:
                self.console.print("[bold cyan]Bot:[/] ", end="")
                self._mid_stream = True
                self.messages += 1
            self.console.print(escape(str(message.get("text") or "")), end="")
            self.console.file.flush()
            return
        self._end_stream()
        self.messages += 1
        if message.get("buttons"):
            self.buttons = [b for b in message["buttons"] if isinstance(b, dict)]
        self.console.print(f"[bold cyan]Bot:[/] {escape(_render(message))}")

    def choice(self, text: str) -> dict[str, Any] | None:
        """The button a typed number picks (``2`` → the second button), if any."""
        stripped = text.strip()
        if stripped.isdigit() and 1 <= int(stripped) <= len(self.buttons):
            return self.buttons[int(stripped) - 1]
        return None

    async def on_progress(self, event: dict[str, Any]) -> None:
        """Show a line when an agent or action starts working, and while a turn is long."""
        if event.get("event") == "still_working":
            self._end_stream()
            self.console.print(f"[dim]  … still working ({event.get('elapsed', '?')} s)[/]")
            return
        if event.get("event") == "question":
            self._end_stream()
            name = escape(str(event.get("name", "a tool")))
            self.console.print(f"[dim]  ? {name} asks you (reply below)[/]")
            return
        if event.get("event") == "tool_progress":
            self._end_stream()
            text = escape(str(event.get("text", "")))
            self.console.print(f"[dim]  … {text}[/]")
            return
        if event.get("event") != "tool_started" or event.get("builtin"):
            return  # built-in control tools (task_completed, set_slot_*) are not "work"
        self._end_stream()
        name = escape(str(event.get("name", "tool")))
        if event.get("kind") == "agent":
            self.console.print(f"[dim]  … {name} is working[/]")
        else:
            self.console.print(f"[dim]  … running {name}[/]")

    def end_turn(self) -> None:
        """Finish a streamed line left open at the end of a turn."""
        self._end_stream()


def _render(message: dict[str, Any]) -> str:
    """A bot message as one readable line: text, then buttons, image, custom payload."""
    parts: list[str] = []
    if message.get("text"):
        parts.append(str(message["text"]))
    buttons = message.get("buttons") or []
    if buttons:  # numbered: typing the number sends the button's payload
        titles = [f"{i}: {b.get('title', b.get('payload', ''))}" for i, b in enumerate(buttons, 1)]
        parts.append("[" + " | ".join(titles) + "]")
    if message.get("image"):
        parts.append(f"(image: {message['image']})")
    if message.get("custom") is not None:
        parts.append(f"(custom: {message['custom']})")
    return " ".join(parts) or "(empty message)"


async def stdin_lines(stream: TextIO | None = None) -> AsyncIterator[str]:
    """Lines typed by the user; ends on EOF (Ctrl-D).

    Read by a daemon thread so a pending read never blocks the process from exiting.
    """
    source = stream or sys.stdin
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def reader() -> None:
        try:
            for line in iter(source.readline, ""):
                loop.call_soon_threadsafe(queue.put_nowait, line.rstrip("\r\n"))
        except (OSError, ValueError):
            pass
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=reader, name="subagents-shell-stdin", daemon=True).start()
    while (line := await queue.get()) is not None:
        yield line


async def script_lines(turns: Iterable[str]) -> AsyncIterator[str]:
    """The user turns of a conversation script, as if typed."""
    for turn in turns:
        yield turn


async def chat(
    assistant: MessageHandler,
    lines: AsyncIterator[str],
    *,
    console: Console,
    sender: str = "shell",
    echo: bool = True,
    prompt: bool = False,
    after_turn: Callable[[], None] | None = None,
) -> int:
    """Run the conversation; return how many user messages were sent.

    ``echo`` prints each user line (``You: ...``) — for scripts and piped input, where the
    terminal does not show it; ``prompt`` prints a ``You:`` prompt before each read;
    ``after_turn`` is called once each turn's replies are printed.
    """
    printer = ShellPrinter(console)
    sent = 0
    while True:
        if prompt:
            console.print("[bold green]You:[/] ", end="")
            console.file.flush()
        try:
            text = await anext(lines)
        except StopAsyncIteration:
            break
        if text.strip() in EXIT_COMMANDS:
            break
        if not text.strip():
            continue
        if echo:
            console.print(f"[bold green]You:[/] {escape(text)}")
        button = printer.choice(text)
        if button is not None and button.get("payload"):
            text = str(button["payload"])
            console.print(f"[dim]  → {escape(str(button.get('title', text)))} ({escape(text)})[/]")
        printer.buttons = []
        sent += 1
        await _turn(assistant, sender, text, printer)
        if after_turn is not None:
            after_turn()
    if prompt:
        console.print()
    return sent


async def _turn(assistant: MessageHandler, sender: str, text: str, printer: ShellPrinter) -> None:
    before = printer.messages
    try:
        replies = await assistant.handle_message(
            sender,
            text,
            {"channel": "shell"},
            on_message=printer.on_message,
            on_progress=printer.on_progress,
        )
    except Exception as exc:  # a bug in the assistant must not kill the shell
        printer.end_turn()
        printer.console.print(f"[red]error:[/] {escape(str(exc) or type(exc).__name__)}")
        await printer.on_message(internal_error_message(sender))
        return
    printer.end_turn()
    if printer.messages == before:
        # An assistant that does not call on_message still gets its replies shown.
        for reply in replies:
            await printer.on_message(reply)
