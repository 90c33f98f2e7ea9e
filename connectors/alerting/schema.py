"""A small JSON-Schema-like checker for config files, with one-line errors that say where.

Schemas are plain dicts in the JSON Schema vocabulary (a subset): ``type``
(object, array, string, integer, number, boolean, or a list of them),
``properties``, ``required``, ``additionalProperties: false``, ``items``,
``minItems``, ``uniqueItems``, ``enum``, ``pattern``, ``minLength``,
``minimum``, ``maximum``. A schema in that vocabulary can be read by anyone
who knows JSON Schema, and the checker stays a page long instead of adding a
dependency for the handful of keywords config files need.

Errors are `ConfigError` with the file as source and a path as the place,
e.g. ``alert_rules.yaml: rules[2].actors[0]: must be a string, got 3``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from connectors.errors import ConfigError

__all__ = ["check", "Schema"]

Schema = Mapping[str, Any]


def _is(kind: str, value: Any) -> bool:
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value))
    if kind == "null":
        return value is None
    raise ValueError(f"unknown schema type {kind!r}")


def _described(kind: str | list[str]) -> str:
    names = {"object": "a mapping", "array": "a list", "string": "a string",
             "boolean": "true or false", "integer": "an integer", "number": "a number",
             "null": "null"}
    kinds = [kind] if isinstance(kind, str) else kind
    return " or ".join(names[k] for k in kinds)


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def check(value: Any, schema: Schema, *, source: str | None, path: str = "") -> None:
    """Raises `ConfigError` at the first place where `value` breaks `schema`."""

    def fail(problem: str, where: str = path) -> ConfigError:
        return ConfigError(problem, source=source, where=where or "top level")

    kind = schema.get("type")
    if kind is not None:
        kinds = [kind] if isinstance(kind, str) else list(kind)
        if not any(_is(k, value) for k in kinds):
            raise fail(f"must be {_described(kind)}, got {value!r}")
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(repr(v) for v in schema["enum"])
        raise fail(f"must be one of {allowed}, got {value!r}")
    if isinstance(value, str):
        if len(value.strip()) < schema.get("minLength", 0):
            raise fail("must not be empty" if schema["minLength"] == 1
                       else f"must be at least {schema['minLength']} characters long")
        pattern = schema.get("pattern")
        if pattern is not None and not re.fullmatch(pattern, value):
            raise fail(f"{value!r} does not match {schema.get('patternDescription', pattern)}")
    if _is("number", value):
        if "minimum" in schema and value < schema["minimum"]:
            raise fail(f"must be at least {schema['minimum']}, got {value!r}")
        if "maximum" in schema and value > schema["maximum"]:
            raise fail(f"must be at most {schema['maximum']}, got {value!r}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            raise fail("must not be empty" if schema["minItems"] == 1
                       else f"must have at least {schema['minItems']} items")
        items = schema.get("items")
        for index, item in enumerate(value):
            if items is not None:
                check(item, items, source=source, path=_join(path, index))
        if schema.get("uniqueItems"):
            seen: list[Any] = []
            for index, item in enumerate(value):
                if item in seen:
                    raise fail(f"{item!r} appears twice", _join(path, index))
                seen.append(item)
    if isinstance(value, dict):
        properties: Mapping[str, Schema] = schema.get("properties", {})
        if schema.get("additionalProperties", True) is False:
            for key in value:
                if key not in properties:
                    known = ", ".join(properties)
                    raise fail(f"unknown key {key!r} (known keys: {known})")
        for key in schema.get("required", ()):
            if key not in value:
                raise fail(f"missing {key!r}")
        for key, sub in properties.items():
            if key in value:
                check(value[key], sub, source=source, path=_join(path, key))
