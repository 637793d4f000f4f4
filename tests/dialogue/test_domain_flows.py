"""Domain (slot coercion, responses) and flow compilation, without running a turn."""

from __future__ import annotations

import pytest

from subagents.config.models import DomainConfig, FlowsConfig
from subagents.dialogue.domain import Domain, SlotValueError
from subagents.dialogue.flows import END, compile_flows
from subagents.errors import ConfigErrors


def domain(seed: int | None = 0) -> Domain:
    return Domain(
        DomainConfig.model_validate(
            {
                "slots": {
                    "name": {"type": "text"},
                    "n": {"type": "float", "initial_value": 1},
                    "ok": {"type": "bool"},
                    "size": {"type": "categorical", "values": ["S", "M", "L"]},
                    "tags": {"type": "list"},
                    "blob": {"type": "any"},
                },
                "responses": {
                    "utter_hi": [{"text": "Hi {name}, {n} {unknown}"}],
                    "utter_many": [{"text": "a"}, {"text": "b"}, {"text": "c"}],
                    "utter_cond": [
                        {
                            "text": "big",
                            "condition": [{"type": "slot", "name": "size", "value": "L"}],
                        },
                        {"text": "plain"},
                    ],
                    "utter_rich": [
                        {
                            "text": "Pick {name}",
                            "buttons": [{"title": "For {name}", "payload": "/x"}],
                            "image": "http://img",
                            "custom": {"k": 1},
                        }
                    ],
                    "utter_internal_error": [{"text": "Oops, our fault."}],
                },
            }
        ),
        seed=seed,
    )


@pytest.mark.parametrize(
    ("slot", "raw", "value"),
    [
        ("name", "  Ada ", "Ada"),
        ("n", "42", 42.0),
        ("n", "3,5", 3.5),
        ("n", 7, 7.0),
        ("ok", "Yes", True),
        ("ok", "no", False),
        ("ok", True, True),
        ("size", "m", "M"),
        ("tags", "a, b,,c", ["a", "b", "c"]),
        ("tags", ["x"], ["x"]),
        ("blob", {"a": 1}, {"a": 1}),
        ("n", None, None),
    ],
)
def test_coerce_accepts(slot: str, raw: object, value: object) -> None:
    assert domain().coerce(slot, raw) == value


@pytest.mark.parametrize(
    ("slot", "raw"),
    [("n", "many"), ("n", True), ("ok", "perhaps"), ("size", "XL"), ("tags", 3), ("name", [1])],
)
def test_coerce_refuses(slot: str, raw: object) -> None:
    with pytest.raises(SlotValueError, match=slot):
        domain().coerce(slot, raw)


def test_render_fills_slots_and_rich_fields() -> None:
    d = domain()
    assert d.initial_slots()["n"] == 1
    assert d.render("utter_hi", {"name": "Ada", "n": 2.0}) == {"text": "Hi Ada, 2 {unknown}"}
    assert d.render("utter_hi", {"name": None, "n": 2.5})["text"] == "Hi , 2.5 {unknown}"
    rich = d.render("utter_rich", {"name": "Bo"})
    assert rich == {
        "text": "Pick Bo",
        "buttons": [{"title": "For Bo", "payload": "/x"}],
        "image": "http://img",
        "custom": {"k": 1},
    }
    assert d.render("utter_cond", {"size": "L"})["text"] == "big"
    assert d.render("utter_cond", {"size": "S"})["text"] == "plain"
    assert d.render("utter_missing", {}) is None
    # Domain responses override the built-in defaults; defaults exist otherwise.
    assert d.render("utter_internal_error", {})["text"] == "Oops, our fault."
    assert d.render("utter_fallback", {})["text"] == "Sorry, I can't help with that."


def test_variation_choice_is_seedable() -> None:
    picks = []
    for _ in range(2):
        d = domain(seed=7)
        picks.append([d.render("utter_many", {})["text"] for _ in range(20)])
    assert picks[0] == picks[1]
    assert set(picks[0]) == {"a", "b", "c"}


def test_rasa_domain_dict_is_cached() -> None:
    d = domain()
    rasa = d.as_rasa_dict()
    assert rasa is d.as_rasa_dict()
    assert rasa["slots"]["size"]["values"] == ["S", "M", "L"]
    assert set(rasa) >= {"slots", "responses", "actions", "intents", "entities", "forms"}


def flows(data: dict) -> dict:
    return compile_flows(FlowsConfig.model_validate({"flows": data}))


def test_next_branches_and_inline_steps() -> None:
    compiled = flows(
        {
            "f": {
                "steps": [
                    {
                        "id": "start",
                        "collect": "n",
                        "next": [
                            {
                                "if": "slots.n > 10",
                                "then": [{"action": "utter_big"}, {"action": "utter_x"}],
                            },
                            {"if": "slots.n = 5", "then": "END"},
                            {"else": "last"},
                        ],
                    },
                    {"action": "utter_skipped"},
                    {"id": "last", "action": "utter_last"},
                ]
            }
        }
    )["f"]
    start = compiled.steps["start"]
    big = start.next_step({"n": 11.0})
    assert compiled.steps[big].config.action == "utter_big"
    after_big = compiled.steps[big].next_step({})
    assert compiled.steps[after_big].config.action == "utter_x"
    assert compiled.steps[after_big].next_step({}) == END  # an inline list ends the flow
    assert start.next_step({"n": 5.0}) == END
    assert start.next_step({"n": 1.0}) == "last"
    assert compiled.steps["last"].next_step({}) == END
    assert compiled.first == "start"


def test_flow_problems_are_all_reported() -> None:
    with pytest.raises(ConfigErrors) as exc:
        flows(
            {
                "f": {
                    "steps": [
                        {"action": "utter_a", "next": "nowhere"},
                        {"call": "agent", "exit_if": ["slots.x ==="]},
                        {"link": "missing_flow"},
                    ]
                },
                "g": {"if": "slots.y >", "steps": [{"action": "utter_b"}]},
            }
        )
    text = str(exc.value)
    assert "flows.yml" in text
    assert "unknown step id 'nowhere'" in text  # one compiler: validate's wording
    assert "exit_if" in text
    assert "unknown flow 'missing_flow'" in text
    assert "flow 'g'" in text
    assert len(exc.value.problems) == 4
