"""Pydantic models of the project files: endpoints.yml, sub_agents/*/config.yml,
domain.yml and flows.yml.

Models forbid unknown keys so that a typo is an error naming the field. Cross-file checks
(an agent naming an unknown MCP server, an unknown model group...) live in
:mod:`subagents.config.loader`, which also maps every error to its file and line.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from subagents.config.observability import MetricsConfig, TracingConfig, as_list
from subagents.config.slots import SLOT_TYPES, Slot, SlotTypeName


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --------------------------------------------------------------------------- endpoints.yml


class ModelConfig(_Model):
    """One model entry: a provider and model, as litellm names them.

    ``provider: openai`` (and any OpenAI-compatible ``api_base``) goes through the fast
    direct HTTP path; other providers go through litellm.
    """

    provider: str = "openai"
    model: str = "gpt-4o"
    api_base: str | None = None
    api_key: str | None = None
    api_version: str | None = None
    timeout: float = 60.0
    retries: int = 3
    temperature: float | None = None
    max_tokens: int | None = None
    extra_headers: dict[str, str] = Field(default_factory=dict)
    extra_body: dict[str, Any] = Field(default_factory=dict)
    _group: str | None = PrivateAttr(default=None)

    @property
    def group(self) -> str | None:
        """The id of the model group this entry was resolved from (None: inline, default)."""
        return self._group

    def in_group(self, group_id: str) -> ModelConfig:
        """This entry, marked as a model of group ``group_id`` (errors then name it)."""
        self._group = group_id
        return self


class ModelGroup(_Model):
    id: str
    models: list[ModelConfig] = Field(min_length=1)


class OAuthConfig(_Model):
    """OAuth 2.1 for a URL server (see docs/mcp-auth.md).

    ``grant: authorization_code`` (the default without ``token_url``): a person authorizes
    once with ``subagents mcp login SERVER``; tokens are stored and refreshed. The client is
    pre-registered (``client_id``), a Client ID Metadata Document (``client_metadata_url``)
    or registered dynamically. ``grant: client_credentials`` (the default with
    ``token_url``): machine to machine, with ``client_secret`` or a ``private_key`` for
    ``private_key_jwt``; without ``token_url`` the token endpoint is discovered.
    """

    grant: Literal["authorization_code", "client_credentials"] | None = None
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    private_key: str | None = None
    """PEM private key for ``private_key_jwt`` (from ``${VAR}``)."""
    signing_algorithm: str = "RS256"
    token_endpoint_auth_method: (
        Literal["client_secret_basic", "client_secret_post", "none", "private_key_jwt"] | None
    ) = None
    scope: str | None = None
    audience: str | None = None
    issuer: str | None = None
    """The authorization server the client credentials belong to (checked when discovered)."""
    client_metadata_url: str | None = None
    callback_port: int = 33418
    """Port of the 127.0.0.1 callback that receives the redirect during a login."""

    @property
    def effective_grant(self) -> Literal["authorization_code", "client_credentials"]:
        """``grant``, or its default: client credentials when ``token_url`` is set."""
        if self.grant is not None:
            return self.grant
        return "client_credentials" if self.token_url else "authorization_code"


class SamplingConfig(_Model):
    """``sampling:`` of an MCP server: may its tools ask the assistant's model to write
    something (MCP sampling)? Declined unless ``allow: true``."""

    allow: bool = False
    model_group: str | None = None
    """The model group that answers (default: the calling agent's own models)."""
    max_tokens: int = Field(default=1000, gt=0)
    """Tokens one answer may have (a request asking for fewer gets fewer)."""
    max_requests: int = Field(default=5, gt=0)
    """Sampling requests answered per agent run; more are refused."""


class MCPServerConfig(_Model):
    """One MCP server. ``type`` picks the transport: stdio, sse or http (streamable)."""

    name: str
    type: Literal["stdio", "sse", "http"] = "http"
    # stdio
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    # sse / http
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    token: str | None = None
    api_key: str | None = None
    header_name: str = "X-API-Key"
    header_format: str = "{api_key}"
    oauth: OAuthConfig | None = None
    # behaviour
    timeout: float = 30.0
    """Seconds one tool call may take (the server's silence, see ``progress_resets_timeout``)."""
    connect_timeout: float = 30.0
    max_retries: int = 3
    progress_resets_timeout: bool = True
    """A ``notifications/progress`` of a call restarts its ``timeout``: a tool that reports
    progress is alive (the agent's ``configuration.timeout`` still bounds the run)."""
    elicitation: bool = True
    """Declare elicitation: a tool may ask the user a question during a call (the agent
    returns ``input_required`` with it; the user's next message answers it)."""
    elicitation_timeout: float = Field(default=600.0, gt=0)
    """Seconds a tool's question waits for the user's answer; then it is declined."""
    protocol_version: Literal["auto", "2025-11-25", "2026-07-28"] = "auto"
    """``auto`` probes the server (``server/discover``, else the 2025 handshake);
    ``2025-11-25`` always uses the handshake; ``2026-07-28`` skips the probe."""
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    """Whether (and with which model and bounds) tools may sample the assistant's model."""


class BasicAuthConfig(_Model):
    """``action_endpoint.basic_auth``: HTTP basic authentication (password from ``${VAR}``)."""

    username: str
    password: str


class ActionEndpointConfig(_Model):
    """Where custom actions run: in-process (``actions_module``), HTTP or gRPC (``url``).

    A remote server may ask for a bearer ``token``, ``basic_auth``, extra ``headers``
    (gRPC: call metadata) and a client certificate (``ssl_client_cert`` +
    ``ssl_client_key``, PEM files; mutual TLS). ``cafile`` is the CA bundle that verifies
    the server. Relative paths are relative to the project directory.
    """

    actions_module: str | None = None
    url: str | None = None
    token: str | None = None
    basic_auth: BasicAuthConfig | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = 30.0
    retries: int = 2
    # TLS (HTTPS and gRPC)
    cafile: str | None = None
    ssl_client_cert: str | None = None
    ssl_client_key: str | None = None


def _lower(value: Any) -> Any:
    """Rasa writes store types in any case (``SQL``, ``Redis``); compare them lowered."""
    return value.lower() if isinstance(value, str) else value


class TrackerStoreConfig(_Model):
    """``tracker_store``: sqlite (default), memory, sql (PostgreSQL) or redis.

    ``sql``: ``dialect: postgresql``, ``url`` (host or ``postgresql://`` URL), ``port``,
    ``db``, ``username``, ``password``, ``login_db``, ``query`` (libpq options such as
    ``sslmode``). ``redis``: ``url``, ``port``, ``db``, ``password``, ``use_ssl``,
    ``key_prefix``, ``record_exp`` (seconds a conversation lives after its last turn).
    """

    type: Literal["sqlite", "memory", "redis", "sql", "postgresql"] = "sqlite"
    path: str | None = None
    url: str | None = None
    """A host name, or a full ``postgresql://`` / ``redis://`` URL."""
    port: int | None = None
    db: str | int | None = None
    username: str | None = None
    password: str | None = None
    use_ssl: bool = False
    key_prefix: str | None = None
    dialect: str | None = None
    login_db: str | None = None
    query: dict[str, str] = Field(default_factory=dict)
    record_exp: float | None = None
    pool_size: int = Field(default=10, ge=1)
    """Connections a process keeps open to the server."""
    timeout: float = Field(default=5.0, gt=0)
    """Seconds one store operation may take before the turn fails with a clear reply."""

    _type_lower = field_validator("type", mode="before")(_lower)


class LockStoreConfig(_Model):
    """``lock_store``: ``in_memory`` (default, one process) or ``redis`` (several).

    ``lock_lifetime``: seconds a lock outlives a replica that died holding it (renewed
    while the turn runs). ``wait_timeout``: seconds a message waits for the turn before
    it of the same conversation before the user is told the assistant is busy.
    """

    type: Literal["in_memory", "memory", "redis"] = "in_memory"
    url: str | None = None
    port: int | None = None
    db: str | int | None = None
    username: str | None = None
    password: str | None = None
    use_ssl: bool = False
    key_prefix: str | None = None
    lock_lifetime: float = Field(default=20.0, gt=0)
    wait_timeout: float = Field(default=60.0, gt=0)

    _type_lower = field_validator("type", mode="before")(_lower)


class MCPTokenStoreConfig(_Model):
    """``mcp_token_store``: where OAuth tokens of MCP servers live (see docs/mcp-auth.md).

    ``file`` (default): ``<project>/.subagents/mcp-tokens.json``, mode 0600 (``path``
    overrides it). ``sqlite``: a database file (default ``.subagents/mcp-tokens.db``).
    ``redis`` and ``sql`` (PostgreSQL; ``postgresql`` is the same): shared by every
    replica and by ``subagents mcp login`` run elsewhere, with the connection settings of
    ``tracker_store`` (``url``, ``port``, ``db``, ``username``, ``password`` from
    ``${VAR}``, ``use_ssl``, ``query``, ``key_prefix``).
    """

    type: Literal["file", "sqlite", "redis", "sql", "postgresql"] = "file"
    path: str | None = None
    """``file``/``sqlite``: the file (relative to the project directory)."""
    url: str | None = None
    """A host name, or a full ``postgresql://`` / ``redis://`` URL."""
    port: int | None = None
    db: str | int | None = None
    username: str | None = None
    password: str | None = None
    use_ssl: bool = False
    key_prefix: str | None = None
    """``redis``: prefix of the keys (default ``subagents:``)."""
    dialect: str | None = None
    query: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(default=5.0, gt=0)
    """Seconds one read or write of the store may take."""

    @field_validator("type", mode="before")
    @classmethod
    def _type_lower(cls, value: Any) -> Any:
        value = _lower(value)
        return "postgresql" if value == "postgres" else value


class EventBrokerConfig(_Model):
    """``event_broker``: ``pika`` (RabbitMQ). Every committed event is published once.

    ``url`` is a host name or an ``amqp://`` URL; ``queues`` are declared durable and
    each receives every event. ``max_buffer`` events wait in memory while RabbitMQ is
    unreachable; beyond that the oldest are dropped and counted in the log.
    """

    type: Literal["pika"] = "pika"
    url: str = "localhost"
    port: int | None = None
    username: str | None = None
    password: str | None = None
    vhost: str | None = None
    use_ssl: bool = False
    queues: list[str] = Field(default_factory=lambda: ["rasa_production_events"])
    exchange_name: str | None = None
    max_buffer: int = Field(default=10000, ge=1)

    _type_lower = field_validator("type", mode="before")(_lower)

    @model_validator(mode="before")
    @classmethod
    def _queue_alias(cls, data: Any) -> Any:
        """Rasa also accepts a single ``queue: name``."""
        if isinstance(data, dict) and "queue" in data and "queues" not in data:
            data = dict(data)
            data["queues"] = [data.pop("queue")]
        return data


class ServerAuthConfig(_Model):
    """``auth``: the REST server's authentication, as ``subagents run --auth-token`` /
    ``--jwt-secret`` / ``--jwt-method`` / ``--protect-webhook`` (a flag given on the command
    line or in its environment variable wins). Secrets only through ``${VAR}``."""

    token: str | None = None
    jwt_secret: str | None = None
    jwt_method: str = "HS256"
    protect_webhook: bool = False


class EndpointsConfig(_Model):
    model_groups: list[ModelGroup] = Field(default_factory=list)
    mcp_servers: list[MCPServerConfig] = Field(default_factory=list)
    action_endpoint: ActionEndpointConfig | None = None
    tracker_store: TrackerStoreConfig = Field(default_factory=TrackerStoreConfig)
    lock_store: LockStoreConfig = Field(default_factory=LockStoreConfig)
    mcp_token_store: MCPTokenStoreConfig = Field(default_factory=MCPTokenStoreConfig)
    event_broker: EventBrokerConfig | None = None
    auth: ServerAuthConfig = Field(default_factory=ServerAuthConfig)
    tracing: TracingConfig | None = None
    metrics: list[MetricsConfig] = Field(default_factory=list)

    _metrics_list = field_validator("metrics", mode="before")(as_list)


# --------------------------------------------------------------------------- sub agents


class AgentLLMConfig(_Model):
    """``configuration.llm``: a model group reference or an inline model."""

    model_group: str | None = Field(
        default=None, validation_alias=AliasChoices("model_group", "model-group")
    )
    provider: str | None = None
    model: str | None = None
    api_base: str | None = None
    api_key: str | None = None
    timeout: float | None = None
    retries: int | None = None
    temperature: float | None = None


AGENT_PROTOCOLS = ("RASA", "A2A")


class AgentInfo(_Model):
    name: str
    protocol: str = "RASA"
    """``RASA`` (a ReAct sub agent run here) or ``A2A`` (a remote agent); any case."""
    description: str = ""

    @field_validator("protocol")
    @classmethod
    def _known_protocol(cls, value: str) -> str:
        upper = value.strip().upper()
        if upper not in AGENT_PROTOCOLS:
            raise ValueError(
                f"unknown protocol '{value}'; use RASA (a ReAct sub agent, the default) or"
                " A2A (a remote agent reached through its agent card)"
            )
        return upper


class A2AAuthConfig(_Model):
    """``configuration.auth`` of an A2A agent: how requests to the remote agent authenticate.

    ``api_key`` goes into ``header_name`` formatted with ``header_format`` (``{key}`` or
    ``{api_key}``), by default ``Authorization: Bearer <key>`` as in Rasa.
    """

    headers: dict[str, str] = Field(default_factory=dict)
    token: str | None = None
    api_key: str | None = None
    header_name: str = "Authorization"
    header_format: str = "Bearer {key}"
    oauth: OAuthConfig | None = None


class A2APollingConfig(_Model):
    """``configuration.polling``: how a task that is still running is polled (``tasks/get``).

    The first poll waits ``initial_delay`` seconds, each next one twice as long up to
    ``max_delay``; after ``max_wait`` seconds in all the run ends with ``fatal_error``.
    """

    initial_delay: float = 0.5
    max_delay: float = 5.0
    max_wait: float = 60.0


class AgentConfiguration(_Model):
    llm: AgentLLMConfig | None = None
    prompt_template: str | None = None
    timeout: float | None = None
    max_retries: int = 3
    max_iterations: int = 10
    module: str | None = None
    # protocol: A2A
    agent_card: str | None = None
    """A2A: the remote agent's card, a URL or a JSON file (relative to the project)."""
    auth: A2AAuthConfig | None = None
    polling: A2APollingConfig | None = None
    streaming: bool | None = None
    """A2A: use ``message/stream`` when the card offers it (default: yes)."""


class AgentMCPServerRef(_Model):
    name: str
    include_tools: list[str] | None = None
    exclude_tools: list[str] | None = None


class AgentConnections(_Model):
    mcp_servers: list[AgentMCPServerRef] = Field(default_factory=list)


class AgentConfig(_Model):
    """A ``sub_agents/<name>/config.yml``."""

    agent: AgentInfo
    configuration: AgentConfiguration = Field(default_factory=AgentConfiguration)
    connections: AgentConnections = Field(default_factory=AgentConnections)


# --------------------------------------------------------------------------- domain.yml


class SlotConfig(_Model):
    """One slot of domain.yml; its type's rules live in :mod:`subagents.config.slots`."""

    type: SlotTypeName = "any"
    values: list[Any] | None = None
    initial_value: Any = None
    influence_conversation: bool | None = None
    mappings: list[dict[str, Any]] | None = None

    @model_validator(mode="after")
    def _coerce_initial_value(self) -> SlotConfig:
        """``initial_value: 0`` of a float slot is 0.0 (a number of a text slot, its text),
        as a value set at run time would be. Other mismatches are reported by the checks."""
        self.initial_value = SLOT_TYPES[self.type].from_yaml(self.initial_value)
        return self

    def slot(self, name: str) -> Slot:
        """This declaration bound to its name: the slot the runtime holds."""
        return Slot.of(name, self.type, self.values, self.initial_value)

    def condition_problem(self, name: str, op: str, literal: Any) -> str | None:
        """The slot type's verdict on a condition (:class:`~subagents.conditions.SlotTyping`)."""
        return self.slot(name).condition_problem(name, op, literal)


class ResponseVariation(_Model):
    model_config = ConfigDict(extra="allow")
    text: str | None = None
    buttons: list[dict[str, Any]] | None = None
    image: str | None = None
    custom: dict[str, Any] | None = None
    condition: list[dict[str, Any]] | None = None


class DomainConfig(_Model):
    version: str | None = None
    slots: dict[str, SlotConfig] = Field(default_factory=dict)
    responses: dict[str, list[ResponseVariation]] = Field(default_factory=dict)
    actions: list[str] = Field(default_factory=list)
    session_config: dict[str, Any] = Field(default_factory=dict)
    intents: list[Any] = Field(default_factory=list)
    entities: list[Any] = Field(default_factory=list)


# --------------------------------------------------------------------------- flows.yml


class NextBranch(_Model):
    """One branch of ``next``: ``if``/``then`` or ``else``."""

    if_: str | None = Field(default=None, alias="if")
    then: str | list[FlowStep] | None = None
    else_: str | list[FlowStep] | None = Field(default=None, alias="else")


class ToolInputMapping(_Model):
    """``mapping.input`` item of an MCP tool step: the tool parameter filled from a slot."""

    param: str = Field(min_length=1)
    slot: str = Field(min_length=1)


class ToolOutputMapping(_Model):
    """``mapping.output`` item: the slot set from ``value``, an expression over ``result``."""

    slot: str = Field(min_length=1)
    value: str = Field(min_length=1)


class ToolMapping(_Model):
    """``mapping`` of a ``call:`` step that calls an MCP tool directly."""

    input: list[ToolInputMapping] = Field(default_factory=list)
    output: list[ToolOutputMapping] = Field(default_factory=list)


class Rejection(_Model):
    """A ``collect`` rejection: when ``if`` holds after the slot is filled, the value is
    refused with ``utter`` and the question is asked again."""

    if_: str = Field(alias="if")
    utter: str


class FlowStep(_Model):
    """One step; exactly one of call / action / collect / set_slots / link / noop is set."""

    id: str | None = None
    call: str | None = None
    mcp_server: str | None = None
    """With ``mapping``: ``call:`` names a tool of this MCP server (endpoints.yml)."""
    mapping: ToolMapping | None = None
    exit_if: list[str] | None = None
    action: str | None = None
    collect: str | None = None
    description: str | None = None
    ask_before_filling: bool = False
    utter: str | None = None
    reset_after_flow_ends: bool = True
    rejections: list[Rejection] | None = None
    set_slots: list[dict[str, Any]] | None = None
    link: str | None = None
    noop: bool | None = None
    next: str | list[NextBranch] | None = None


class FlowConfig(_Model):
    name: str | None = None
    description: str = ""
    if_: str | None = Field(default=None, alias="if")
    persisted_slots: list[str] = Field(default_factory=list)
    steps: list[FlowStep] = Field(min_length=1)


class FlowsConfig(_Model):
    version: str | None = None
    flows: dict[str, FlowConfig] = Field(default_factory=dict)


NextBranch.model_rebuild()
FlowStep.model_rebuild()
