"""Where a project keeps its files, including Rasa's usual places, and what is ignored.

Read: ``domain.yml`` and every ``*.yml`` under ``domain/`` (merged, as Rasa merges a
domain folder); ``flows.yml`` and every ``*.yml`` under ``data/`` that has ``flows:``.
Named as ignored (a warning each): Rasa's ``config.yml`` and ``credentials.yml``, and the
files under ``data/`` without flows (NLU data, stories, rules).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

DOMAIN_FILE = "domain.yml"
DOMAIN_DIR = "domain"
FLOWS_FILE = "flows.yml"
DATA_DIR = "data"

IGNORED_FILES: dict[str, str] = {
    "config.yml": (
        "ignored: Rasa's NLU pipeline and policies are not used; an LLM routes each message"
        " to a flow (model group 'router', else the first group in endpoints.yml)"
    ),
    "credentials.yml": (
        "ignored: channels are not configured here; `subagents run` serves the REST channel"
        " and `subagents shell` the terminal"
    ),
}
"""Rasa project files at the project root that subagents does not read, and why."""

_DATA_KINDS = {
    "nlu": "NLU training data",
    "stories": "stories",
    "rules": "rules",
    "responses": "responses (put them in domain.yml)",
}


def yaml_files(folder: Path) -> list[Path]:
    """``*.yml`` and ``*.yaml`` files under ``folder`` (recursively), in a stable order.

    Hidden files and folders (``.``) are skipped.
    """
    if not folder.is_dir():
        return []
    found = [
        p
        for p in folder.rglob("*")
        if p.suffix in (".yml", ".yaml")
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    return sorted(found)


def relative(root: Path, path: Path) -> str:
    """``path`` relative to the project, with ``/`` separators (as problems name files)."""
    return path.relative_to(root).as_posix()


def top_level_keys(path: Path) -> set[str] | None:
    """The top-level keys of a YAML file; None when it cannot be read as a mapping."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (YAMLError, OSError, UnicodeDecodeError):
        return None
    return {str(k) for k in data} if isinstance(data, dict) else None


def ignored_data_file(keys: set[str] | None) -> str:
    """Why a ``data/`` file without ``flows:`` is not read."""
    if keys is None:
        return "ignored: not a YAML mapping with flows:"
    kinds = [label for key, label in _DATA_KINDS.items() if key in keys]
    what = ", ".join(kinds) if kinds else "no flows:"
    return (
        f"ignored ({what}): only flows are read from data/; an LLM routes each message to a"
        " flow by the flows' descriptions, so NLU data, stories and rules are not used"
    )


def custom_actions(domain: Any, flows: Any) -> set[str]:
    """Custom actions a project names: ``actions:`` of the domain and ``action:`` steps
    that are not responses."""
    names = set(domain.actions)
    for flow in flows.flows.values():
        for step in _steps(flow.steps):
            if step.action and not step.action.startswith("utter_"):
                names.add(step.action)
    return names


def _steps(steps: Iterable[Any]) -> Iterable[Any]:
    for step in steps:
        yield step
        for branch in step.next if isinstance(step.next, list) else []:
            for target in (branch.then, branch.else_):
                if isinstance(target, list):
                    yield from _steps(target)


def plural(count: int, noun: str) -> str:
    """``1 agent``, ``3 agents``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
