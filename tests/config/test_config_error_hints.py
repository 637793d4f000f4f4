"""Error messages found by a new-user walkthrough: no cascades, fix hints, did-you-mean."""

from __future__ import annotations

import uuid
from pathlib import Path

from config_helpers import (
    AGENT,
    DOMAIN,
    ENV,
    assert_problem,
    good_project,
    isolated_imports,
    problems,
    write,
)

from subagents.agents.classes import check_agent_module
from subagents.config import load_project
from subagents.dialogue.domain import Domain
from subagents.errors import ConfigProblem

AGENT_FILE = "sub_agents/stock_explorer/config.yml"


def _lines(found: list[ConfigProblem]) -> str:
    return "\n".join(str(p) for p in found)


# --------------------------------------------------------------------------- item 1


def test_one_bad_slot_type_does_not_cascade_into_flows(tmp_path: Path) -> None:
    # flows.yml uses slots.category in a condition, and every response and action.
    good_project(tmp_path, {"domain.yml": DOMAIN.replace("type: categorical", "type: categorial")})

    assert_problem(
        problems(tmp_path),
        "domain.yml",
        8,
        "slots.category.type",
        "(got 'categorial'); did you mean 'categorical'?",
    )


def test_misindented_slot_setting_gets_a_hint_and_no_cascade(tmp_path: Path) -> None:
    domain = DOMAIN.replace("  age:\n    type: float", "  age:\n  type: float")
    good_project(tmp_path, {"domain.yml": domain})
    found = problems(tmp_path)

    assert [(p.file, p.line) for p in found] == [("domain.yml", 5), ("domain.yml", 6)], _lines(
        found
    )
    assert found[0].message == (
        "slots.age: should be a mapping; nothing is indented under 'age':"
        " indent its settings under it"
    )
    assert found[1].message == (
        "slots.type: should be a mapping (got 'float'); is `type` indented under its slot name?"
    )


def test_broken_domain_yaml_reports_only_the_yaml_error(tmp_path: Path) -> None:
    good_project(tmp_path, {"domain.yml": DOMAIN.replace("    type: float", "\ttype: float")})
    found = problems(tmp_path)

    assert len(found) == 1, _lines(found)
    assert str(found[0]).startswith("domain.yml:6: invalid YAML: ")
    assert "line 6 contains a tab character; YAML needs spaces" in found[0].message


def test_misspelt_domain_section_does_not_cascade(tmp_path: Path) -> None:
    good_project(tmp_path, {"domain.yml": DOMAIN.replace("responses:", "respones:")})

    assert_problem(problems(tmp_path), "domain.yml", 12, "respones", "did you mean 'responses'?")


def test_valid_parts_of_a_broken_domain_are_still_checked(tmp_path: Path) -> None:
    flows = """
    flows:
      main:
        steps:
          - collect: user_nam
          - action: utter_gone
          - set_slots:
              - confirmed: maybe
    """
    domain = DOMAIN.replace("type: categorical", "type: categorial")
    good_project(tmp_path, {"domain.yml": domain, "flows.yml": flows})
    found = [str(p) for p in problems(tmp_path) if p.severity == "error"]

    assert found == [
        "domain.yml:8: slots.category.type: should be 'text', 'bool', 'float', 'categorical',"
        " 'list' or 'any' (got 'categorial'); did you mean 'categorical'?",
        "flows.yml:4: flows.main.steps[0].collect: unknown slot 'user_nam'; did you mean"
        " 'user_name'? (declare it under slots: in domain.yml)",
        "flows.yml:5: flows.main.steps[1].action: response 'utter_gone' is not defined;"
        " did you mean 'utter_done'? (add it under responses: in domain.yml)",
        "flows.yml:7: flows.main.steps[2].set_slots[0].confirmed: 'maybe' does not fit slot"
        " 'confirmed' of type bool",
    ]


# --------------------------------------------------------------------------- item 2


def test_yaml_indentation_error_gets_a_fix_hint(tmp_path: Path) -> None:
    agent = AGENT.replace("  timeout: 30", "   timeout: 30")
    good_project(tmp_path, {AGENT_FILE: agent})
    found = problems(tmp_path)

    assert len(found) == 1, _lines(found)
    assert str(found[0]).startswith(f"{AGENT_FILE}:8: invalid YAML: ")
    assert found[0].message.endswith(
        "; check the indentation: use spaces, not tabs; one `key: value` per line, nested"
        " keys indented further than their parent (quote values that contain ': ' or ' #')"
    )


def test_unclosed_bracket_names_where_it_opened(tmp_path: Path) -> None:
    write(tmp_path, {"endpoints.yml": "mcp_servers: [\n  {name: a}\n"})
    found = problems(tmp_path)

    assert "the '[' or '{' opened on line 1 is not closed" in found[0].message


def test_duplicate_key_says_to_remove_one(tmp_path: Path) -> None:
    write(tmp_path, {"domain.yml": "slots:\n  a:\n    type: text\n  a:\n    type: bool\n"})

    assert "remove or rename one of them" in problems(tmp_path)[0].message


# --------------------------------------------------------------------------- item 4

MODULE = """
from subagents.agents.open_agent import MCPOpenAgent


class MeetingPlannerAgent(MCPOpenAgent):
    pass


class Helper:
    pass
"""


_isolated = isolated_imports("hintpkg_")


def _package(root: Path, files: dict[str, str]) -> str:
    pkg = f"hintpkg_{uuid.uuid4().hex[:8]}"
    write(root, {f"{pkg}/__init__.py": "", **{f"{pkg}/{k}": v for k, v in files.items()}})
    return pkg


def test_class_typo_suggests_the_close_class(tmp_path: Path) -> None:
    pkg = _package(tmp_path, {"planner.py": MODULE})
    error = check_agent_module(tmp_path, f"{pkg}.planner.MeetingPlanerAgent") or ""

    assert error == (
        f"module '{pkg}.planner' has no class 'MeetingPlanerAgent'; did you mean"
        f" 'MeetingPlannerAgent'? (in {pkg}/planner.py)"
    )


def test_class_with_nothing_close_lists_what_the_file_defines(tmp_path: Path) -> None:
    pkg = _package(tmp_path, {"planner.py": MODULE})
    error = check_agent_module(tmp_path, f"{pkg}.planner.Zebra") or ""

    assert error.endswith(f"; {pkg}/planner.py defines: Helper, MeetingPlannerAgent")


def test_module_typo_suggests_the_file_and_not_our_code(tmp_path: Path) -> None:
    pkg = _package(tmp_path, {"planner_agent.py": MODULE})
    error = check_agent_module(tmp_path, f"{pkg}.planner_agnt.MeetingPlannerAgent") or ""

    assert f"there is no {pkg}/planner_agnt.py; did you mean '{pkg}.planner_agent'?" in error
    assert "agent_module.py" not in error


def test_import_error_inside_the_user_module_points_at_its_line(tmp_path: Path) -> None:
    broken = "import os\n\nfrom subagents import NoSuchThing\n"
    pkg = _package(tmp_path, {"planner.py": broken})
    error = check_agent_module(tmp_path, f"{pkg}.planner.MeetingPlannerAgent") or ""

    assert "ImportError: cannot import name 'NoSuchThing'" in error
    assert f"({pkg}/planner.py:3)" in error
    assert "agent_module.py" not in error


def test_missing_third_party_import_points_at_the_user_line(tmp_path: Path) -> None:
    pkg = _package(tmp_path, {"planner.py": "import os\n\nimport not_installed_pkg_xyz\n"})
    error = check_agent_module(tmp_path, f"{pkg}.planner.MeetingPlannerAgent") or ""

    assert "No module named 'not_installed_pkg_xyz'" in error
    assert f"({pkg}/planner.py:3)" in error


def test_not_an_agent_names_the_defining_file(tmp_path: Path) -> None:
    pkg = _package(tmp_path, {"planner.py": MODULE})
    error = check_agent_module(tmp_path, f"{pkg}.planner.Helper") or ""

    assert f"'{pkg}.planner.Helper' ({pkg}/planner.py:8) is not a subclass" in error


def test_open_agent_called_with_exit_if_names_the_defining_file(tmp_path: Path) -> None:
    pkg = _package(tmp_path, {"planner.py": MODULE})
    module = f"  module: {pkg}.planner.MeetingPlannerAgent"
    good_project(tmp_path, {AGENT_FILE: AGENT.replace("  max_retries: 3", module)})

    assert_problem(
        problems(tmp_path),
        "flows.yml",
        13,
        "flows.onboarding.steps[1].exit_if",
        f"uses MeetingPlannerAgent ({pkg}/planner.py:4), a general-purpose agent",
        "subclass MCPTaskAgent there, or remove exit_if",
    )


# --------------------------------------------------------------------------- item 5


def test_integer_initial_value_of_a_float_slot_is_a_float(tmp_path: Path) -> None:
    domain = DOMAIN.replace("    type: float", "    type: float\n    initial_value: 0")
    domain = domain.replace("    type: text", "    type: text\n    initial_value: 7")
    good_project(tmp_path, {"domain.yml": domain})
    project = load_project(tmp_path, env=ENV)
    runtime = Domain(project.domain)

    age = runtime.initial_slots()["age"]
    assert age == 0.0 and isinstance(age, float)
    assert runtime.initial_slots()["user_name"] == "7"
    assert isinstance(runtime.as_rasa_dict()["slots"]["age"]["initial_value"], float)


# --------------------------------------------------------------------------- item 6


def test_categorical_value_errors_say_how_to_fix(tmp_path: Path) -> None:
    flows = "flows:\n  main:\n    steps:\n      - set_slots:\n          - category: Z\n"
    good_project(tmp_path, {"flows.yml": flows})

    assert_problem(
        problems(tmp_path),
        "flows.yml",
        5,
        "flows.main.steps[0].set_slots[0].category",
        "'Z' is not one of the values of slot 'category'; use one of: A, B, C"
        " (or add it to the slot's values: in domain.yml)",
    )


def test_categorical_initial_value_close_to_a_value_is_suggested(tmp_path: Path) -> None:
    domain = DOMAIN.replace("values: [A, B, C]", "values: [call, visit]\n    initial_value: vist")
    good_project(tmp_path, {"domain.yml": domain, "flows.yml": "flows: {}\n"})

    assert_problem(
        problems(tmp_path),
        "domain.yml",
        10,
        "slots.category.initial_value",
        "'vist' is not one of the values of slot 'category'; did you mean 'visit'? use one of:"
        " call, visit (or add it to the slot's values: in domain.yml)",
    )
