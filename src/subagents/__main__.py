"""``python -m subagents`` runs the ``subagents`` command."""

from __future__ import annotations

from subagents.cli import main

if __name__ == "__main__":
    main()
