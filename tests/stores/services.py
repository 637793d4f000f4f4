"""The machine's PostgreSQL, Redis and RabbitMQ for tests: found, or a clear failure.

Tests that need a service call :func:`require`; a service that is not reachable fails the
test with the command that starts it (``.ci/run`` starts them before the suite). Each test
gets its own namespace on the shared servers: a PostgreSQL schema, a Redis key prefix, a
RabbitMQ queue, removed afterwards. Tests that restart an engine start their own instance
(:mod:`engines`), never the shared one.
"""

from __future__ import annotations

import socket
import uuid

import pytest

HOST = "127.0.0.1"
SERVICES = {
    "postgresql": (
        5432,
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    ),
    "redis": (
        6379,
        'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" '
        "--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log",
    ),
    "rabbitmq": (5672, "rabbitmq-server -detached"),
}
PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


def reachable(port: int, host: str = HOST, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require(name: str) -> None:
    """Fail (never skip) the test unless the machine's ``name`` service is reachable."""
    port, start = SERVICES[name]
    if not reachable(port):
        pytest.fail(
            f"{name} is not reachable at {HOST}:{port}; this test needs the real server. "
            f"Start it with: {start}   (.ci/run starts it before the suite)",
            pytrace=False,
        )


def unique(prefix: str) -> str:
    """A name no other test (or concurrent test run) uses."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"
