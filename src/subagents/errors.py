"""The one exception tree of subagents: every exception it raises descends from
:class:`SubagentsError` (a test walks every module and checks it).

Families that must never be confused:

* :class:`ToolSignal` and its subclasses are *signals fed back to the model*: an unknown
  tool name, malformed or schema-violating arguments, a tool that failed, timed out or
  was cut off mid-call. The ReAct loop turns each into a ``tool`` message the model can
  correct, bounded by the iteration limit. They never end a run on their own. Toolsets
  (the MCP layer included) convert whatever their transport raises into these at their
  own boundary: the loop knows no transport's exceptions.
* :class:`RunFailure` and its subclasses *end a run* with ``fatal_error``: the LLM is
  unreachable after retries, the run's deadline passed, the iteration limit was reached,
  an MCP server is gone after reconnects. ``ReActAgent.run`` is the one place that turns
  them, and any crash of an agent (a bug, a user hook raising), into a ``fatal_error``
  output; it never raises except for cancellation.

Configuration problems are :class:`ConfigError` (one problem, with file, line and field)
collected into :class:`ConfigErrors`. Custom-action problems are :class:`ActionError`.
The other classes below live beside the code that raises them (module in brackets).

Tree::

    SubagentsError
    ├── ConfigError                   one problem in a project file (file, line, field)
    │   └── ConfigErrors              several problems, raised together at load
    ├── InterpolationError            bad ${VAR} reference (config.interpolate; ValueError)
    ├── AgentModuleError              configuration.module cannot be imported
    │                                 (agents.classes; ValueError)
    ├── ConditionSyntaxError          an exit_if / if condition does not parse
    │                                 (conditions; ValueError)
    ├── ToolSignal                    fed back to the model as a tool message
    │   ├── UnknownToolError          name not offered (or excluded)
    │   ├── ToolArgumentsError        malformed JSON or schema violation
    │   ├── ToolExecutionError        the tool ran and failed (isError, exception)
    │   ├── ToolTimeoutError          the tool did not answer in time
    │   └── ToolInterruptedError      the transport broke mid-call; it may have run
    │       └── MCPTransportError     ... of an MCP server (reconnected on next use)
    ├── RunFailure                    ends the run with fatal_error
    │   ├── LLMUnavailableError       provider failed after retries
    │   ├── DeadlineExceeded          configuration.timeout passed
    │   ├── IterationLimitReached     configuration.max_iterations LLM calls used
    │   └── MCPServerUnavailable      connect/reconnect failed after max_retries
    │       └── MCPAuthError          refused credentials (HTTP 401/403) or a login is needed
    │           ├── OAuthTokenError   the token endpoint refused or failed (mcp.auth)
    │           └── LoginError        ``subagents mcp login`` could not finish (mcp.login)
    ├── AttemptError                  one failed LLM request, maybe retried (llm.retry)
    ├── BadResponse                   a model response we cannot read (llm.assemble;
    │                                 ValueError), becomes an AttemptError
    ├── StoreUnavailable              a tracker/lock store or broker could not be reached
    │   └── SchemaVersionError        the store's schema is newer than this version
    ├── ConversationBusy              another turn of the conversation held it too long
    ├── ActionError                   a custom action could not run or failed
    │   ├── UnknownActionError        404 / not registered
    │   ├── ActionRejectedError       400 / ActionExecutionRejection
    │   └── ActionServerError         500, transport failure, timeout, bad response
    ├── ActionExecutionRejection      raised by an action: it refuses to run
    ├── ActionNotFoundException       the action server has no such action
    ├── ActionMissingDomainException  the action needs the domain (HTTP 449)
    │                                 (these three: actions.interfaces, Rasa SDK names)
    ├── BadActionCall                 a malformed action-server request (actions.core;
    │                                 ValueError)
    ├── SlotValueError                a value that does not fit the slot's type
    │                                 (dialogue.domain; ValueError)
    ├── BadRequest                    a malformed REST webhook request (channels.rest)
    ├── RequestRejected               a request over a limit: 400/408/413 (channels.limits)
    ├── AuthError                     401/403 on the conversation API (channels.auth)
    ├── LoginRequired                 internal: an OAuth flow needs a person (mcp.auth)
    ├── ScriptError                   a bad scripted-run file (channels.script)
    ├── ScaffoldError                 ``subagents init`` cannot write the project
    ├── InvalidTestFile               a conversation test file with errors, for pytest
    │                                 (testing.conversation_plugin)
    └── CaseFailed                    a conversation test case failed, for pytest
                                      (testing.conversation_plugin)

Private classes (``_Dead`` in mcp.connection, ``_DomainMissing`` in the gRPC executor,
``_BadRequest`` in the scripted model server, ``_StepFailed`` in dialogue.tool_steps)
descend from SubagentsError too; they never leave their module.
"""

from __future__ import annotations

from dataclasses import dataclass


class SubagentsError(Exception):
    """Base class of every error raised by subagents."""


# --------------------------------------------------------------------------- config


@dataclass
class ConfigProblem:
    """One problem in a project file; ``str()`` gives ``file:line: message``."""

    file: str
    line: int | None
    message: str
    field: str | None = None
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{where}: {prefix}{self.message}"


class ConfigError(SubagentsError):
    """One configuration problem. ``problem`` names the file, line and field."""

    def __init__(
        self,
        message: str,
        *,
        file: str = "",
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.problem = ConfigProblem(file=file, line=line, message=message, field=field)
        super().__init__(str(self.problem))


class ConfigErrors(ConfigError):
    """Several configuration problems found together (all of them are reported)."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        SubagentsError.__init__(self, "\n".join(str(p) for p in problems))
        self.problem = problems[0] if problems else ConfigProblem("", None, "")


# --------------------------------------------------------------------------- tool signals


class ToolSignal(SubagentsError):
    """A problem with one tool call that goes back to the model as a tool message."""

    def __init__(self, tool_name: str, message: str) -> None:
        self.tool_name = tool_name
        self.message = message
        super().__init__(message)


class UnknownToolError(ToolSignal):
    """The model asked for a tool that is not offered to this agent."""


class ToolArgumentsError(ToolSignal):
    """The arguments were not valid JSON or violated the tool's input schema."""


class ToolExecutionError(ToolSignal):
    """The tool ran and reported an error (MCP ``isError``, an exception, a failed slot set)."""


class ToolTimeoutError(ToolSignal):
    """The tool did not answer within its timeout."""


class ToolInterruptedError(ToolSignal):
    """The connection to the tool broke while the call was in flight: it may have run."""


# --------------------------------------------------------------------------- run failures


class RunFailure(SubagentsError):
    """A failure of the run itself; the agent ends with ``fatal_error``."""


class LLMUnavailableError(RunFailure):
    """The model provider could not be reached or kept failing after the retries."""


class DeadlineExceeded(RunFailure):
    """``configuration.timeout`` passed before the run finished."""


class IterationLimitReached(RunFailure):
    """The run used ``configuration.max_iterations`` LLM calls without finishing."""


class MCPServerUnavailable(RunFailure):
    """An MCP server could not be (re)connected after ``max_retries`` attempts."""

    def __init__(self, server: str, message: str) -> None:
        self.server = server
        super().__init__(f"MCP server '{server}': {message}")


class MCPAuthError(MCPServerUnavailable):
    """An MCP server refused the credentials (HTTP 401/403), or it needs an OAuth login
    nobody did. Retrying cannot help; the message says what to do. ``status`` is the HTTP
    status when there was one."""

    def __init__(self, server: str, message: str, *, status: int | None = None) -> None:
        self.status = status
        self.detail = message
        super().__init__(server, message)


class MCPTransportError(ToolInterruptedError):
    """A tool call failed because the connection to an MCP server died mid-call.

    The MCP layer reconnects on the next use; it retries the call itself only for tools
    annotated read-only or idempotent. ``tool_name`` is the called tool when known.
    """

    def __init__(self, server: str, message: str, tool_name: str = "") -> None:
        self.server = server
        super().__init__(tool_name, f"MCP server '{server}': {message}")


# --------------------------------------------------------------------------- actions


class ActionError(SubagentsError):
    """A custom action could not be run or failed; its events are not applied."""

    def __init__(self, action_name: str, message: str) -> None:
        self.action_name = action_name
        super().__init__(f"action '{action_name}': {message}")


class UnknownActionError(ActionError):
    """The executor does not know the action (HTTP 404, gRPC NOT_FOUND)."""


class ActionRejectedError(ActionError):
    """The action rejected execution (HTTP 400, ``ActionExecutionRejection``)."""


class ActionServerError(ActionError):
    """The action failed on the server (HTTP 500), timed out, or the transport failed."""


# --------------------------------------------------------------------------- stores


class StoreUnavailable(SubagentsError):
    """A tracker store, lock store or event broker could not be reached or failed.

    The turn that met it is not saved; the user gets ``utter_internal_error``.
    """


class SchemaVersionError(StoreUnavailable):
    """The store holds a schema newer than this version understands (upgrade subagents)."""


class ConversationBusy(SubagentsError):
    """A message waited ``lock_store.wait_timeout`` for the turn before it; not handled."""
