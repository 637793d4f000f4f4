"""``CollectingDispatcher``: how an action sends messages, whole or streamed.

Whole messages (:meth:`CollectingDispatcher.utter_message`) are collected and returned
with the action's events. Streamed messages (:meth:`stream_start`, :meth:`stream_chunk`,
:meth:`stream_end`) go to a *sink* when the transport streams (in-process executor, gRPC
``WebhookStream``); without a sink (HTTP webhook) every chunk is kept and replayed as one
``utter_message`` each at :meth:`stream_end`, so the same action code works everywhere.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

ChunkSink = Callable[[dict[str, Any]], Awaitable[None]]

# Keys a chunk may carry on every transport (the gRPC ``Chunk`` message's fields).
CHUNK_FIELDS = ("text", "image", "custom", "attachment", "buttons", "elements")


class CollectingDispatcher:
    """Collects an action's messages and streams its chunks.

    Sink events, in order for one streamed message: ``{"event": "stream_start",
    "response_id": id}``, ``{"event": "stream_chunk", "response_id": id, "text": ...}``
    (any of :data:`CHUNK_FIELDS` plus extra keys), ``{"event": "stream_end",
    "response_id": id}``.
    """

    def __init__(self, sink: ChunkSink | None = None) -> None:
        """Create a dispatcher; ``sink`` receives stream events as they are produced."""
        self.messages: list[dict[str, Any]] = []
        self._stream_sink: ChunkSink | None = sink
        self._accumulated: list[dict[str, Any]] = []
        self._active = False
        self._cancelled = False
        self.response_id: str | None = None
        # Chunks handed to the sink (delivered before any barge-in), in order.
        self.streamed_chunks: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ whole messages

    def utter_message(
        self,
        text: str | None = None,
        image: str | None = None,
        json_message: dict[str, Any] | None = None,
        template: str | None = None,
        response: str | None = None,
        attachment: str | None = None,
        buttons: list[dict[str, Any]] | None = None,
        elements: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        """Send a message: text, a domain ``response`` name, image, buttons, custom JSON."""
        response = response or template
        message: dict[str, Any] = {
            "text": text,
            "buttons": buttons or [],
            "elements": elements or [],
            "custom": json_message or {},
            "template": response,
            "response": response,
            "image": image,
            "attachment": attachment,
        }
        message.update(kwargs)
        self.messages.append(message)

    # ------------------------------------------------------------------ streaming

    @property
    def is_streaming_active(self) -> bool:
        """``True`` between :meth:`stream_start` and :meth:`stream_end`."""
        return self._active

    @property
    def is_streaming_cancelled(self) -> bool:
        """``True`` once the user barged in; later chunks are dropped."""
        return self._cancelled

    def cancel_stream(self) -> None:
        """Barge-in: drop every later chunk of this action run (called by the transport).

        The action keeps running; what it returns (events, whole messages) is still
        delivered. Cancellation is sticky for the rest of the run.
        """
        self._cancelled = True

    async def stream_start(self) -> None:
        """Begin a streamed message (a new ``response_id``)."""
        if self._active:
            await self.stream_end()
        self._accumulated = []
        self._active = True
        self.response_id = uuid.uuid4().hex
        if self._stream_sink is not None and not self._cancelled:
            await self._stream_sink({"event": "stream_start", "response_id": self.response_id})

    async def stream_chunk(
        self,
        text: str | None = None,
        image: str | None = None,
        json_message: dict[str, Any] | None = None,
        attachment: str | None = None,
        buttons: list[dict[str, Any]] | None = None,
        elements: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        """Emit one piece of the streamed message: text and/or rich content.

        ``template`` / ``response`` are refused (``ValueError``): use ``utter_message``.
        """
        forbidden = {"template", "response"} & kwargs.keys()
        if forbidden:
            raise ValueError(
                f"stream_chunk() does not accept {sorted(forbidden)}; "
                "use utter_message(response=...) for domain responses"
            )
        payload = _chunk_payload(text, image, json_message, attachment, buttons, elements)
        payload.update(kwargs)
        if self._cancelled:
            return
        if not self._active:
            await self.stream_start()
        self._accumulated.append(payload)
        if self._stream_sink is not None:
            await self._stream_sink(
                {"event": "stream_chunk", "response_id": self.response_id, **payload}
            )
            # A sink may refuse delivery by cancelling the stream (barge-in).
            if not self._cancelled:
                self.streamed_chunks.append(payload)

    async def stream_end(self) -> None:
        """End the streamed message; without a sink, replay chunks as messages."""
        if not self._active:
            return
        if self._stream_sink is not None:
            if not self._cancelled:
                await self._stream_sink({"event": "stream_end", "response_id": self.response_id})
        else:
            for chunk in self._accumulated:
                self.utter_message(**_as_utter_kwargs(chunk))
        self._accumulated = []
        self._active = False

    # ------------------------------------------------------------------ deprecated helpers

    def utter_custom_json(self, json_message: dict[str, Any], **kwargs: Any) -> None:
        """Send custom JSON (prefer ``utter_message(json_message=...)``)."""
        self.utter_message(json_message=json_message, **kwargs)

    def utter_image_url(self, image: str, **kwargs: Any) -> None:
        """Send an image (prefer ``utter_message(image=...)``)."""
        self.utter_message(image=image, **kwargs)

    def utter_attachment(self, attachment: str, **kwargs: Any) -> None:
        """Send an attachment (prefer ``utter_message(attachment=...)``)."""
        self.utter_message(attachment=attachment, **kwargs)

    def utter_button_message(self, text: str, buttons: list[dict[str, Any]], **kwargs: Any) -> None:
        """Send text with buttons (prefer ``utter_message(text=..., buttons=...)``)."""
        self.utter_message(text=text, buttons=buttons, **kwargs)

    def utter_elements(self, *elements: dict[str, Any], **kwargs: Any) -> None:
        """Send elements (prefer ``utter_message(elements=...)``)."""
        self.utter_message(elements=list(elements), **kwargs)

    def utter_custom_message(self, *elements: dict[str, Any], **kwargs: Any) -> None:
        """Send elements (prefer ``utter_message(elements=...)``)."""
        self.utter_message(elements=list(elements), **kwargs)

    def utter_template(
        self, template: str, tracker: Any, silent_fail: bool = False, **kwargs: Any
    ) -> None:
        """Send domain response ``template`` (prefer ``utter_message(response=...)``)."""
        self.utter_message(response=template, **kwargs)

    def utter_button_template(
        self,
        template: str,
        buttons: list[dict[str, Any]],
        tracker: Any,
        silent_fail: bool = False,
        **kwargs: Any,
    ) -> None:
        """Send a domain response with buttons (prefer ``utter_message(response=...)``)."""
        self.utter_message(template=template, buttons=buttons, **kwargs)


def _chunk_payload(
    text: str | None,
    image: str | None,
    json_message: dict[str, Any] | None,
    attachment: str | None,
    buttons: list[dict[str, Any]] | None,
    elements: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    if text is not None:
        payload["text"] = text
    if image is not None:
        payload["image"] = image
    if json_message:
        payload["custom"] = json_message
    if attachment is not None:
        payload["attachment"] = attachment
    if buttons:
        payload["buttons"] = buttons
    if elements:
        payload["elements"] = elements
    return payload


def _as_utter_kwargs(chunk: dict[str, Any]) -> dict[str, Any]:
    # A chunk stores custom JSON under "custom"; utter_message takes it as json_message.
    kwargs = dict(chunk)
    if "custom" in kwargs:
        kwargs["json_message"] = kwargs.pop("custom")
    return kwargs
