"""`subagents validate` on the conversation layer's keys: session_config, slot mappings,
persisted_slots, collect rejections, pattern flow ids (issue 17)."""

from __future__ import annotations

from pathlib import Path

from subagents.config.loader import collect_project

DOMAIN = """
session_config:
  session_expiration_time: -5
  carry_over_slots_to_new_session: "yes"
  keep_forever: true
slots:
  age:
    type: float
    mappings:
      - type: from_entity
  name:
    type: text
    mappings:
      - type: from_text
responses:
  utter_ask_age:
    - text: How old?
  utter_ask_name:
    - text: Name?
"""

FLOWS = """
flows:
  signup:
    description: Sign up.
    persisted_slots: [name, agee]
    steps:
      - collect: name
      - collect: age
        rejections:
          - if: slots.age < 18
            utter: utter_too_young
  pattern_cancel_flow:
    description: Cancelled.
    steps:
      - action: utter_flow_cancelled
  pattern_canceled:
    description: A typo of a pattern id.
    steps:
      - action: utter_flow_cancelled
"""


def test_conversation_keys_are_checked_with_file_line_and_fix(tmp_path: Path) -> None:
    (tmp_path / "domain.yml").write_text(DOMAIN, encoding="utf-8")
    (tmp_path / "flows.yml").write_text(FLOWS, encoding="utf-8")
    _, problems = collect_project(tmp_path)
    shown = [str(p) for p in problems]
    assert (
        "domain.yml:3: session_config.session_expiration_time: must be a number of"
        " minutes >= 0 (0: sessions never expire), got -5"
    ) in shown
    assert (
        "domain.yml:4: session_config.carry_over_slots_to_new_session: must be true or"
        " false, got 'yes'"
    ) in shown
    assert any(s.startswith("domain.yml:5: warning: session_config.keep_forever") for s in shown)
    assert any("slots.age.mappings[0]: ignored: mapping type 'from_entity'" in s for s in shown)
    assert not any("slots.name.mappings" in s for s in shown)  # from_text applies
    assert any(
        s.startswith("flows.yml:5: flows.signup.persisted_slots[1]:")
        and "unknown slot 'agee'; did you mean 'age'?" in s
        for s in shown
    )
    assert any("response 'utter_too_young' is not defined" in s for s in shown)
    # Overriding a pattern is fine (its default responses are known); a typo is warned.
    assert not any("flows.pattern_cancel_flow" in s for s in shown)
    assert any(
        "'pattern_canceled' is not a conversation pattern" in s
        and "did you mean 'pattern_cancel_flow'?" in s
        for s in shown
    )
