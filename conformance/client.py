"""The conformance client: the subagents MCP layer driven through its public API.

The MCP conformance harness (``@modelcontextprotocol/conformance``, client mode) starts a
mock server per scenario and runs this script with the server URL as the last argument,
the scenario in ``MCP_CONFORMANCE_SCENARIO`` and, for some scenarios, credentials in
``MCP_CONFORMANCE_CONTEXT`` (JSON). The script configures the server as a user would in
endpoints.yml (an ``MCPServerConfig``), connects with ``MCPManager``, lists the tools and
calls the one the scenario expects. Exit 0 means the client did its part; the harness
judges what it saw on the wire.

The only thing a user would not have is :class:`AutoApprover`: where a person would
approve the authorization page in a browser, it fetches the page and reads the redirect
(the mock authorization servers approve at once).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx2

from subagents.config.models import MCPServerConfig, OAuthConfig
from subagents.errors import MCPAuthError, ToolSignal
from subagents.mcp import AuthorizationCodeResult, MCPManager, MemoryTokenStore
from subagents.tools.base import ToolContext
from subagents.tools.elicitation import parse_answer
from subagents.tools.interaction import Answer, Question

logger = logging.getLogger("conformance")

CLIENT_METADATA_URL = "https://conformance-test.local/client-metadata.json"
"""The Client ID Metadata Document URL the harness expects (``auth/basic-cimd``)."""

TOOL_ARGUMENTS: dict[str, dict[str, Any]] = {"add_numbers": {"a": 5, "b": 3}}


class AutoApprover:
    """Approves an authorization request by fetching it and reading the redirect."""

    redirect_uri = "http://127.0.0.1:33418/callback"

    async def authorize(self, authorization_url: str) -> AuthorizationCodeResult:
        async with httpx2.AsyncClient(timeout=30.0) as http:
            response = await http.get(authorization_url, follow_redirects=False)
        location = response.headers.get("location")
        if response.status_code not in (301, 302, 303, 307, 308) or not location:
            raise RuntimeError(f"authorization answered HTTP {response.status_code}, no redirect")
        query = parse_qs(urlparse(location).query)
        if "code" not in query:
            raise RuntimeError(f"the redirect carries no code: {location}")
        return AuthorizationCodeResult(
            code=query["code"][0],
            state=query.get("state", [None])[0],
            iss=query.get("iss", [None])[0],
        )


async def accept_defaults(question: Question) -> Answer:
    """The user of a tool's question (elicitation) replies "ok": the form's defaults are
    accepted, as our parser reads that reply (SEP-1034 defaults filled in)."""
    answer = parse_answer(question, "ok")
    if isinstance(answer, str):
        raise RuntimeError(f"the reply 'ok' does not answer the question: {answer}")
    return answer


def oauth_config(scenario: str, context: dict[str, Any]) -> OAuthConfig | None:
    """The ``oauth:`` section a user would write for the scenario's server."""
    if not scenario.startswith("auth/"):
        return None
    client_id = context.get("client_id")
    if scenario == "auth/client-credentials-jwt":
        return OAuthConfig(
            grant="client_credentials",
            client_id=client_id,
            private_key=context["private_key_pem"],
            signing_algorithm=context.get("signing_algorithm", "ES256"),
        )
    if scenario == "auth/client-credentials-basic":
        return OAuthConfig(
            grant="client_credentials",
            client_id=client_id,
            client_secret=context.get("client_secret"),
            token_endpoint_auth_method="client_secret_basic",
        )
    return OAuthConfig(
        grant="authorization_code",
        client_id=client_id,
        client_secret=context.get("client_secret"),
        client_metadata_url=CLIENT_METADATA_URL,
    )


async def run(url: str, scenario: str, context: dict[str, Any]) -> None:
    cfg = MCPServerConfig(
        name="conformance",
        type="http",
        url=url,
        oauth=oauth_config(scenario, context),
        timeout=30.0,
        connect_timeout=30.0,
        max_retries=1,
    )
    async with MCPManager([cfg], token_store=MemoryTokenStore(), authorizer=AutoApprover()) as mcp:
        await mcp.start()
        toolset = mcp.toolset("conformance")
        tools = await toolset.list_tools()
        logger.info("tools: %s", [t.name for t in tools])
        if not tools:
            return
        # Every tool the scenario offers is called, as a model working through them
        # would (request-state scenarios check each flow on its own tool).
        context = ToolContext(ask_user=accept_defaults)
        for tool in tools:
            arguments = TOOL_ARGUMENTS.get(tool.name, {})
            try:
                outcome = await toolset.call_tool(tool.name, arguments, context)
            except ToolSignal as signal:  # what an agent's model would read as the result
                logger.warning("%s failed: %s", tool.name, signal)
                continue
            logger.info("%s -> %s", tool.name, outcome.text[:200])


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    try:
        asyncio.run(run(sys.argv[-1], scenario, context))
    except MCPAuthError as exc:
        # The client gave up on a server that keeps refusing (auth/scope-retry-limit):
        # that is the expected end; the harness judges the requests it saw.
        logger.warning("gave up: %s", exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
