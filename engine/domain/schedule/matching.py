"""Does a record of another service's topic satisfy a trigger dependency? Azkaban's Kafka dependency is a topic and
a regular expression searched in the record's value (``RegexKafkaDependencyMatcher``: ``find``, not a whole
match); Kafkaban adds a field of the value (JSON, or Avro when a schema registry decodes it) that must equal
``value`` or contain a match of ``match``. Pure: the edge reads the records and decodes them."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from engine.domain.triggers import TriggerDependency

DEPENDENCY_TYPES = ("kafka",)
MAX_PATTERN = 1000
NO_DOCUMENT: Any = object()  # a value that is not a document (or was not decoded)


@cache
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text)


def dependency_problems(dependency: TriggerDependency) -> list[str]:
    """What makes ``dependency`` impossible to watch; empty when it can be."""
    where = f"dependency {dependency.name}"
    if dependency.type not in DEPENDENCY_TYPES:
        return [f"{where}: type {dependency.type!r} is not supported (supported: {', '.join(DEPENDENCY_TYPES)})"]
    params = dependency.params
    problems = []
    if not params.get("topic"):
        problems.append(f"{where}: params.topic is required")
    if "match" not in params and "value" not in params:
        problems.append(f"{where}: params.match (a regular expression) or, with params.field, params.value is "
                        f"required")
    if "value" in params and "field" not in params:
        problems.append(f"{where}: params.value needs params.field (the field it compares)")
    if "match" in params:
        if len(params["match"]) > MAX_PATTERN:
            problems.append(f"{where}: params.match is longer than {MAX_PATTERN} characters")
        else:
            try:
                _pattern(params["match"])
            except re.error as exc:
                problems.append(f"{where}: params.match is not a regular expression: {exc}")
    unknown = sorted(set(params) - {"topic", "match", "field", "value"})
    if unknown:
        problems.append(f"{where}: unknown params {', '.join(unknown)} (topic, match, field, value)")
    return problems


def document_of(text: str) -> Any:
    """A value's JSON document, or the missing marker when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return NO_DOCUMENT


def _field(document: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(document, Mapping) or part not in document:
            return NO_DOCUMENT
        document = document[part]
    return document


def matches(dependency: TriggerDependency, text: str, document: Any = NO_DOCUMENT) -> bool:
    """Whether a record whose value reads as ``text`` (and as ``document``, when it decodes to one) satisfies
    ``dependency``."""
    params = dependency.params
    field = params.get("field")
    if field is None:
        return _pattern(params["match"]).search(text) is not None
    if document is NO_DOCUMENT:
        document = document_of(text)
    found = _field(document, field)
    if found is NO_DOCUMENT:
        return False
    found_text = found if isinstance(found, str) else json.dumps(found)
    if "value" in params:
        return found_text == params["value"]
    return _pattern(params["match"]).search(found_text) is not None
