"""`python -m search.schema`: the JSON Schema of a space file, for editors and the docs.

It is generated from the pydantic models a space is validated with (search/space/spec.py), so it
says what the validation says: every key with its type, default and description, and no
key beside them (`additionalProperties: false`). Where the spec hands a section to
something else, the schema follows it there: `data:` to the task's `Options` and `model:`
to the model builder's keyword arguments, for every built-in task and model (a user's
own `module:Class` task or `module:callable` model leaves its section open).

A space file names it on its first line, and editors with a YAML language server (VS Code's
YAML extension, and others) complete keys and underline a misspelt one as you type:

    # yaml-language-server: $schema=./space.schema.json

`spaces/space.schema.json` is this command's output (a test keeps the two equal); the docs'
space reference page is rendered from it.
"""

from __future__ import annotations

import functools
import inspect
import json
import sys
from pathlib import Path
from typing import Any

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SHIPPED = Path(__file__).resolve().parent.parent / "spaces" / "space.schema.json"
# A user's own task or model: module:attribute, as search/cluster/user_code.py takes it.
IMPORT_PATH = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"


def space_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a space file, with every key described."""
    from search.space.spec import SEARCHABLE_SECTIONS, Spec

    generated = Spec.model_json_schema()  # validation's view: `from` for warm_start's source
    definitions = generated.pop("$defs")
    properties = generated["properties"]

    tasks = _task_options()
    properties["task"].update(anyOf=[{"enum": sorted(name for names in tasks for name in names)},
                                     {"pattern": IMPORT_PATH}])
    models = _model_options()
    properties["model"].update(required=["name"], properties={"name": {
        "type": "string", "description": "A model in models/, or your own module:callable.",
        "anyOf": [{"enum": sorted(models)}, {"pattern": IMPORT_PATH}]}})
    sections = "|".join(SEARCHABLE_SECTIONS)
    properties["space"]["propertyNames"] = {"pattern": rf"^({sections})\.[A-Za-z_][A-Za-z0-9_]*$"}

    # data: and model: are checked by what task: and model.name name; so is the schema.
    conditions = []
    for names, options in tasks.items():
        definitions[options["title"]] = options
        task = {"const": names[0]} if len(names) == 1 else {"enum": list(names)}
        conditions.append({"if": {"properties": {"task": task}, "required": ["task"]},
                           "then": {"properties": {"data": {"$ref": f"#/$defs/{options['title']}"}}}})
    for name, options in models.items():
        definitions[options["title"]] = options
        conditions.append({
            "if": {"properties": {"model": {"properties": {"name": {"const": name}}, "required": ["name"]}},
                   "required": ["model"]},
            "then": {"properties": {"model": {"$ref": f"#/$defs/{options['title']}"}}}})

    schema = {
        "$schema": DIALECT,
        "title": "Space file",
        "description": generated["description"],
        "type": "object",
        "properties": properties,
        "required": generated["required"],
        "additionalProperties": generated["additionalProperties"],
        "allOf": conditions,
        "$defs": dict(sorted(definitions.items())),
    }
    return _without_field_titles(schema)


def _task_options() -> dict[tuple[str, ...], dict[str, Any]]:
    """Each built-in task's `data:` schema, by its names (a task answers to its aliases too)."""
    from search.data import TASKS, get_task

    found: dict[int, tuple[list[str], Any]] = {}
    for name in TASKS.names():
        task = get_task(name)
        found.setdefault(id(task), ([], task))[0].append(name)
    result = {}
    for names, task in found.values():
        names.sort(key=lambda n: (n != task.name, n))  # its own name first
        options = task.Options.model_json_schema()
        options["title"] = f"data of {names[0]}"
        for key, field in options["properties"].items():
            if key in task.searchable:
                field["description"] = f"{field['description']} Searchable."
        result[tuple(names)] = options
    return result


def _model_options() -> dict[str, dict[str, Any]]:
    """Each built-in model's `model:` schema: `name` and its builder's keyword arguments with
    defaults (those without are filled from the data), described by its docstring's Args."""
    import pydantic

    from search.models import MODELS, builder_parameters, get_builder

    result = {}
    for name in MODELS.names():
        builder = get_builder(name)
        described = argument_descriptions(builder)
        fields: dict[str, Any] = {"name": (str, pydantic.Field(description="The model's registered name."))}
        for key, param in builder_parameters(name, builder).items():
            if param.default is inspect.Parameter.empty:
                continue
            annotation = Any if param.annotation is inspect.Parameter.empty else param.annotation
            fields[key] = (annotation, pydantic.Field(param.default, description=described.get(key)))
        config = pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=True)
        options = pydantic.create_model(f"model_{name}", __config__=config, **fields).model_json_schema()
        options["title"] = f"model {name}"
        if isinstance(builder, functools.partial):  # another model's builder with other defaults
            changed = ", ".join(f"{key} {json.dumps(value)}" for key, value in builder.keywords.items())
            options["description"] = f"Model {builder.func.__name__} with other defaults: {changed}."
        else:
            options["description"] = (inspect.getdoc(builder) or "").split("\n\n")[0]
        options["properties"]["name"]["const"] = name
        result[name] = options
    return result


def argument_descriptions(builder: Any) -> dict[str, str]:
    """The `Args:` section of a builder's docstring (Google style), argument -> one line of text."""
    doc = inspect.getdoc(getattr(builder, "func", builder)) or ""  # a functools.partial: its function's
    described: dict[str, str] = {}
    current = None
    lines = doc.splitlines()
    start = next((i + 1 for i, line in enumerate(lines) if line.strip() == "Args:"), len(lines))
    for line in lines[start:]:
        if not line.strip() or not line.startswith(" "):
            break  # the section ends at a blank or unindented line
        text = line.strip()
        key, colon, rest = text.partition(":")
        if colon and key.isidentifier() and len(line) - len(line.lstrip()) <= 4:
            current = key
            described[key] = rest.strip()
        elif current is not None:
            described[current] = f"{described[current]} {text}"
    return described


def _without_field_titles(node: Any) -> Any:
    """pydantic titles every field after its name ("Trial Epochs"): noise beside the key itself."""
    if isinstance(node, list):
        return [_without_field_titles(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: _without_field_titles(value) for key, value in node.items()}
    if isinstance(node.get("properties"), dict):
        result["properties"] = {key: {k: v for k, v in field.items() if k != "title"}
                                for key, field in result["properties"].items()}
    return result


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    from search.cli.cli_args import OneLineParser
    from search.errors import SpecError

    parser = OneLineParser(prog="python -m search.schema",
                           description="Print the JSON Schema of a space file (what editors check as you type).")
    parser.add_argument("--output", metavar="FILE", help="write it to FILE instead of printing it")
    try:
        args = parser.parse_args(argv)
        text = render(space_schema())
        if args.output is None:
            sys.stdout.write(text)
        else:
            try:
                Path(args.output).write_text(text, encoding="utf-8")
            except OSError as err:
                raise SpecError(f"--output {args.output}: cannot be written ({err.strerror})") from None
    except SpecError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
