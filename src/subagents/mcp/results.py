"""Turn an MCP ``CallToolResult`` into the text a model reads.

Rules (see docs/mcp.md):

* text blocks are joined with blank lines;
* ``structuredContent`` is sent (as compact JSON) only when the result has no content for
  the model: real servers put the same data in both (filesystem: ``{"content": text}``,
  memory: ``{"entities": [...]}``, SDK-built tools: ``{"result": x}``), and sending both
  doubles what the model reads; long base64 strings in it are described, never pasted;
* images, audio and binary resources are described by type and size, never pasted as
  base64; embedded text resources are included with their URI; resource links are
  described;
* content whose ``audience`` is only ``["user"]`` is not sent to the model;
* ``isError`` is kept as :attr:`ToolOutcome.is_error` with its text;
* text over :data:`MAX_RESULT_CHARS` is truncated with a note saying so.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import mcp_types as types

from subagents.tools.base import MAX_RESULT_CHARS, ToolOutcome, truncate_for_model


def result_to_outcome(
    result: types.CallToolResult, *, max_chars: int = MAX_RESULT_CHARS
) -> ToolOutcome:
    """Convert one ``CallToolResult`` into a :class:`ToolOutcome` for the model."""
    parts = [_block_text(block) for block in result.content if _for_model(block)]
    texts = [p for p in parts if p]
    structured = result.structured_content
    if structured is not None and not texts:
        texts.append(_compact_json(_without_media(structured)))
    text = "\n\n".join(texts)
    if not text and not result.content and structured is None:
        text = "(the tool returned no content)"
    elif not text:
        text = "(the tool returned content meant for the user only)"
    text = truncate_for_model(text, max_chars)
    return ToolOutcome(text=text, is_error=bool(result.is_error), structured=structured, raw=result)


def _for_model(block: Any) -> bool:
    """False for content addressed to the user only (``audience: ["user"]``)."""
    annotations = getattr(block, "annotations", None)
    audience: Sequence[str] | None = getattr(annotations, "audience", None)
    return not audience or "assistant" in audience


def _block_text(block: Any) -> str:
    match block:
        case types.TextContent():
            return block.text
        case types.ImageContent():
            return f"[image: {block.mime_type}, {_size(_decoded_len(block.data))}]"
        case types.AudioContent():
            return f"[audio: {block.mime_type}, {_size(_decoded_len(block.data))}]"
        case types.EmbeddedResource():
            return _resource_text(block.resource)
        case types.ResourceLink():
            return _link_text(block)
    kind = getattr(block, "type", type(block).__name__)
    return f"[{kind} content]"


def _resource_text(resource: Any) -> str:
    mime = getattr(resource, "mime_type", None) or "unknown type"
    if isinstance(resource, types.TextResourceContents):
        return f"[resource {resource.uri} ({mime})]\n{resource.text}"
    blob = getattr(resource, "blob", "") or ""
    return f"[binary resource {resource.uri}: {mime}, {_size(_decoded_len(blob))}]"


def _link_text(link: types.ResourceLink) -> str:
    details = [link.mime_type or "", _size(link.size) if link.size is not None else ""]
    described = ", ".join(d for d in details if d)
    desc = f": {link.description}" if link.description else ""
    extra = f" ({described})" if described else ""
    return f"[resource link {link.name} <{link.uri}>{extra}{desc}]"


_BASE64_MIN = 512
_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_\n")


def _without_media(value: Any) -> Any:
    """``value`` with long base64 strings (media a server also put here) described."""
    if isinstance(value, dict):
        return {k: _without_media(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_media(v) for v in value]
    if isinstance(value, str) and len(value) >= _BASE64_MIN and set(value) <= _BASE64_CHARS:
        return f"[base64 data, {_size(_decoded_len(value))}]"
    return value


def _decoded_len(data: str) -> int:
    """Byte length of base64 data, computed without decoding it."""
    stripped = data.strip()
    if not stripped:
        return 0
    return len(stripped) * 3 // 4 - stripped[-2:].count("=")


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"


def _compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
