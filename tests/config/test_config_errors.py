"""Every kind of configuration error names file, line and field, and says what to do."""

from __future__ import annotations

from pathlib import Path

from config_helpers import AGENT, assert_problem, good_project, problems, write

AGENT_FILE = "sub_agents/stock_explorer/config.yml"


def _agent(tmp_path: Path, text: str) -> Path:
    return good_project(tmp_path, {AGENT_FILE: text})


def test_unknown_key_suggests_the_closest_valid_key(tmp_path: Path) -> None:
    _agent(tmp_path, AGENT.replace("  timeout: 30", "  timout: 30"))

    assert_problem(
        problems(tmp_path),
        AGENT_FILE,
        8,
        "configuration.timout",
        "unknown key 'timout'",
        "did you mean 'timeout'?",
    )


def test_unknown_key_without_close_match_lists_valid_keys(tmp_path: Path) -> None:
    write(tmp_path, {"endpoints.yml": "tracker_store:\n  type: sqlite\n  colour: red\n"})

    assert_problem(
        problems(tmp_path),
        "endpoints.yml",
        3,
        "tracker_store.colour",
        "unknown key 'colour'",
        "valid keys: type, path, url",
    )


def test_unknown_key_in_nested_flow_step(tmp_path: Path) -> None:
    flows = """
    flows:
      f:
        steps:
          - collect: user_name
            next:
              - if: slots.age > 3
                then:
                  - colect: age
                    next: END
              - else: END
    """
    good_project(tmp_path, {"flows.yml": flows})

    assert_problem(
        problems(tmp_path),
        "flows.yml",
        8,
        "flows.f.steps[0].next[0].then[0].colect",
        "did you mean 'collect'?",
    )


def test_missing_required_field(tmp_path: Path) -> None:
    _agent(tmp_path, "agent:\n  description: no name\n")

    assert_problem(
        problems(tmp_path), AGENT_FILE, 1, "agent.name", "required field 'name' is missing"
    )


def test_wrong_type_says_what_is_expected(tmp_path: Path) -> None:
    write(tmp_path, {"endpoints.yml": "mcp_servers:\n  - name: a\n    type: grpc\n"})

    assert_problem(
        problems(tmp_path),
        "endpoints.yml",
        3,
        "mcp_servers[0].type",
        "should be 'stdio', 'sse' or 'http'",
        "(got 'grpc')",
    )


def test_include_and_exclude_tools_on_one_server(tmp_path: Path) -> None:
    _agent(tmp_path, AGENT + "      exclude_tools: [place_buy_order]\n")

    assert_problem(
        problems(tmp_path),
        AGENT_FILE,
        16,
        "connections.mcp_servers[0].exclude_tools",
        "include_tools and exclude_tools are mutually exclusive",
        "'trade_server'",
    )


def test_agent_names_unknown_mcp_server(tmp_path: Path) -> None:
    _agent(tmp_path, AGENT.replace("- name: trade_server", "- name: trade_servr"))

    assert_problem(
        problems(tmp_path),
        AGENT_FILE,
        12,
        "connections.mcp_servers[0].name",
        "unknown MCP server 'trade_servr'",
        "did you mean 'trade_server'?",
        "endpoints.yml",
    )


def test_unknown_model_group(tmp_path: Path) -> None:
    _agent(tmp_path, AGENT.replace("model-group: openai-gpt-4o", "model_group: claude"))

    assert_problem(
        problems(tmp_path),
        AGENT_FILE,
        6,
        "configuration.llm.model_group",
        "unknown model group 'claude'",
        "known model groups in endpoints.yml: openai-gpt-4o",
    )


def test_model_group_and_inline_model_together(tmp_path: Path) -> None:
    _agent(tmp_path, AGENT.replace("    model-group:", "    model: gpt-4o\n    model-group:"))

    assert_problem(
        problems(tmp_path),
        AGENT_FILE,
        7,
        "configuration.llm.model-group",
        "either model_group or an inline provider/model",
    )


def test_duplicate_agent_names_across_folders(tmp_path: Path) -> None:
    good_project(tmp_path, {"sub_agents/zz_copy/config.yml": "agent:\n  name: stock_explorer\n"})

    assert_problem(
        problems(tmp_path),
        "sub_agents/zz_copy/config.yml",
        2,
        "agent.name",
        "duplicate agent name 'stock_explorer'",
        f"also used by {AGENT_FILE}",
    )


def test_agent_folder_without_config(tmp_path: Path) -> None:
    good_project(tmp_path, {"sub_agents/helper/prompt.jinja2": "hi"})
    found = problems(tmp_path)

    assert [str(p) for p in found] == [
        "sub_agents/helper/: folder has no config.yml; every folder in sub_agents/ is an"
        " agent: add sub_agents/helper/config.yml (or move the folder elsewhere)"
    ]


def test_prompt_template_missing(tmp_path: Path) -> None:
    good_project(tmp_path, {"sub_agents/stock_explorer/prompt_template.jinja2": None})

    assert_problem(
        problems(tmp_path),
        AGENT_FILE,
        7,
        "configuration.prompt_template",
        "prompt template 'sub_agents/stock_explorer/prompt_template.jinja2' not found",
    )


def test_prompt_template_relative_to_agent_dir(tmp_path: Path) -> None:
    _agent(tmp_path, AGENT.replace("sub_agents/stock_explorer/prompt_template", "prompt_template"))

    assert problems(tmp_path) == []


def test_prompt_template_jinja_syntax_error_names_template_line(tmp_path: Path) -> None:
    good_project(
        tmp_path,
        {"sub_agents/stock_explorer/prompt_template.jinja2": "Hi\n\n{% if x %}\n{{ y }\n"},
    )

    problem = assert_problem(
        problems(tmp_path),
        AGENT_FILE,
        7,
        "configuration.prompt_template",
        "Jinja syntax error at line 4",
    )
    assert "prompt_template.jinja2" in problem.message


def test_stdio_server_without_command_and_http_without_url(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"endpoints.yml": "mcp_servers:\n  - name: a\n    type: stdio\n  - name: b\n"},
    )
    found = problems(tmp_path)

    assert [str(p) for p in found] == [
        "endpoints.yml:2: mcp_servers[0].command: MCP server 'a' has type stdio but no"
        " command; add command: (for example command: python, args: [server.py])",
        "endpoints.yml:4: mcp_servers[1].url: MCP server 'b' has type http but no url; add"
        " url: (for example url: http://localhost:8080/mcp)",
    ]


def test_duplicate_mcp_server_names(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "endpoints.yml": """
            mcp_servers:
              - name: a
                url: http://127.0.0.1:1/mcp
              - name: a
                type: stdio
                command: python
            """
        },
    )

    assert_problem(
        problems(tmp_path),
        "endpoints.yml",
        4,
        "mcp_servers[1].name",
        "duplicate MCP server name 'a' (first at line 2)",
    )


def test_categorical_slot_without_values(tmp_path: Path) -> None:
    write(tmp_path, {"domain.yml": "slots:\n  size:\n    type: categorical\n    values: []\n"})

    assert_problem(
        problems(tmp_path),
        "domain.yml",
        4,
        "slots.size.values",
        "categorical slot 'size' has no values",
    )


def test_initial_value_must_fit_the_slot(tmp_path: Path) -> None:
    write(tmp_path, {"domain.yml": "slots:\n  n:\n    type: float\n    initial_value: many\n"})

    assert_problem(
        problems(tmp_path), "domain.yml", 4, "slots.n.initial_value", "'many' does not fit"
    )


def test_action_endpoint_needs_module_or_url(tmp_path: Path) -> None:
    write(tmp_path, {"endpoints.yml": "action_endpoint:\n  timeout: 3\n"})

    assert_problem(problems(tmp_path), "endpoints.yml", 1, "action_endpoint", "set actions_module")


def test_literal_action_token_is_an_error(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"endpoints.yml": "action_endpoint:\n  url: grpc://127.0.0.1:5055\n  token: abc\n"},
    )

    assert_problem(problems(tmp_path), "endpoints.yml", 3, "action_endpoint.token", "use ${VAR}")


def test_action_endpoint_auth_and_tls_mistakes(tmp_path: Path) -> None:
    head = "action_endpoint:\n  url: https://127.0.0.1:5055\n"
    write(tmp_path, {"endpoints.yml": head + "  basic_auth:\n    username: a\n    password: pw\n"})
    assert_problem(
        problems(tmp_path), "endpoints.yml", 5, "action_endpoint.basic_auth.password", "use ${VAR}"
    )
    write(tmp_path, {"endpoints.yml": head + "  ssl_client_cert: certs/client.pem\n"})
    assert_problem(
        problems(tmp_path),
        "endpoints.yml",
        3,
        "action_endpoint.ssl_client_cert",
        "ssl_client_cert needs ssl_client_key too",
    )
    auth = "  token: ${T}\n  basic_auth:\n    username: a\n    password: ${P}\n"
    assert_problem(
        problems(write(tmp_path, {"endpoints.yml": head + auth}), env={"T": "tok1", "P": "pw1"}),
        "endpoints.yml",
        4,
        "action_endpoint.basic_auth",
        "basic_auth and token both set the Authorization header",
    )
    flows = "flows:\n  f:\n    steps:\n      - noop: true\n        next: END\n"
    write(
        tmp_path,
        {"endpoints.yml": head + "  headers:\n    X-Api-Key: abc123\n", "flows.yml": flows},
    )
    assert_problem(
        problems(tmp_path),
        "endpoints.yml",
        4,
        "action_endpoint.headers.X-Api-Key",
        "literal credential in a header; use ${VAR}",
        severity="warning",
    )


def test_tracker_store_sql_dialect_other_than_postgresql_is_an_error(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"endpoints.yml": "tracker_store:\n  type: SQL\n  dialect: mysql\n  url: db\n"},
    )

    assert_problem(
        problems(tmp_path),
        "endpoints.yml",
        3,
        "tracker_store.dialect",
        "dialect 'mysql' is not supported; use 'postgresql'",
    )


def test_lock_store_unknown_type_names_the_field(tmp_path: Path) -> None:
    write(tmp_path, {"endpoints.yml": "lock_store:\n  type: zookeeper\n"})

    found = problems(tmp_path)
    assert any(p.field == "lock_store.type" and "redis" in p.message for p in found), found


def test_literal_store_password_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, {"endpoints.yml": "tracker_store:\n  type: sql\n  password: hunter22\n"})

    assert_problem(problems(tmp_path), "endpoints.yml", 3, "tracker_store.password", "use ${VAR}")


def test_literal_server_auth_token_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, {"endpoints.yml": "auth:\n  token: abc123secret\n"})

    assert_problem(problems(tmp_path), "endpoints.yml", 2, "auth.token", "use ${VAR}")


def test_client_credentials_need_a_client_and_a_secret(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "endpoints.yml": "mcp_servers:\n  - name: a\n    url: http://127.0.0.1:1/mcp\n"
            "    oauth:\n      grant: client_credentials\n"
        },
    )
    found = problems(tmp_path)
    assert any("client credentials need a client_id" in str(p) for p in found)
    assert any("client_secret: ${VAR} or private_key: ${VAR}" in str(p) for p in found)


def test_oauth_login_needs_no_fields(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "endpoints.yml": "mcp_servers:\n  - name: a\n    url: http://127.0.0.1:1/mcp\n"
            "    oauth: {}\n"
        },
    )
    assert not [p for p in problems(tmp_path) if p.severity == "error"]


def test_sampling_model_group_must_exist(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "endpoints.yml": """
            model_groups:
              - id: fast
                models:
                  - model: gpt-4o-mini
                    api_key: ${KEY:-x}
            mcp_servers:
              - name: notes
                url: http://127.0.0.1:1/mcp
                sampling:
                  allow: true
                  model_group: cheap
            """
        },
    )

    assert_problem(
        problems(tmp_path),
        "endpoints.yml",
        11,
        "mcp_servers[0].sampling.model_group",
        "no model group 'cheap' (model_groups: fast)",
        "leave model_group out to use the calling agent's model",
    )
