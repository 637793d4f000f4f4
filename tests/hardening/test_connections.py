"""Slow and greedy clients: header timeout, header size, connection cap, log throttling."""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from typing import Any

from subagents.server import ServerSettings
from subagents.server_http import install_resource_log


async def connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = url.removeprefix("http://").split(":")
    return await asyncio.open_connection(host, int(port))


async def test_trickling_headers_are_cut_at_the_header_timeout(served: Any) -> None:
    # Before: 1,000 sockets sending a header byte now and then were all kept for 30 s.
    app = await served(ServerSettings(header_timeout=0.5))
    sockets = [await connect(app.url) for _ in range(50)]
    started = time.monotonic()
    for _reader, writer in sockets:
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
    async with asyncio.timeout(5):
        # read() returns at EOF: the server answered and closed each one
        answers = [await reader.read() for reader, _writer in sockets]
    assert time.monotonic() - started < 3
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers)
    for _reader, writer in sockets:
        writer.close()
    assert (await app.client.get("/health")).status_code == 200


async def test_a_silent_connection_is_closed_too(served: Any) -> None:
    app = await served(ServerSettings(header_timeout=0.3))
    reader, writer = await connect(app.url)
    async with asyncio.timeout(3):
        data = await reader.read()
    assert data.startswith(b"HTTP/1.1 408")
    writer.close()


async def test_endless_headers_are_431(served: Any) -> None:
    app = await served()
    reader, writer = await connect(app.url)
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    for i in range(100):  # 100 x 1 KB headers, never ending
        writer.write(b"X-Pad-%d: %s\r\n" % (i, b"p" * 1000))
    async with asyncio.timeout(5):
        data = await reader.read()
    assert data.startswith(b"HTTP/1.1 431")
    writer.close()


async def test_connections_over_the_cap_get_503_retry_after_at_once(
    served: Any, records: Any
) -> None:
    app = await served(ServerSettings(max_connections=5))
    held = [await connect(app.url) for _ in range(5)]
    await asyncio.sleep(0.1)  # let the server register them
    extra = [await connect(app.url) for _ in range(20)]
    async with asyncio.timeout(5):
        answers = [await reader.read() for reader, _writer in extra]
    assert all(a.startswith(b"HTTP/1.1 503") for a in answers)
    assert b"retry-after: 1\r\n" in answers[0]
    # Logged once with a count, not once per refused connection.
    lines = [r for r in records.records if r.msg == "server.connections_full"]
    assert len(lines) == 1
    for _reader, writer in held + extra:
        writer.close()
    async with asyncio.timeout(5):
        while True:  # the held ones go away; the server serves again
            try:
                if (await app.client.get("/health")).status_code == 200:
                    break
            except Exception:
                await asyncio.sleep(0.05)


async def test_out_of_file_descriptors_is_logged_once_per_interval(
    caplog: Any,
) -> None:
    # Before: 64 MB of "Too many open files" lines in 30 s.
    caplog.set_level(logging.ERROR)
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    try:
        install_resource_log(loop)
        for _ in range(10_000):
            exc = OSError(errno.EMFILE, "Too many open files")
            loop.call_exception_handler(
                {"message": "socket.accept() out of system resource", "exception": exc}
            )
    finally:
        loop.set_exception_handler(previous)
    lines = [r for r in caplog.records if r.msg == "server.out_of_resources"]
    assert len(lines) == 1
    assert lines[0].count == 1
