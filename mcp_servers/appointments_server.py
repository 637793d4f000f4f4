"""Example MCP server: a small appointment book for a hair salon.

Started over stdio by the framework (see endpoints.yml). Free slots are generated
deterministically; bookings live in memory for the life of the process.
``cancel_appointment`` exists to show ``exclude_tools``: the booking agent cannot call it.
"""

from __future__ import annotations

import datetime as dt
import itertools

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

server = MCPServer("appointments", version="1.0")

SERVICES = {"haircut": 30, "coloring": 90, "beard trim": 15}
_OPENING_TIMES = ["09:00", "10:30", "13:00", "15:30", "17:00"]
_bookings: dict[str, dict[str, str]] = {}
_ids = itertools.count(1001)


def _parse_date(date: str) -> dt.date:
    try:
        return dt.date.fromisoformat(date)
    except ValueError:
        raise ToolError(f"'{date}' is not a date; use YYYY-MM-DD") from None


def _free_times(day: dt.date) -> list[str]:
    if day.weekday() == 6:
        return []  # closed on Sundays
    taken = {b["time"] for b in _bookings.values() if b["date"] == day.isoformat()}
    # A deterministic pattern so scenarios are reproducible: every day drops one slot.
    pattern = [t for i, t in enumerate(_OPENING_TIMES) if i != day.toordinal() % 5]
    return [t for t in pattern if t not in taken]


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def list_services() -> dict[str, int]:
    """Services offered and their duration in minutes."""
    return dict(SERVICES)


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def check_availability(date: str) -> str:
    """Free appointment times on a date (YYYY-MM-DD)."""
    day = _parse_date(date)
    times = _free_times(day)
    if not times:
        return f"No free times on {day.isoformat()} (the salon is closed on Sundays)."
    return f"Free times on {day.isoformat()}: {', '.join(times)}"


@server.tool(annotations=ToolAnnotations(destructiveHint=False, idempotentHint=False))
def book_appointment(customer_name: str, service: str, date: str, time: str) -> str:
    """Book an appointment; returns the booking id."""
    if service not in SERVICES:
        raise ToolError(f"Unknown service '{service}'. Services: {', '.join(SERVICES)}.")
    day = _parse_date(date)
    if time not in _free_times(day):
        raise ToolError(f"{time} on {day.isoformat()} is not free; check availability first.")
    booking_id = f"A{next(_ids)}"
    _bookings[booking_id] = {
        "customer_name": customer_name,
        "service": service,
        "date": day.isoformat(),
        "time": time,
    }
    return f"Booked {service} for {customer_name} on {day.isoformat()} at {time} (id {booking_id})."


@server.tool(annotations=ToolAnnotations(destructiveHint=True))
def cancel_appointment(booking_id: str) -> str:
    """Cancel a booking by id."""
    if _bookings.pop(booking_id, None) is None:
        raise ToolError(f"No booking with id '{booking_id}'.")
    return f"Cancelled booking {booking_id}."


if __name__ == "__main__":
    server.run()
