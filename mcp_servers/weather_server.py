"""Example MCP server: weather and local time for a handful of cities (deterministic data).

Started over stdio by the framework (see endpoints.yml); run ``python weather_server.py``
to serve stdio by hand. No network access: the data is made up but stable, so offline
scenarios and tests always see the same answers.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

server = MCPServer("weather", version="1.0")

CITIES: dict[str, dict[str, object]] = {
    "berlin": {"timezone": "Europe/Berlin", "temperature_c": 14.0, "conditions": "cloudy"},
    "lisbon": {"timezone": "Europe/Lisbon", "temperature_c": 23.0, "conditions": "sunny"},
    "london": {"timezone": "Europe/London", "temperature_c": 12.0, "conditions": "rain"},
    "new york": {"timezone": "America/New_York", "temperature_c": 18.0, "conditions": "windy"},
    "paris": {"timezone": "Europe/Paris", "temperature_c": 17.0, "conditions": "sunny"},
    "tokyo": {"timezone": "Asia/Tokyo", "temperature_c": 21.0, "conditions": "humid"},
}
_FORECAST_PATTERN = ["sunny", "cloudy", "rain", "sunny", "windy", "cloudy", "sunny"]


def _city(name: str) -> dict[str, object]:
    data = CITIES.get(name.strip().lower())
    if data is None:
        known = ", ".join(sorted(c.title() for c in CITIES))
        raise ToolError(f"Unknown city '{name}'. Known cities: {known}.")
    return data


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def get_weather(city: str) -> str:
    """Current weather for a city: temperature in °C and conditions."""
    data = _city(city)
    return f"{city.title()}: {data['temperature_c']:.0f}°C, {data['conditions']}"


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def get_forecast(city: str, days: int = 3) -> str:
    """Daily forecast for the next 1-7 days."""
    if not 1 <= days <= 7:
        raise ToolError("days must be between 1 and 7")
    data = _city(city)
    base = float(data["temperature_c"])  # type: ignore[arg-type]
    lines = [
        f"day {i + 1}: {base + (i % 3) - 1:.0f}°C, {_FORECAST_PATTERN[(i + len(city)) % 7]}"
        for i in range(days)
    ]
    return f"Forecast for {city.title()}:\n" + "\n".join(lines)


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def get_local_time(city: str) -> str:
    """Current local time in a city (ISO 8601)."""
    zone = ZoneInfo(str(_city(city)["timezone"]))
    return dt.datetime.now(zone).isoformat(timespec="minutes")


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def list_cities() -> list[str]:
    """The cities this server knows."""
    return sorted(c.title() for c in CITIES)


if __name__ == "__main__":
    server.run()
