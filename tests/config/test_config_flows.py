"""flows.yml checks: references to agents, slots, responses, steps and flows; conditions."""

from __future__ import annotations

from pathlib import Path

from config_helpers import ENV, assert_problem, good_project, problems

from subagents.config.flow_graph import CallTarget
from subagents.config.loader import load_project


def _flows(tmp_path: Path, steps: str, extra: str = "") -> Path:
    text = "flows:\n  main:\n    description: d\n    steps:\n" + steps + extra
    return good_project(tmp_path, {"flows.yml": text})


def test_example_flows_are_clean(tmp_path: Path) -> None:
    assert problems(good_project(tmp_path)) == []


def test_call_unknown_agent(tmp_path: Path) -> None:
    _flows(tmp_path, "      - call: stock_explorr\n")

    assert_problem(
        problems(tmp_path),
        "flows.yml",
        5,
        "flows.main.steps[0].call",
        "unknown agent 'stock_explorr'",
        "did you mean 'stock_explorer'?",
    )


def test_call_of_a_flow_is_clean(tmp_path: Path) -> None:
    _flows(tmp_path, "      - call: other\n", "  other:\n    steps:\n      - action: utter_done\n")

    assert problems(tmp_path) == []


def test_call_of_a_flow_named_like_an_agent_warns_that_the_flow_wins(tmp_path: Path) -> None:
    other = "  stock_explorer:\n    steps:\n      - action: utter_done\n"
    _flows(tmp_path, "      - call: stock_explorer\n", other)

    assert_problem(
        problems(tmp_path),
        "flows.yml",
        5,
        "flows.main.steps[0].call",
        "'stock_explorer' is both a flow and an agent",
        "runs the flow",
        severity="warning",
    )


def test_flows_calling_each_other_in_a_cycle(tmp_path: Path) -> None:
    other = "  other:\n    steps:\n      - action: utter_done\n      - call: main\n"
    _flows(tmp_path, "      - call: other\n", other)

    assert_problem(
        problems(tmp_path),
        "flows.yml",
        5,
        "flows.main.steps[0].call",
        "flows call each other in a cycle ('main' -> 'other' -> 'main')",
    )


def test_a_called_flow_may_not_link(tmp_path: Path) -> None:
    other = (
        "  other:\n    steps:\n      - link: third\n"
        "  third:\n    steps:\n      - noop: true\n        next: END\n"
    )
    _flows(tmp_path, "      - call: other\n", other)

    assert_problem(
        problems(tmp_path),
        "flows.yml",
        5,
        "flows.main.steps[0].call",
        "flow 'other' is called here but ends with link:",
        "a called flow must return to its caller",
    )


def test_collect_unknown_slot(tmp_path: Path) -> None:
    _flows(tmp_path, "      - collect: user_nme\n")

    assert_problem(
        problems(tmp_path),
        "flows.yml",
        5,
        "flows.main.steps[0].collect",
        "unknown slot 'user_nme'",
        "did you mean 'user_name'?",
        "domain.yml",
    )


def test_set_slots_unknown_slot_and_bad_value(tmp_path: Path) -> None:
    _flows(tmp_path, "      - set_slots:\n          - agee: 3\n")
    assert_problem(
        problems(tmp_path),
        "flows.yml",
        6,
        "flows.main.steps[0].set_slots[0].agee",
        "unknown slot 'agee'",
    )

    _flows(tmp_path, "      - set_slots:\n          - category: Z\n")
    assert_problem(
        problems(tmp_path),
        "flows.yml",
        6,
        "flows.main.steps[0].set_slots[0].category",
        "'Z' is not one of the values of slot 'category'",
    )


def test_unknown_action_is_a_warning(tmp_path: Path) -> None:
    _flows(tmp_path, "      - action: action_send_mail\n")

    assert_problem(
        problems(tmp_path),
        "flows.yml",
        5,
        "flows.main.steps[0].action",
        "action 'action_send_mail' is not listed under actions: in domain.yml",
        severity="warning",
    )


def test_utter_without_response_is_an_error(tmp_path: Path) -> None:
    _flows(tmp_path, "      - action: utter_don\n")

    assert_problem(
        problems(tmp_path),
        "flows.yml",
        5,
        "flows.main.steps[0].action",
        "response 'utter_don' is not defined",
        "did you mean 'utter_done'?",
    )


def test_default_responses_need_no_definition(tmp_path: Path) -> None:
    _flows(tmp_path, "      - action: utter_internal_error\n")

    assert problems(tmp_path) == []


def test_next_to_unknown_step_id(tmp_path: Path) -> None:
    _flows(tmp_path, "      - id: ask\n        collect: user_name\n        next: asx\n")

    assert_problem(
        problems(tmp_path),
        "flows.yml",
        7,
        "flows.main.steps[0].next",
        "unknown step id 'asx' in flow 'main'",
        "did you mean 'ask'?",
        "END",
    )


def test_link_to_unknown_flow(tmp_path: Path) -> None:
    _flows(tmp_path, "      - link: nowhere\n")

    assert_problem(
        problems(tmp_path), "flows.yml", 5, "flows.main.steps[0].link", "unknown flow 'nowhere'"
    )


def test_reserved_flow_ids(tmp_path: Path) -> None:
    good_project(
        tmp_path,
        {"flows.yml": "flows:\n  restart:\n    steps:\n      - action: utter_done\n"},
    )

    assert_problem(problems(tmp_path), "flows.yml", 2, "flows.restart", "'restart' is reserved")


def test_exit_if_that_does_not_parse_names_flow_and_step(tmp_path: Path) -> None:
    _flows(
        tmp_path,
        "      - id: book\n        call: stock_explorer\n        exit_if:\n"
        "          - slots.age >\n",
    )

    assert_problem(
        problems(tmp_path),
        "flows.yml",
        8,
        "flows.main.steps[0].exit_if[0]",
        "invalid condition in flow 'main', step 'book'",
        "expected a value",
    )


def test_exit_if_failing_check_names_flow_and_step(tmp_path: Path) -> None:
    _flows(
        tmp_path, "      - call: stock_explorer\n        exit_if:\n          - slots.age > 'old'\n"
    )

    assert_problem(
        problems(tmp_path),
        "flows.yml",
        7,
        "flows.main.steps[0].exit_if[0]",
        "flow 'main', step #1",
        "slot 'age' is float but is compared with 'old'",
    )


def test_branch_condition_with_unknown_slot(tmp_path: Path) -> None:
    _flows(
        tmp_path,
        "      - collect: user_name\n        next:\n          - if: slots.user_nam = 'x'\n"
        "            then: END\n          - else: END\n",
    )

    assert_problem(
        problems(tmp_path),
        "flows.yml",
        7,
        "flows.main.steps[0].next[0].if",
        "unknown slot 'user_nam'",
        "did you mean 'user_name'?",
    )


def test_empty_exit_if(tmp_path: Path) -> None:
    _flows(tmp_path, "      - call: stock_explorer\n        exit_if: []\n")

    assert_problem(
        problems(tmp_path), "flows.yml", 6, "flows.main.steps[0].exit_if", "exit_if is empty"
    )


def test_step_needs_exactly_one_kind(tmp_path: Path) -> None:
    _flows(tmp_path, "      - call: stock_explorer\n        action: utter_done\n")

    assert_problem(
        problems(tmp_path),
        "flows.yml",
        5,
        "flows.main.steps[0]",
        "exactly one of",
        "(found call, action)",
    )


def test_a_flow_calling_its_own_name_calls_the_agent_of_that_name(tmp_path: Path) -> None:
    """`flows: {stock_explorer: {steps: [call: stock_explorer]}}` names the agent: a flow
    calling itself could only be a cycle."""
    good_project(
        tmp_path,
        {
            "flows.yml": (
                "flows:\n  stock_explorer:\n    description: d\n    steps:\n"
                "      - call: stock_explorer\n"
            )
        },
    )

    assert problems(tmp_path) == []
    graph = load_project(tmp_path, env=ENV).flow_graph
    (step,) = graph.flows["stock_explorer"].steps.values()
    assert step.call_target is CallTarget.AGENT


def test_a_flow_calling_itself_without_such_an_agent_is_an_unknown_agent(
    tmp_path: Path,
) -> None:
    _flows(tmp_path, "      - call: main\n", "")

    assert_problem(
        problems(tmp_path), "flows.yml", 5, "flows.main.steps[0].call", "unknown agent 'main'"
    )
