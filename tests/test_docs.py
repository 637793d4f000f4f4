"""The documentation's examples are true: every page of docs/ and the README is read, and

* every YAML block is validated by the loader of the file it shows (endpoints.yml,
  domain.yml, flows.yml, a sub agent's config.yml, a scenario; a list of flow steps),
* every Python block compiles, its ``subagents`` imports resolve, and blocks that only
  define things are executed,
* every ``subagents ...`` command line (in shell blocks and in the CLI page's inline code)
  is parsed by the real CLI, and every option of every command is documented,
* every relative link points at a file (and heading) that exists.

A block the harness cannot classify fails, so a new example is never silently unchecked.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import importlib.util
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer.main
from ruamel.yaml import YAML

from subagents.channels.script import load_conversation_script
from subagents.cli import app
from subagents.conditions import parse_condition
from subagents.config.loader import load_project
from subagents.config.models import (
    AgentConfig,
    DomainConfig,
    EndpointsConfig,
    FlowsConfig,
    FlowStep,
)
from subagents.config.source import Problems, read_yaml, validate_model
from subagents.dialogue.flows import compile_flow
from subagents.testing.cases import check_against_project, load_test_file

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```([\w+-]*)[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
VAR = re.compile(r"\$\{(\w+)(:-[^}]*)?\}")


@dataclass
class Block:
    page: Path
    line: int
    lang: str
    text: str

    def __str__(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


def _blocks(lang: str | None = None) -> list[Block]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            block = Block(page, text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2))
            if lang is None or block.lang == lang:
                found.append(block)
    return found


def _ids(blocks: list[Block]) -> list[str]:
    return [str(b) for b in blocks]


# --------------------------------------------------------------------------- YAML

ENDPOINT_KEYS = set(EndpointsConfig.model_fields)
AGENT_KEYS = set(AgentConfig.model_fields)
DOMAIN_KEYS = set(DomainConfig.model_fields)
YAML_BLOCKS = _blocks("yaml")


def _yaml_env(text: str) -> dict[str, str]:
    """A value for every ``${VAR}`` without a default, so each block loads as written."""
    return {m.group(1): "docs-example-value" for m in VAR.finditer(text) if not m.group(2)}


def _load_as(block: Block, model: type, tmp: Path) -> Any:
    file = tmp / "example.yml"
    file.write_text(block.text, encoding="utf-8")
    problems = Problems()
    src = read_yaml(file, str(block), problems, env=_yaml_env(block.text))
    assert src is not None, [str(p) for p in problems.items]
    parsed = validate_model(model, src, problems)
    errors = [str(p) for p in problems.items if p.severity == "error"]
    assert not errors, f"{block}: {errors}"
    return parsed


def _conditions(data: Any) -> Iterator[str]:
    """Every ``exit_if`` item and ``if:`` value in a piece of flow YAML."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "if" and isinstance(value, str):
                yield value
            elif key == "exit_if" and isinstance(value, list):
                yield from (v for v in value if isinstance(v, str))
            else:
                yield from _conditions(value)
    elif isinstance(data, list):
        for item in data:
            yield from _conditions(item)


def _check_steps(steps: list[Any]) -> None:
    """A fragment of a flow: each step is a valid FlowStep and every condition parses."""
    for step in steps:
        FlowStep.model_validate(step)
    conditions = list(_conditions(steps))
    assert conditions
    for text in conditions:
        parse_condition(text)


@pytest.mark.parametrize("block", YAML_BLOCKS, ids=_ids(YAML_BLOCKS))
def test_yaml_examples_load(block: Block, tmp_path: Path) -> None:
    data = YAML(typ="safe").load(block.text)
    if isinstance(data, list):
        _check_steps(data)
        return
    assert isinstance(data, dict), f"{block}: a YAML example must be a mapping or a list"
    keys = set(data)
    if "test_cases" in keys:
        # A conversation test file (`subagents test`), checked against the example project.
        file = tmp_path / "tests.yml"
        file.write_text(block.text, encoding="utf-8")
        problems = check_against_project(load_test_file(file), load_project(REPO))
        assert not problems, [str(p) for p in problems]
    elif "scenario" in keys:
        # What `subagents shell --scripted FILE` reads (a scenario, maybe with user turns).
        file = tmp_path / "scenario.yml"
        file.write_text(block.text, encoding="utf-8")
        assert load_conversation_script(file).path == file
    elif "flows" in keys:
        flows = _load_as(block, FlowsConfig, tmp_path)
        for flow_id, flow in flows.flows.items():
            _, problems = compile_flow(flow_id, flow)
            assert not [p for p in problems if p.severity == "error"], (block, problems)
    elif keys <= ENDPOINT_KEYS:
        _load_as(block, EndpointsConfig, tmp_path)
    elif keys <= AGENT_KEYS:
        _load_as(block, AgentConfig, tmp_path)
    elif keys <= DOMAIN_KEYS:
        _load_as(block, DomainConfig, tmp_path)
    else:
        pytest.fail(f"{block}: cannot tell which file this YAML example shows: {sorted(keys)}")


# --------------------------------------------------------------------------- Python

PY_BLOCKS = _blocks("python")


def _runs_something(tree: ast.Module) -> bool:
    """True when executing the block would do more than define names (await, run, I/O)."""
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.ClassDef):
            continue
        if isinstance(node, ast.AsyncFunctionDef):
            continue
        if isinstance(node, ast.Assign) and not any(
            isinstance(n, ast.Call | ast.Await) for n in ast.walk(node.value)
        ):
            continue
        return True
    return False


# Packages a docs example may use that are not subagents' dependencies: the Rasa SDK
# example (docs/actions.md) runs for real in tests/actions/test_actions_rasa_sdk_inprocess.py,
# with the real rasa-sdk of the interop venv.
OPTIONAL_PACKAGES = frozenset({"rasa_sdk"})


def _missing_optional(node: ast.Import | ast.ImportFrom) -> bool:
    names = (
        [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
    )
    tops = {name.split(".")[0] for name in names} & OPTIONAL_PACKAGES
    return any(importlib.util.find_spec(top) is None for top in tops)


@pytest.mark.parametrize("block", PY_BLOCKS, ids=_ids(PY_BLOCKS))
def test_python_examples_compile_and_import(block: Block) -> None:
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT | ast.PyCF_ONLY_AST
    tree = compile(block.text, str(block), "exec", flags=flags, dont_inherit=True)
    assert isinstance(tree, ast.Module)
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    missing = [n for n in imports if _missing_optional(n)]
    for node in imports:
        if node not in missing:
            exec(compile(ast.Module([node], []), str(block), "exec"), namespace)
    if not _runs_something(tree) and not missing:
        exec(compile(tree, str(block), "exec"), namespace)


# --------------------------------------------------------------------------- other blocks


@pytest.mark.parametrize("block", _blocks("toml"), ids=_ids(_blocks("toml")))
def test_toml_examples_parse(block: Block) -> None:
    tomllib.loads(block.text)


def test_every_block_has_a_known_language() -> None:
    # "" is sample output (what the user sees), checked by the tests of that behaviour.
    known = {"", "yaml", "python", "bash", "toml"}
    odd = [f"{b}: ```{b.lang}" for b in _blocks() if b.lang not in known]
    assert not odd


# --------------------------------------------------------------------------- commands

ROOT_COMMAND = typer.main.get_command(app)


def _command_lines(text: str) -> Iterator[str]:
    """Shell lines, continuations joined, comments and prompt markers removed."""
    joined = re.sub(r"\\\n\s*", " ", text)
    for raw in joined.splitlines():
        line = raw.strip()
        if line.startswith("$ "):
            line = line[2:]
        for part in re.split(r"\s*&&\s*", line):
            words = shlex.split(part, comments=True)
            if words:
                yield shlex.join(words)


def _parse(words: list[str]) -> Any:
    """Parse ``subagents ...`` like the console script; raises a usage error if wrong."""
    cmd: Any = ROOT_COMMAND
    name = "subagents"
    rest = list(words)
    # Descend through (sub)groups by name, then let the command parse its own options.
    while hasattr(cmd, "commands") and rest and not rest[0].startswith("-"):
        sub = cmd.commands.get(rest[0])
        assert sub is not None, f"`{name}` has no command {rest[0]!r}"
        name, cmd, rest = f"{name} {rest[0]}", sub, rest[1:]
    return cmd.make_context(name, rest)


def _shell_commands() -> list[tuple[str, list[str]]]:
    found = []
    for block in _blocks("bash") + _readme_dollar_lines():
        for line in _command_lines(block.text):
            words = shlex.split(line)
            if words[0] == "subagents" or words[:2] == ["python", "-m"]:
                found.append((f"{block}: {line}", words))
    return found


def _readme_dollar_lines() -> list[Block]:
    """The README's indented set-up commands (``    $ ...``)."""
    text = PAGES[0].read_text(encoding="utf-8")
    lines = re.findall(r"^    \$ (.+)$", text, re.MULTILINE)
    return [Block(PAGES[0], 1, "bash", line) for line in lines]


SHELL = _shell_commands()


@pytest.mark.parametrize(("where", "words"), SHELL, ids=[w for w, _ in SHELL])
def test_shell_examples_use_real_commands_and_options(where: str, words: list[str]) -> None:
    if words[0] == "subagents":
        try:
            _parse(words[1:])
        except Exception as exc:  # typer's (vendored) click usage errors
            pytest.fail(f"{where}: {getattr(exc, 'format_message', exc.__str__)()}")
        return
    module = words[2]
    assert module.startswith(("subagents.", "benchmarks.")), where
    code, helped = _module_help(module)
    assert code == 0, f"{where}: {helped}"
    for option in (w.split("=")[0] for w in words[3:] if w.startswith("--")):
        assert option in helped, f"{where}: {module} has no option {option}"


@functools.cache
def _module_help(module: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, done.stdout + done.stderr


def _commands() -> dict[str, Any]:
    """Every command by its name; a group's commands as ``group sub`` (``mcp serve``)."""
    found: dict[str, Any] = {}
    for name, cmd in ROOT_COMMAND.commands.items():  # type: ignore[attr-defined]
        subs = getattr(cmd, "commands", None)
        if subs:
            found.update({f"{name} {sub}": subcmd for sub, subcmd in subs.items()})
        else:
            found[name] = cmd
    return found


def test_cli_page_documents_every_command_and_option() -> None:
    page = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    spans = re.findall(r"`(subagents [^`]+)`", page)
    commands = _commands()
    documented: dict[str, set[str]] = {}
    for span in spans:
        words = span.split()
        name = " ".join(words[1:3]) if " ".join(words[1:3]) in commands else words[1]
        documented.setdefault(name, set()).update(
            w.strip("[]").split("=")[0] for w in words[2:] if w.strip("[").startswith("-")
        )
    for name, cmd in commands.items():
        assert name in documented, f"docs/cli.md does not show `subagents {name} ...`"
        for param in cmd.params:
            if param.param_type_name != "option" or param.hidden:
                continue
            if param.name in ("help", "project"):
                continue  # --project is described once for every command
            shown = documented[name] & set(param.opts + param.secondary_opts)
            assert shown, f"docs/cli.md: `subagents {name}` does not show {param.opts[0]}"
        real = {o for p in cmd.params for o in (*p.opts, *getattr(p, "secondary_opts", []))}
        stale = sorted(documented[name] - real - {"--help"})
        assert not stale, f"docs/cli.md: `subagents {name}` has no option {stale}"


# --------------------------------------------------------------------------- links

LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchors(page: Path) -> set[str]:
    """GitHub's heading ids (lower case, punctuation dropped, spaces to dashes); "" = the page."""
    anchors = {""}
    in_code = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if in_code or not line.startswith("#"):
            continue
        title = line.lstrip("#").strip().lower()
        anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_relative_links_point_at_existing_pages_and_headings(page: Path) -> None:
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # http:, https:, mailto:
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists() or (file.suffix == ".md" and anchor not in _anchors(file)):
            broken.append(target)
    assert not broken, f"{page.relative_to(REPO)}: broken links {broken}"


def test_readme_lists_every_docs_page() -> None:
    readme = PAGES[0].read_text(encoding="utf-8")
    missing = [p.name for p in PAGES[1:] if f"(docs/{p.name})" not in readme]
    assert not missing, f"add a line for each to the README's documentation table: {missing}"


# --------------------------------------------------------------------------- runnable


async def test_the_testing_pages_pytest_example_passes_on_the_example_project(
    scripted_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/testing.md's `tests/test_weather.py` runs as written, from the repository root."""
    (block,) = [b for b in PY_BLOCKS if b.text.startswith("# tests/test_weather.py")]
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(block.text, str(block), "exec"), namespace)
    monkeypatch.chdir(REPO)
    await asyncio.wait_for(namespace["test_weather_flow"](scripted_model), timeout=60)


def test_switching_to_the_http_action_server_says_what_happens_to_streaming() -> None:
    """Where the switch is suggested (the example's endpoints.yml, the scaffold's, the
    action server docs), the HTTP fallback is explained and grpc:// recommended."""
    scaffold = REPO / "src" / "subagents" / "scaffold" / "project" / "endpoints.yml"
    for file in (REPO / "endpoints.yml", scaffold):
        text = " ".join(line.lstrip("# ") for line in file.read_text().splitlines())
        assert "each chunk arrives as its own bot message" in text, file
        assert "prefer grpc:// for actions that stream" in text, file
    actions = (REPO / "docs" / "actions.md").read_text()
    assert "**Streaming actions: use gRPC.**" in actions
    assert "becomes **its own bot message**" in actions
