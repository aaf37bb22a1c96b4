"""The action registry: action names to plug-in import strings (``module:Class``).

``encrypt``, ``transcribe`` and ``intercept`` are part of the rule language but
their plug-ins are not in this build: their import strings name modules that do
not exist, so a rule using one is refused at load time with a clear message
instead of being accepted and silently ignored.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from types import MappingProxyType

from siprec_appliance.policy.actions import Action

__all__ = ["DEFAULT_REGISTRY", "resolve_action"]

DEFAULT_REGISTRY: Mapping[str, str] = MappingProxyType(
    {
        "alert": "siprec_appliance.policy.actions:AlertAction",
        "encrypt": "siprec_appliance.policy.plugins.encrypt:EncryptAction",
        "intercept": "siprec_appliance.policy.plugins.intercept:InterceptAction",
        "record": "siprec_appliance.policy.actions:RecordAction",
        "retain": "siprec_appliance.policy.actions:RetainAction",
        "tag": "siprec_appliance.policy.actions:TagAction",
        "transcribe": "siprec_appliance.policy.plugins.transcribe:TranscribeAction",
    }
)


def resolve_action(name: str, registry: Mapping[str, str]) -> type[Action] | str:
    """The plug-in class for action ``name``, or why it cannot be used (plain words)."""
    import_string = registry.get(name)
    if import_string is None:
        known = ", ".join(sorted(registry))
        return f"unknown action {name!r} (known: {known})"
    loaded = _load(import_string)
    if isinstance(loaded, str):
        return f"action {name!r} {loaded}"
    return loaded


@functools.lru_cache(maxsize=64)
def _load(import_string: str) -> type[Action] | str:
    module_name, _, attribute = import_string.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if module_name == missing or module_name.startswith(missing + "."):
            return (
                f"is not available in this build (plug-in {import_string} is not installed); "
                "remove it from the rule"
            )
        return f"cannot be used: plug-in {import_string} failed to import: {exc}"
    except Exception as exc:  # a broken plug-in refuses its rules, never crashes the loader
        return f"cannot be used: plug-in {import_string} failed to import: {exc}"
    plugin = getattr(module, attribute, None)
    if not (isinstance(plugin, type) and issubclass(plugin, Action)):
        return f"cannot be used: {import_string} is not an Action plug-in class"
    return plugin
