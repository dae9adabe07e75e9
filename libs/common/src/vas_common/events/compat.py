"""Which differences between two event schemas break a producer or a consumer.

Events stay on topics for a long time and services upgrade one at a time, so a change is
breaking when an old reader cannot read a new event or a new reader cannot read an old one:
an event type or a field removed, a field newly required, a field's type changed, an enum's
values changed. Adding an event type or an optional field is not breaking.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def _resolve(node: Schema, root: Schema) -> Schema:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        resolved: Schema = root.get("$defs", {})[ref.removeprefix("#/$defs/")]
        return resolved
    return node


def _shape(node: Schema, root: Schema, depth: int = 0) -> Any:
    """A comparable description of a field's type: what a reader relies on."""
    node = _resolve(node, root)
    if depth > 20:
        return "..."
    if "enum" in node:
        return ("enum", tuple(sorted(map(str, node["enum"]))))
    if "const" in node:
        return ("const", node["const"])
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in node:
            return (combinator, tuple(sorted(repr(_shape(n, root, depth + 1)) for n in node[combinator])))
    kind = node.get("type")
    if kind == "object" and "properties" in node:
        return ("object", tuple(sorted(node["properties"])))
    if kind == "array":
        return ("array", _shape(node.get("items", {}), root, depth + 1))
    return (kind, node.get("format"))


def _compare_object(path: str, old: Schema, new: Schema, old_root: Schema, new_root: Schema) -> list[str]:
    problems: list[str] = []
    old, new = _resolve(old, old_root), _resolve(new, new_root)
    old_props: Schema = old.get("properties", {})
    new_props: Schema = new.get("properties", {})
    for name in sorted(set(new.get("required", [])) - set(old.get("required", []))):
        problems.append(f"{path}.{name}: newly required (old events lack it)")
    for name, old_field in old_props.items():
        if name not in new_props:
            problems.append(f"{path}.{name}: removed (old readers expect it)")
            continue
        new_field = new_props[name]
        old_r, new_r = _resolve(old_field, old_root), _resolve(new_field, new_root)
        if old_r.get("type") == "object" and "properties" in old_r and "properties" in new_r:
            problems += _compare_object(f"{path}.{name}", old_r, new_r, old_root, new_root)
            continue
        old_shape, new_shape = _shape(old_field, old_root), _shape(new_field, new_root)
        if old_shape != new_shape:
            problems.append(f"{path}.{name}: type changed from {old_shape} to {new_shape}")
    return problems


def breaking_changes(old: Schema, new: Schema) -> list[str]:
    old_map: dict[str, str] = old.get("discriminator", {}).get("mapping", {})
    new_map: dict[str, str] = new.get("discriminator", {}).get("mapping", {})
    problems: list[str] = []
    for event_type, old_ref in sorted(old_map.items()):
        if event_type not in new_map:
            problems.append(f"{event_type}: event type removed")
            continue
        problems += _compare_object(event_type, {"$ref": old_ref}, {"$ref": new_map[event_type]}, old, new)
    return problems
