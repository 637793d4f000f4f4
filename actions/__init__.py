"""The example assistant's custom actions, run in-process (endpoints.yml:
``action_endpoint: {actions_module: actions}``). Every module of this package is imported
and its :class:`subagents.actions.Action` subclasses are registered by ``name()``.
"""
