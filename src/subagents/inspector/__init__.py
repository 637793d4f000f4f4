"""The browser inspector: a page that talks to a conversation and lays it open live.

* :mod:`subagents.inspector.hub`: :class:`~subagents.inspector.hub.LiveHub`, the
  in-process fan-out of every turn's progress events to the open event streams;
* :mod:`subagents.inspector.routes`: the routes (``GET /inspector``, ``GET
  /conversations``, ``GET /conversations/{id}/live``);
* ``static/``: the page (HTML, CSS, vanilla JS; no build step, nothing from a CDN).

See docs/inspector.md.
"""
