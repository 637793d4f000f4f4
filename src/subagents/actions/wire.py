"""Conversions between webhook dicts and the Rasa SDK's gRPC messages.

Both our gRPC server and our gRPC client use these, so a dict survives the round trip
(except that JSON numbers inside ``google.protobuf.Struct`` come back as floats, as in
the Rasa SDK). Domain lists (intents, entities, actions) travel as ``Intent`` / ``Entity``
/ ``Action`` messages with ``string_value`` or ``dict_value``; they are unwrapped again
on receipt so actions see the usual domain shape.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from google.protobuf.json_format import MessageToDict, ParseDict, ParseError

from subagents.actions.protos import action_webhook_pb2 as pb

_M = TypeVar("_M")

_TRACKER_FIELDS = (
    "sender_id",
    "slots",
    "latest_message",
    "events",
    "paused",
    "followup_action",
    "active_loop",
    "latest_action_name",
    "stack",
    "user_id",
)
_DOMAIN_LISTS = ("intents", "entities", "actions")
_DOMAIN_FIELDS = (
    "config",
    "session_config",
    "intents",
    "entities",
    "slots",
    "responses",
    "actions",
    "forms",
    "e2e_actions",
)
CHUNK_KEYS = ("text", "image", "custom", "attachment", "buttons", "elements")


def request_to_proto(payload: dict[str, Any]) -> pb.WebhookRequest:
    """A webhook call dict as a ``WebhookRequest``."""
    message: dict[str, Any] = {
        "next_action": payload.get("next_action") or "",
        "sender_id": payload.get("sender_id") or "",
        "version": payload.get("version") or "",
        "tracker": _tracker_for_wire(payload.get("tracker") or {}),
    }
    if payload.get("domain_digest"):
        message["domain_digest"] = payload["domain_digest"]
    if payload.get("domain") is not None:
        message["domain"] = _domain_for_wire(payload["domain"])
    return _parse(message, pb.WebhookRequest())


def request_from_proto(request: pb.WebhookRequest) -> dict[str, Any]:
    """A ``WebhookRequest`` as the webhook call dict the HTTP server would get."""
    payload: dict[str, Any] = MessageToDict(request, preserving_proto_field_name=True)
    tracker = payload.setdefault("tracker", {})
    tracker.setdefault("sender_id", payload.get("sender_id", ""))
    if request.HasField("domain"):
        domain = payload.get("domain", {})
        for key in _DOMAIN_LISTS:
            if key in domain:
                domain[key] = [_unwrap(item) for item in domain[key]]
        payload["domain"] = domain
    return payload


def response_to_proto(result: dict[str, Any]) -> pb.WebhookResponse:
    """``{"events", "responses"}`` as a ``WebhookResponse``."""
    body = {"events": result.get("events") or [], "responses": result.get("responses") or []}
    return _parse(body, pb.WebhookResponse())


def response_from_proto(response: pb.WebhookResponse) -> dict[str, list[dict[str, Any]]]:
    """A ``WebhookResponse`` as ``{"events", "responses"}``."""
    body = MessageToDict(response, preserving_proto_field_name=True)
    return {"events": body.get("events", []), "responses": body.get("responses", [])}


def chunk_to_proto(chunk: dict[str, Any], response_id: str) -> pb.Chunk:
    """A stream chunk payload as a ``Chunk`` (keys the message has no field for are dropped)."""
    fields = {k: chunk[k] for k in CHUNK_KEYS if chunk.get(k) is not None}
    return _parse(fields, pb.Chunk(response_id=response_id))


def chunk_from_proto(chunk: pb.Chunk) -> dict[str, Any]:
    """A ``Chunk`` as a payload dict (without ``response_id``)."""
    body: dict[str, Any] = MessageToDict(chunk, preserving_proto_field_name=True)
    body.pop("response_id", None)
    return body


def _tracker_for_wire(tracker: dict[str, Any]) -> dict[str, Any]:
    out = {k: tracker[k] for k in _TRACKER_FIELDS if tracker.get(k) is not None}
    if "sender_id" not in out and tracker.get("conversation_id"):
        out["sender_id"] = tracker["conversation_id"]
    if "latest_action_name" not in out:
        latest = (tracker.get("latest_action") or {}).get("action_name")
        if latest:
            out["latest_action_name"] = latest
    # map<string, string> on the wire: stringify values such as {"validate": true}.
    out["active_loop"] = {
        str(k): v if isinstance(v, str) else json.dumps(v)
        for k, v in (tracker.get("active_loop") or {}).items()
        if v is not None
    }
    return out


def _domain_for_wire(domain: dict[str, Any]) -> dict[str, Any]:
    out = {k: domain[k] for k in _DOMAIN_FIELDS if domain.get(k) is not None}
    for key in _DOMAIN_LISTS:
        if key in out:
            out[key] = [_wrap(item) for item in out[key]]
    if isinstance(out.get("forms"), list):  # a list of form names in older domains
        out["forms"] = {name: {} for name in out["forms"]}
    return out


def _wrap(item: Any) -> dict[str, Any]:
    return {"dict_value": item} if isinstance(item, dict) else {"string_value": str(item)}


def _unwrap(item: dict[str, Any]) -> Any:
    if "dict_value" in item:
        return item["dict_value"]
    return item.get("string_value", "")


def _parse(body: dict[str, Any], message: _M) -> _M:
    """Fill ``message`` (a protobuf message) from ``body`` and return it."""
    try:
        ParseDict(body, message, ignore_unknown_fields=True)
    except (ParseError, TypeError, ValueError):
        # Values JSON has no type for (datetime, Decimal, ...): send their string form.
        message.Clear()  # type: ignore[attr-defined]
        safe = json.loads(json.dumps(body, default=str))
        ParseDict(safe, message, ignore_unknown_fields=True)
    return message
