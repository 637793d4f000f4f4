"""MCPOpenAgent: the general-purpose ReAct sub agent.

It works on an open-ended task and ends the run itself by calling the built-in
``task_completed`` tool; the tool's ``message`` is sent to the user. Calls after
``task_completed`` in the same response are not executed.
"""

from __future__ import annotations

from subagents.agents.base import ReActAgent
from subagents.agents.loop import Complete, Continue, Run, StepResult
from subagents.agents.prompt import OPEN_AGENT_TEMPLATE
from subagents.tools.base import ControlResult, Toolset
from subagents.tools.builtin import TaskCompleted, TaskCompletedToolset


class MCPOpenAgent(ReActAgent):
    """General-purpose ReAct sub agent (completes by calling ``task_completed``).

    Construct directly for tests::

        agent = MCPOpenAgent(name="helper", description="...", llm=client, toolsets=[...])
        output = await agent.run(AgentInput(user_message="hi"))
    """

    default_template_file = OPEN_AGENT_TEMPLATE

    def builtin_toolsets(self) -> list[Toolset]:
        return [TaskCompletedToolset()]

    async def on_control(self, run: Run, result: ControlResult) -> StepResult:
        if isinstance(result, TaskCompleted):
            await self.emit_text(run, result.message)
            return Complete(result.message)
        return Continue()
