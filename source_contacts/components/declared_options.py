"""Every option a custom component is declared with must be one of its fields.

The CDK's factory passes a custom component only the options its class has a field for and drops the others
silently: a misspelt option would fall back to its default (a window size, a split floor) with no word said. The
manifest's $parameters are copied into every component below them, so keys equal to an inherited parameter are not
options.
"""

import dataclasses
import importlib
from typing import Any, Iterator, List, Mapping, Tuple

# Keys of a custom component's definition that are not options of its class (a CustomRetriever's partition_router the CDK reads itself).
_DEFINITION_KEYS = {"type", "class_name", "$parameters", "parameters", "partition_router"}


def _custom_components(node: Any, path: str) -> Iterator[Tuple[str, Mapping[str, Any]]]:
    """(where, definition) of every custom component in a resolved manifest."""
    if isinstance(node, Mapping):
        if str(node.get("type", "")).startswith("Custom") and "class_name" in node:
            yield path, node
        for key, value in node.items():
            if key != "$parameters":
                yield from _custom_components(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _custom_components(value, f"{path}[{index}]")


def undeclared_options(manifest: Mapping[str, Any]) -> List[str]:
    """One line per option of a custom component in `manifest` that its class does not have, naming both."""
    problems = []
    for where, definition in _custom_components(manifest, ""):
        module, _, name = str(definition["class_name"]).rpartition(".")
        component = getattr(importlib.import_module(module), name)
        if not dataclasses.is_dataclass(component):
            continue
        known = {f.name for f in dataclasses.fields(component)} | {
            name for name, hint in getattr(component, "__annotations__", {}).items() if isinstance(hint, dataclasses.InitVar)
        }
        inherited = {key for key, value in (definition.get("$parameters") or {}).items() if definition.get(key) == value}
        for option in sorted(set(definition) - _DEFINITION_KEYS - known - inherited):
            problems.append(f"{where}: {name} has no option {option!r} (its options: {', '.join(sorted(known - {'config'}))})")
    return problems
