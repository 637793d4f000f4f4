"""Rate-limited logging of conditions that can repeat thousands of times a second.

A server out of file descriptors, or full, would otherwise write one line (often with a
traceback) per refused connection: megabytes a minute, while the disk is what keeps the
server alive. :class:`ThrottledLog` writes the first occurrence at once and then at most
one line per ``interval`` seconds, carrying the number of occurrences since the last line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any


class ThrottledLog:
    """Log ``event`` at most once per ``interval`` seconds, with a ``count`` field."""

    def __init__(
        self,
        logger: logging.Logger,
        event: str,
        *,
        level: int = logging.WARNING,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.event = event
        self.level = level
        self.interval = interval
        self._clock = clock
        self._last: float | None = None
        self._count = 0
        self.total = 0

    def hit(self, **fields: Any) -> bool:
        """Count one occurrence; log it (True) unless a line went out within ``interval``."""
        self._count += 1
        self.total += 1
        now = self._clock()
        if self._last is not None and now - self._last < self.interval:
            return False
        self.logger.log(
            self.level,
            self.event,
            extra={**fields, "count": self._count, "per_seconds": self.interval},
        )
        self._count = 0
        self._last = now
        return True
