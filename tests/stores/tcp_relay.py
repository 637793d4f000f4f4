"""A TCP relay on 127.0.0.1 that a test can cut (every connection dropped, new ones refused)
and restore: the network view of a server going away, for a server the test must not stop."""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

from cluster import free_port


class TcpRelay:
    """Relays 127.0.0.1:<port> to ``host:port`` until cut."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> TcpRelay:
        self._loop = asyncio.get_running_loop()
        await self.restore()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.cut()

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def cut_sync(self) -> None:
        """:meth:`cut` from another thread."""
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(self.cut(), self._loop).result(10)

    def restore_sync(self) -> None:
        """:meth:`restore` from another thread."""
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(self.restore(), self._loop).result(10)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}
