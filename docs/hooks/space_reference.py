"""MkDocs hook: the space reference's tables, rendered from the space file's JSON Schema.

`docs/space-reference.md` holds the marker `<!-- space-reference -->`; at build time it is
replaced by a table per section of the space file (every key, its type, default and
description), made from `search.schema.space_schema()`, the schema `python -m search.schema`
prints. The page is the code's on every build and cannot drift from it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- space-reference -->"


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER not in markdown:
        return markdown
    if sys.path[0] != str(ROOT):
        sys.path.insert(0, str(ROOT))  # this checkout's `search`, not another copy installed in the venv
    from search import schema

    if not Path(schema.__file__).resolve().is_relative_to(ROOT):
        raise RuntimeError(f"the space reference would describe {schema.__file__}, not this checkout's search/")
    return markdown.replace(MARKER, render_reference(schema.space_schema()))


def render_reference(schema: dict[str, Any]) -> str:
    """Markdown: the top level, each section below it, then each built-in task's `data:` and each
    built-in model's `model:` (the schema's if/then conditions)."""
    definitions = schema["$defs"]
    parts: list[str] = []
    sections: list[tuple[str, dict[str, Any]]] = []  # (dotted path, its object schema), in reading order

    def walk(path: str, node: dict[str, Any]) -> None:
        sections.append((path, node))
        for key, field in node.get("properties", {}).items():
            target = _section_of(field, definitions)
            if target is not None:
                walk(f"{path}.{key}{target[0]}" if path else f"{key}{target[0]}", target[1])

    walk("", schema)
    for path, node in sections:
        if not path:
            title, intro = "The top level", schema["description"]
        else:
            title, intro = f"`{path}`", node.get("description", "")
        parts.append(_table(title, path, intro, node, definitions))

    conditions = schema.get("allOf", [])
    tasks = [c for c in conditions if "task" in c["if"]["properties"]]
    models = [c for c in conditions if "model" in c["if"]["properties"]]
    if tasks:
        parts.append("## `data` of each built-in task\n\n" + _plain(schema["properties"]["data"]["description"])
                     + " A task of your own (`module:Class`) has the keys of its `Options`.\n")
    for condition in tasks:
        names = condition["if"]["properties"]["task"]
        names = [names["const"]] if "const" in names else names["enum"]
        node = _resolve(condition["then"]["properties"]["data"], definitions)
        also = f" (also `task: {'`, `'.join(names[1:])}`)" if len(names) > 1 else ""
        parts.append(_table(f"`data` of `task: {names[0]}`{also}", f"data-{names[0]}", node.get("description", ""),
                            node, definitions, level=3))
    if models:
        parts.append("## `model` of each built-in model\n\n" + _plain(schema["properties"]["model"]["description"])
                     + " A model of your own (`module:callable`) takes its keyword arguments with defaults.\n")
    for condition in models:
        name = condition["if"]["properties"]["model"]["properties"]["name"]["const"]
        node = _resolve(condition["then"]["properties"]["model"], definitions)
        parts.append(_table(f"`model` of `name: {name}`", f"model-{name}", node.get("description", ""), node,
                            definitions, level=3))
    return "\n".join(parts)


def _table(title: str, path: str, intro: str, node: dict[str, Any], definitions: dict[str, Any],
           level: int = 2) -> str:
    lines = [f"{'#' * level} {title} {{#{_anchor(path)}}}", ""]
    if intro:
        lines += [_plain(intro), ""]
    lines += ["| key | type | default | what it does |", "|---|---|---|---|"]
    required = set(node.get("required", []))
    for key, field in node.get("properties", {}).items():
        section = _section_of(field, definitions)
        if section is not None:  # its own table below: a link to it
            child = f"{path}.{key}{section[0]}" if path else f"{key}{section[0]}"
            words = {"": "section", "[]": "list of sections", ".<key>": "mapping of dimensions"}[section[0]]
            kind = f"[{words}](#{_anchor(child)})" + (" or null" if _nullable(field) else "")
        else:
            kind = _type(field, definitions)
        default = "required" if key in required else _default(field, section)
        lines.append(f"| `{key}` | {_cell(kind)} | {_cell(default)} | {_cell(_plain(field.get('description', '')))} |")
    return "\n".join(lines) + "\n"


def _nullable(field: dict[str, Any]) -> bool:
    return any(option.get("type") == "null" for option in field.get("anyOf", []))


def _section_of(field: dict[str, Any], definitions: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The object section a key opens (its own table), with the path suffix it takes: `[]` for a
    list of them, `.<key>` for a mapping of them; None for a plain value."""
    for option in [field, *field.get("anyOf", [])]:
        if "$ref" in option:
            return "", _resolve(option, definitions)
        if option.get("type") == "array" and "$ref" in option.get("items", {}):
            return "[]", _resolve(option["items"], definitions)
        if isinstance(option.get("additionalProperties"), dict) and "$ref" in option["additionalProperties"]:
            return ".<key>", _resolve(option["additionalProperties"], definitions)
    return None


def _resolve(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    return definitions[node["$ref"].rsplit("/", 1)[-1]] if "$ref" in node else node


def _type(field: dict[str, Any], definitions: dict[str, Any]) -> str:
    if "const" in field:
        return f"`{_yaml(field['const'])}`"
    if "enum" in field:
        return " | ".join(f"`{_yaml(value)}`" for value in field["enum"])
    if "anyOf" in field:
        kinds = [_type({"type": field["type"], **option} if "type" in field else option, definitions)
                 for option in field["anyOf"]]
        return " or ".join(dict.fromkeys(kinds))
    kind = field.get("type")
    if kind == "array":
        if "prefixItems" in field:
            return "[" + ", ".join(_type(item, definitions) for item in field["prefixItems"]) + "]"
        items = _type(field["items"], definitions) if field.get("items") else ""
        text = f"list of {items}" if items else "list"
        if " or " in items:
            text = f"list of ({items.replace(' or ', ', ', items.count(' or ') - 1)})"
        if "minItems" in field:
            text += f" ({field['minItems']}" + (f" to {field['maxItems']})" if "maxItems" in field else " or more)")
        return text
    if kind == "object":
        return "mapping"
    if kind is None:
        return "any"
    pattern = field.get("pattern", "")
    if kind == "string" and pattern.endswith("s)?$"):
        return "a duration (90s, 15m, 2h, 1h30m)"
    if kind == "string" and ")*:[" in pattern:
        return "`module:attribute`"  # a user's own task or model
    text = {"string": "text", "boolean": "true | false"}.get(kind, kind)
    limits = [f"{sign} {_yaml(field[name])}" for name, sign in
              (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<"))
              if name in field]
    return f"{text} {', '.join(limits)}" if limits else text


def _default(field: dict[str, Any], section: tuple[str, dict[str, Any]] | None) -> str:
    if "default" not in field:
        return ""
    value = field["default"]
    if isinstance(value, dict) and value and section is not None:
        return "its keys' defaults"
    return f"`{_yaml(value)}`"


def _yaml(value: Any) -> str:
    """A value as a space file writes it (flow style)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_yaml(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_yaml(item) for item in value) + "]"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _plain(text: str) -> str:
    return " ".join(text.split())


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _anchor(path: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in path.lower()).strip("-").replace("--", "-")
