"""The flow compiler: one typed step graph for validate and the runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from config_helpers import ENV, good_project

from subagents.config import load_project
from subagents.config.flow_graph import END, CallTarget, FlowGraph, StepKind, compile_flows
from subagents.config.models import FlowsConfig
from subagents.dialogue import flows as runtime_flows
from subagents.errors import ConfigErrors


def graph(flows: dict[str, Any]) -> FlowGraph:
    return compile_flows(FlowsConfig.model_validate({"flows": flows}))


def problems(flows: dict[str, Any]) -> dict[str, str]:
    """``field path -> message`` of every problem the compiler finds."""
    found = graph(flows).problems
    as_dict = {".".join(map(str, p.path)): p.message for p in found}
    assert len(as_dict) == len(found)
    return as_dict


BRANCHING = {
    "f": {
        "steps": [
            {
                "id": "ask",
                "collect": "n",
                "next": [
                    {
                        "if": "slots.n > 10",
                        "then": [{"action": "utter_big"}, {"noop": True, "next": "last"}],
                    },
                    {"if": "slots.n = 5", "then": "END"},
                    {"else": [{"set_slots": [{"n": 1}]}]},
                ],
            },
            {"action": "utter_skipped"},
            {"id": "last", "call": "helper", "exit_if": ["slots.n is not null"]},
            {"link": "g"},
        ]
    },
    "g": {"if": "slots.n is null", "steps": [{"action": "utter_g"}]},
}


def test_steps_get_kinds_stable_ids_and_resolved_next() -> None:
    compiled = graph(BRANCHING)
    assert compiled.problems == []
    f = compiled.flows["f"]
    assert f.first == "ask"
    # Ids of steps without one come from their position; they are stored in
    # conversation state, so this naming is part of the persisted format.
    assert list(f.steps) == [
        "ask",
        "ask.then0.0_action",
        "ask.then0.1_noop",
        "ask.else2.0_set_slots",
        "1_action",
        "last",
        "3_link",
    ]
    kinds = {sid: step.kind for sid, step in f.steps.items()}
    assert kinds["ask"] is StepKind.COLLECT and kinds["3_link"] is StepKind.LINK
    assert kinds["ask.then0.1_noop"] is StepKind.NOOP and kinds["last"] is StepKind.CALL
    ask = f.steps["ask"]
    assert ask.next_step({"n": 11.0}) == "ask.then0.0_action"
    assert ask.next_step({"n": 5.0}) == END
    assert ask.next_step({"n": 1.0}) == "ask.else2.0_set_slots"
    assert f.steps["ask.then0.0_action"].next_step({}) == "ask.then0.1_noop"
    assert f.steps["ask.then0.1_noop"].next_step({}) == "last"
    assert f.steps["ask.else2.0_set_slots"].next_step({}) == END  # an inline list ends
    assert f.steps["ask.else2.0_set_slots"].set_slots == [("n", 1)]
    assert f.steps["last"].exit_if == ["slots.n is not null"]
    assert f.steps["last"].next_step({}) == "3_link"
    assert f.steps["3_link"].next_step({}) == END
    assert f.steps["last"].path == ("flows", "f", "steps", 2)
    assert f.steps["ask.then0.1_noop"].path == ("flows", "f", "steps", 0, "next", 0, "then", 1)


def test_conditions_are_parsed_once_and_located() -> None:
    compiled = graph(BRANCHING)
    g = compiled.flows["g"]
    assert g.startable({"n": None}) and not g.startable({"n": 1})
    sites = {".".join(map(str, s.path)): s.where for s in compiled.flows["f"].conditions}
    assert sites == {
        "flows.f.steps.0.next.0.if": "flow 'f', step 'ask'",
        "flows.f.steps.0.next.1.if": "flow 'f', step 'ask'",
        "flows.f.steps.2.exit_if.0": "flow 'f', step 'last'",
    }
    assert [s.where for s in g.conditions] == ["the flow guard"]


def test_structural_problems_name_their_path() -> None:
    found = problems(
        {
            "f": {
                "steps": [
                    {"id": "a", "action": "utter_a", "next": "nowhere"},
                    {"id": "a", "call": "x", "action": "utter_b"},
                    {"action": "utter_c", "exit_if": ["slots.x is null"]},
                    {"noop": True},
                    {"link": "h", "next": "END"},
                    {"collect": "n", "next": [{"if": "slots.n >"}, {"then": "END"}]},
                    {"set_slots": [{"a": 1, "b": 2}]},
                    {"action": "utter_d", "utter": "utter_e"},
                    {"id": "END", "call": "x", "exit_if": []},
                ]
            },
            "restart": {"steps": [{"action": "utter_a"}]},
        }
    )
    assert found == {
        "flows.f.steps.0.next": "unknown step id 'nowhere' in flow 'f'; known step ids: END, a"
        " (use END to end the flow)",
        "flows.f.steps.1.id": "duplicate step id 'a' in this flow",
        "flows.f.steps.1": "a step needs exactly one of call, action, collect, set_slots,"
        " link, noop (found call, action)",
        "flows.f.steps.2.exit_if": "exit_if belongs to a call step",
        "flows.f.steps.3.noop": "a noop step needs next:",
        "flows.f.steps.4.link": "unknown flow 'h'; known flows: f, restart",
        "flows.f.steps.4.next": "a link step ends the flow; remove next:",
        "flows.f.steps.5.next.0.if": "invalid condition in flow 'f', step #6: expected a value"
        " (a slot, a quoted string, a number, true, false or null) but the condition ended"
        " at column 10 in condition: slots.n >",
        "flows.f.steps.5.next.0": "a branch with if: needs then:",
        "flows.f.steps.5.next.1": "a branch needs if: and then:, or else:",
        "flows.f.steps.6.set_slots.0": "each set_slots item is one 'slot_name: value' pair",
        "flows.f.steps.7.utter": "utter and ask_before_filling belong to a collect step",
        "flows.f.steps.8.id": "duplicate step id 'END' in this flow",
        "flows.f.steps.8.exit_if": "exit_if is empty; list conditions, or remove it for a"
        " general-purpose call",
        "flows.restart": "'restart' is reserved (/restart is a command); rename the flow",
    }


def test_a_generated_id_an_explicit_one_takes_is_a_problem() -> None:
    found = problems(
        {"f": {"steps": [{"action": "utter_a"}, {"id": "0_action", "noop": True, "next": "END"}]}}
    )
    assert found == {
        "flows.f.steps.0": "the generated step id '0_action' is taken; give this step an id"
    }


def test_runtime_compile_raises_naming_flow_and_step() -> None:
    with pytest.raises(ConfigErrors) as exc:
        runtime_flows.compile_flows(
            FlowsConfig.model_validate({"flows": {"f": {"steps": [{"link": "nope"}]}}})
        )
    assert (
        str(exc.value) == "flows.yml: flow 'f' steps[0].link: unknown flow 'nope'; known flows: f"
    )


def test_validate_and_runtime_share_one_compiled_graph(tmp_path: Path) -> None:
    project = load_project(good_project(tmp_path), env=ENV)
    onboarding = project.flow_graph.flows["onboarding"]
    assert project.flow_graph.problems == []
    assert onboarding.first == "0_collect"
    details = onboarding.steps["get_details"]
    assert details.kind is StepKind.CALL
    assert details.next_step({"age": 20.0}) == "get_details.then0.0_action"
    assert details.next_step({"age": 3.0}) == "adult_only"


def test_one_flow_compiled_alone_leaves_link_targets_unchecked() -> None:
    config = FlowsConfig.model_validate({"flows": {"f": {"steps": [{"link": "elsewhere"}]}}})
    flow, found = runtime_flows.compile_flow("f", config.flows["f"])
    assert found == [] and flow.steps["0_link"].kind is StepKind.LINK


def test_call_resolves_a_flow_id_before_an_agent() -> None:
    compiled = graph(
        {
            "f": {"steps": [{"call": "g"}, {"call": "helper"}]},
            "g": {"steps": [{"action": "utter_g"}]},
        }
    )
    assert compiled.problems == []
    steps = compiled.flows["f"].steps
    assert steps["0_call"].call_target is CallTarget.FLOW
    assert steps["1_call"].call_target is CallTarget.AGENT
    assert compiled.flows["g"].steps["0_action"].call_target is None


def test_call_cycles_and_exit_if_on_a_flow_call_are_problems() -> None:
    found = problems(
        {
            "a": {"steps": [{"call": "b"}]},
            "b": {"steps": [{"call": "c", "exit_if": ["slots.x is null"]}]},
            "c": {"steps": [{"action": "utter_c"}, {"call": "a"}]},
            "selfish": {"steps": [{"call": "selfish"}]},
            "ok": {"steps": [{"call": "c2"}, {"call": "c2"}]},
            "c2": {"steps": [{"action": "utter_c"}]},
        }
    )
    assert found == {
        "flows.b.steps.0.exit_if": "'c' is a flow: exit_if belongs to a call of an agent;"
        " remove it (the called flow ends by itself)",
        "flows.a.steps.0.call": "flows call each other in a cycle ('a' -> 'b' -> 'c' -> 'a');"
        " a called flow must end for its caller to go on: break the cycle (link: never"
        " returns, if the loop is meant)",
    }  # 'selfish' calling its own id names the agent 'selfish', not a cycle
