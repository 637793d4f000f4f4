"""The OpenAPI 3 document of the server's REST API, served at ``GET /openapi.json``.

Written by hand (the routes are few and their shapes are the contract): a change to a
route's request or reply belongs here too. ``tests/hardening/test_fuzz.py`` fuzzes a
running ``subagents run --scripted`` against this document with schemathesis.
"""

from __future__ import annotations

from typing import Any

# ``settings`` below is a subagents.server.ServerSettings; it is not imported because
# subagents.server imports this module (the import test forbids the cycle).
ServerSettings = Any

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "field": {"type": "string"}},
}
_MESSAGE = {
    "type": "object",
    "required": ["recipient_id"],
    "properties": {
        "recipient_id": {"type": "string"},
        "text": {"type": "string"},
        "buttons": {"type": "array"},
        "image": {"type": "string"},
        "custom": {},
        "attachment": {},
    },
}
_TRACKER = {
    "type": "object",
    "required": ["sender_id", "slots", "latest_message", "events"],
    "properties": {
        "sender_id": {"type": "string"},
        "slots": {"type": "object"},
        "latest_message": {"type": "object"},
        "events": {"type": "array", "items": {"type": "object"}},
    },
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _webhook(settings: ServerSettings) -> dict[str, Any]:
    limits = settings.limits
    body = {
        "type": "object",
        "required": ["sender", "message"],
        "properties": {
            "sender": {"type": "string", "minLength": 1, "maxLength": limits.max_sender_chars},
            "message": {"type": "string", "maxLength": limits.max_message_chars},
            "metadata": {"type": "object"},
        },
    }
    messages = {"type": "array", "items": {"$ref": "#/components/schemas/Message"}}
    ok = _json("The bot messages of the turn", messages)
    ok["content"]["application/x-ndjson"] = {"schema": {"type": "string"}}
    return {
        "post": {
            "summary": "Send one user message (Rasa's REST channel)",
            "parameters": [
                {
                    "name": "stream",
                    "in": "query",
                    "required": False,
                    "description": "true: newline-delimited JSON messages as produced",
                    "schema": {"type": "string", "enum": ["true", "false"]},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": body}},
            },
            "responses": {
                "200": ok,
                "400": _error("Malformed request (field names what is wrong)"),
                "401": _error("Credentials missing or invalid (webhook protected)"),
                "403": _error("The token may not post as this sender"),
                "408": _error("The body did not arrive in time"),
                "413": _error("Body or message over the limit"),
                "503": _error("Too many turns in flight; retry after Retry-After seconds"),
            },
        }
    }


_SUMMARY = {
    "type": "object",
    "required": ["sender_id", "latest_event_time", "latest_message", "active_flow"],
    "properties": {
        "sender_id": {"type": "string"},
        "latest_event_time": {"type": "number", "nullable": True},
        "latest_message": {"type": "string", "nullable": True},
        "active_flow": {"type": "string", "nullable": True},
    },
}


def _conversations() -> dict[str, Any]:
    listing = {
        "type": "object",
        "required": ["conversations"],
        "properties": {"conversations": {"type": "array", "items": _SUMMARY}},
    }
    return {
        "get": {
            "summary": "The saved conversations, newest first",
            "parameters": [
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "description": "keep the newest N (default 100)",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                }
            ],
            "responses": {
                "200": _json("The conversations", listing),
                "400": _error("limit is not a whole number from 1 to 1000"),
                "401": _error("Credentials missing or invalid"),
                "403": _error("The token may not list conversations (admin only)"),
            },
        }
    }


def _live(summary: str, with_id: bool) -> dict[str, Any]:
    parameters = [
        {"name": "conversation_id", "in": "path", "required": True, "schema": {"type": "string"}}
    ]
    return {
        "get": {
            "summary": summary,
            "parameters": parameters if with_id else [],
            "responses": {
                "200": {
                    "description": "Server-Sent Events (docs/rest-api.md)",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                },
                "401": _error("Credentials missing or invalid"),
                "403": _error("The token may not read this conversation"),
            },
        }
    }


def _prompt() -> dict[str, Any]:
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in ("conversation_id", "call_id")
    ]
    prompt = {
        "type": "object",
        "required": ["messages", "tools"],
        "properties": {
            "messages": {"type": "array", "items": {"type": "object"}},
            "tools": {"type": "array", "items": {"type": "string"}},
        },
    }
    return {
        "get": {
            "summary": "What one model call was sent (kept in memory, latest 500)",
            "parameters": parameters,
            "responses": {
                "200": _json("The request's messages and the tools offered", prompt),
                "401": _error("Credentials missing or invalid"),
                "403": _error("The token may not read this conversation"),
                "404": _error("The prompt is not kept"),
            },
        }
    }


def openapi_document(settings: ServerSettings) -> dict[str, Any]:
    """The OpenAPI 3.0 document for a server with ``settings`` (limits, auth)."""
    auth = settings.auth.enabled
    tracker: dict[str, Any] = {
        "get": {
            "summary": "The conversation's slots and events",
            "parameters": [
                {
                    "name": "conversation_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                }
            ],
            "responses": {
                "200": _json("The tracker", {"$ref": "#/components/schemas/Tracker"}),
                "401": _error("Credentials missing or invalid"),
                "403": _error("The token may not read this conversation"),
            },
        }
    }
    if auth:
        tracker["get"]["security"] = [{"bearer": []}, {"token": []}]
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "subagents", "version": "1"},
        "paths": {
            "/health": {
                "get": {
                    "summary": "Liveness",
                    "responses": {"200": _json("Alive", {"type": "object"})},
                }
            },
            "/ready": {
                "get": {
                    "summary": "Readiness: stores and MCP servers",
                    "responses": {
                        "200": _json("Ready", {"type": "object"}),
                        "503": _json("A required part is down", {"type": "object"}),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics (endpoints.yml `metrics: {type: prometheus}`)",
                    "responses": {
                        "200": {
                            "description": "Prometheus text exposition format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        "404": _error("Metrics are not switched on"),
                    },
                }
            },
            "/webhooks/rest/webhook": _webhook(settings),
            "/conversations": _conversations(),
            "/conversations/{conversation_id}/tracker": tracker,
        },
        "components": {"schemas": {"Error": _ERROR, "Message": _MESSAGE, "Tracker": _TRACKER}},
    }
    if getattr(settings, "inspector", False):
        paths = doc["paths"]
        paths["/conversations/{conversation_id}/live"] = _live(
            "One conversation's live events", True
        )
        paths["/inspector/live"] = _live("Every conversation's live events", False)
        paths["/conversations/{conversation_id}/prompts/{call_id}"] = _prompt()
        paths["/inspector"] = {
            "get": {
                "summary": "The inspector page",
                "responses": {
                    "200": {
                        "description": "HTML",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    },
                    "401": _error("Credentials missing or invalid"),
                },
            }
        }
    if auth:
        for path, item in doc["paths"].items():
            if path.startswith(("/conversations", "/inspector")):
                item["get"]["security"] = [{"bearer": []}, {"token": []}]
        doc["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"},
            "token": {"type": "apiKey", "in": "query", "name": "token"},
        }
        if settings.auth.protect_webhook:
            doc["paths"]["/webhooks/rest/webhook"]["post"]["security"] = [
                {"bearer": []},
                {"token": []},
            ]
    return doc
