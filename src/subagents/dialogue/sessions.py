"""Sessions: ``session_config`` in domain.yml, as Rasa's.

.. code-block:: yaml

    session_config:
      session_expiration_time: 60            # minutes of silence; 0 = never expires
      carry_over_slots_to_new_session: true

A message that arrives more than ``session_expiration_time`` minutes after the
conversation's latest event starts a new session before it is handled:

* the dialogue stack is cancelled (a waiting agent gets ``agent_cancelled``) and the
  recent messages the router and agents see are forgotten;
* ``action_session_start`` runs: the built-in one logs the ``action`` event and
  ``session_started``, then resets the slots unless ``carry_over_slots_to_new_session``;
  a custom ``action_session_start`` (listed under ``actions:``) runs after it and may set
  slots;
* ``pattern_session_start`` runs when the project defines it (e.g. a greeting).

The first message of a conversation starts its first session only when the project
defines ``action_session_start`` or ``pattern_session_start`` (there is nothing to
expire, and conversations without them keep their event log unchanged).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("subagents.dialogue.sessions")

ACTION_SESSION_START = "action_session_start"


@dataclass(frozen=True)
class SessionConfig:
    """The two keys of ``session_config`` (Rasa's defaults: 60 minutes, carry over)."""

    expiration_minutes: float = 60.0
    carry_over_slots: bool = True

    @classmethod
    def of(cls, data: Mapping[str, Any] | None) -> SessionConfig:
        """Read ``session_config`` (values checked by ``subagents validate``)."""
        data = data or {}
        minutes = data.get("session_expiration_time", 60)
        carry = data.get("carry_over_slots_to_new_session", True)
        valid = isinstance(minutes, int | float) and not isinstance(minutes, bool)
        return cls(float(minutes) if valid else 60.0, carry is not False)

    def expired(self, latest: float | None, now: float) -> bool:
        """Whether a message at ``now`` starts a new session after ``latest``."""
        if latest is None or self.expiration_minutes <= 0:
            return False
        return now - latest > self.expiration_minutes * 60


__all__ = ["ACTION_SESSION_START", "SessionConfig"]
