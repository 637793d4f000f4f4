"""Event brokers: every event of a committed turn, published once, in order.

``event_broker: {type: pika, ...}`` in endpoints.yml publishes to RabbitMQ (aio-pika).
:meth:`PikaEventBroker.publish` never fails a turn and never blocks it for long: events go
into a bounded in-memory buffer that ONE sender task drains in order, and ``publish``
waits (at most ``publish_timeout``, and only while RabbitMQ is connected) until they are
confirmed. The assistant publishes while it still holds the conversation's lock, so the
events of one conversation reach the queues in commit order even when its turns move
between replicas; only while RabbitMQ is unreachable can a conversation's events from two
replicas overtake each other (each replica still keeps its own order).

Each message is one event in the Rasa event JSON the tracker endpoint returns, plus
``sender_id``; its AMQP ``message_id`` is ``<sender_id>:<uuid>`` and stays the same when
it is re-sent. Messages go to a fanout exchange (``exchange_name``, default
``rasa-exchange``) bound to every queue of ``queues`` (durable), with publisher
confirms: an event leaves the buffer only when RabbitMQ confirmed it. While RabbitMQ is
unreachable the sender reconnects with backoff; when the buffer is full the oldest events
are dropped and counted (``broker.dropped``), and what is still unsent at shutdown (after
up to ``flush_timeout`` seconds) is logged with its count (``broker.unsent``). A message
whose confirm was lost with the connection is sent again, so consumers may see it twice:
de-duplicate on ``message_id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import deque
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

from subagents.config.models import EventBrokerConfig
from subagents.errors import StoreUnavailable

logger = logging.getLogger("subagents.stores.broker")

DEFAULT_EXCHANGE = "rasa-exchange"
_BATCH = 200


@runtime_checkable
class EventBroker(Protocol):
    """Publishes the events of committed turns."""

    async def publish(self, conversation_id: str, events: list[dict[str, Any]]) -> None:
        """Hand over the events of one committed turn; never raises, waits boundedly."""
        ...

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the broker is connected."""
        ...

    async def aclose(self) -> None:
        """Send what is buffered (bounded), then disconnect."""
        ...


def amqp_url(cfg: EventBrokerConfig) -> str:
    """The AMQP URL for ``cfg``: ``url`` as given when it is a URL, else built from parts."""
    if "://" in cfg.url:
        return cfg.url
    auth = ""
    if cfg.username:
        auth = quote(cfg.username, safe="") + ":" + quote(cfg.password or "", safe="") + "@"
    scheme = "amqps" if cfg.use_ssl else "amqp"
    port = f":{cfg.port}" if cfg.port else ""
    vhost = "/" + quote(cfg.vhost, safe="") if cfg.vhost else ""
    return f"{scheme}://{auth}{cfg.url}{port}{vhost}"


def broker_where(cfg: EventBrokerConfig) -> str:
    """Host and port, for messages (never the password)."""
    if "://" in cfg.url:
        from urllib.parse import urlsplit

        parts = urlsplit(cfg.url)
        return f"{parts.hostname}:{parts.port or 5672}"
    return f"{cfg.url}:{cfg.port or 5672}"


class PikaEventBroker:
    """Publishes to RabbitMQ from a bounded buffer (see the module docstring)."""

    def __init__(
        self,
        cfg: EventBrokerConfig,
        *,
        flush_timeout: float = 5.0,
        publish_timeout: float = 2.0,
        backoff_max: float = 5.0,
    ) -> None:
        self.cfg = cfg
        self.where = f"event broker pika {broker_where(cfg)}"
        self.exchange_name = cfg.exchange_name or DEFAULT_EXCHANGE
        self.flush_timeout = flush_timeout
        self.publish_timeout = publish_timeout
        self.dropped = 0
        self.published = 0
        self._backoff_max = backoff_max
        self._buffer: deque[tuple[str, bytes]] = deque()
        self._queued = 0  # events ever buffered
        self._done = 0  # events ever confirmed or dropped (all before them are too)
        self._progress = asyncio.Condition()
        self._wake = asyncio.Event()
        self._connected = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self._closing = False

    async def open(self) -> None:
        """Start the sender; waits briefly for a first connection (never fails the start)."""
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_forever(), name="event-broker")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), 5.0)
        if not self._connected.is_set():
            logger.warning("broker.unreachable", extra={"where": self.where})

    async def publish(self, conversation_id: str, events: list[dict[str, Any]]) -> None:
        self.enqueue(conversation_id, events)
        if not self._connected.is_set():
            return  # RabbitMQ is away: the turn goes on, the sender re-sends later
        mark = self._queued
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.publish_timeout), self._progress:
                await self._progress.wait_for(
                    lambda: self._done >= mark or not self._connected.is_set()
                )

    def enqueue(self, conversation_id: str, events: list[dict[str, Any]]) -> None:
        """Buffer the events of one committed turn without waiting."""
        for event in events:
            body = json.dumps({**event, "sender_id": conversation_id}, ensure_ascii=False)
            if len(self._buffer) >= self.cfg.max_buffer:
                self._buffer.popleft()
                self._done += 1
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    logger.error(
                        "broker.dropped",
                        extra={"where": self.where, "count": self.dropped},
                    )
            self._buffer.append((f"{conversation_id}:{uuid.uuid4().hex}", body.encode()))
            self._queued += 1
        self._wake.set()

    @property
    def pending(self) -> int:
        """Events buffered, not yet confirmed by RabbitMQ."""
        return len(self._buffer)

    async def _send_forever(self) -> None:
        delay = 0.2
        while True:
            try:
                await self._connect_and_send()
                return  # closing and drained
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._connected.clear()
                await self._notify()
                logger.warning(
                    "broker.disconnected",
                    extra={
                        "where": self.where,
                        "error": type(exc).__name__,
                        "pending": self.pending,
                    },
                )
                if self._closing:
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff_max)

    async def _connect_and_send(self) -> None:
        import aio_pika

        connection = await aio_pika.connect(amqp_url(self.cfg), timeout=5.0)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.declare_exchange(
                self.exchange_name, aio_pika.ExchangeType.FANOUT, durable=True
            )
            for name in self.cfg.queues:
                queue = await channel.declare_queue(name, durable=True)
                await queue.bind(exchange)
            self._connected.set()
            logger.info("broker.connected", extra={"where": self.where})
            while True:
                if not self._buffer:
                    if self._closing:
                        return
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                batch = [self._buffer[i] for i in range(min(_BATCH, len(self._buffer)))]
                await asyncio.gather(
                    *(
                        exchange.publish(
                            aio_pika.Message(
                                body,
                                message_id=mid,
                                content_type="application/json",
                                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                            ),
                            routing_key="",
                            timeout=10.0,
                        )
                        for mid, body in batch
                    )
                )
                # Confirmed: drop exactly these (publish() only appends, at the right).
                sent = {mid for mid, _ in batch}
                while self._buffer and self._buffer[0][0] in sent:
                    self._buffer.popleft()
                    self._done += 1
                self.published += len(batch)
                await self._notify()

    async def _notify(self) -> None:
        async with self._progress:
            self._progress.notify_all()

    async def ping(self) -> None:
        """Raise StoreUnavailable unless connected to RabbitMQ."""
        if not self._connected.is_set():
            raise StoreUnavailable(f"{self.where} is not connected")

    async def aclose(self) -> None:
        self._closing = True
        self._wake.set()
        sender, self._sender = self._sender, None
        if sender is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(sender), self.flush_timeout)
            if not sender.done():
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await sender
        if self._buffer:
            logger.error("broker.unsent", extra={"where": self.where, "count": len(self._buffer)})
