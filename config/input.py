"""Hostile input stopped at the edge, once, for every app: the API's parsers and the id checks.

- JSON nested more than ``MAX_JSON_DEPTH`` levels is refused while parsing (Python's
  parser would raise RecursionError around 1,000 levels, and code walking the data
  could recurse too). 100 levels hold the deepest election tree allowed
  (``elections.services.MAX_TREE_DEPTH`` = 32 elections need 65 JSON levels with their
  ``scheduled_events``).
- No string of a request body (value or field name) may hold a NUL character
  (PostgreSQL refuses it) or a lone surrogate (not Unicode text: SQLite and the JSON
  renderer fail on it); the error names the field.
- Ids are ASCII digits within the range of a database id (``parse_id``).

Kept apart from ``config.api``: DRF resolves ``DEFAULT_PARSER_CLASSES`` while
``rest_framework.views`` is being imported, which ``config.api`` imports.
"""

import re

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

MAX_JSON_DEPTH = 100
MAX_ID = 2**63 - 1  # BigAutoField; larger ids overflow SQLite's INTEGER
_SURROGATE = re.compile("[\ud800-\udfff]")


def max_body_megabytes() -> str:
    """The request body limit (``DATA_UPLOAD_MAX_MEMORY_SIZE``) in MB, e.g. "2.5", for pages."""
    return f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 1_048_576:.1f}"


def text_problem(text: str) -> str | None:
    """What makes ``text`` unfit to store or echo (a NUL, a lone surrogate), or None."""
    if "\x00" in text:
        return "Contains a NUL character (\\u0000); remove it."
    if not text.isascii() and _SURROGATE.search(text):
        return ("Contains a lone surrogate (\\ud800 to \\udfff), which is not Unicode text; "
                "send valid UTF-8.")
    return None


def search_term(raw: str | None, limit: int = 200) -> str:
    """A page's ``?q=`` as something safe to search for: trimmed, at most ``limit`` characters,
    without NULs or lone surrogates (PostgreSQL refuses both in a query parameter)."""
    text = (raw or "").replace("\x00", "").strip()[:limit]
    return _SURROGATE.sub("", text) if not text.isascii() else text


def printable(text: str) -> str:
    """``text`` safe to put in a response: lone surrogates shown as ``\\udxxx`` escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def parse_id(value) -> int:
    """An election (or other row) id from a query parameter or JSON: an int 0..MAX_ID.

    Accepts ASCII digit strings and JSON integers; raises ValueError otherwise
    (Unicode digits such as "²" pass ``str.isdigit`` but are no id).
    """
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit() and len(value) <= 19):
            raise ValueError
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
        raise ValueError
    return value


def check_data(data) -> None:
    """Raise ParseError when ``data`` nests deeper than MAX_JSON_DEPTH, ValidationError (keyed
    like the input) when a string in it holds a NUL or a lone surrogate. No recursion."""
    problems: dict = {}
    stack = [(data, 1, ())]
    while stack:
        value, depth, path = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ParseError(too_deep())
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            key = str(key)
            problem = text_problem(key)
            if problem:
                _put(problems, (*path, printable(key)), f"This field name: {problem}")
                continue
            if isinstance(item, str):
                problem = text_problem(item)
                if problem:
                    _put(problems, (*path, key), problem)
            elif isinstance(item, dict | list):
                stack.append((item, depth + 1, (*path, key)))
    if problems:
        raise ValidationError(problems)


def too_deep() -> str:
    return (f"JSON parse error - nested more than {MAX_JSON_DEPTH} levels deep; "
            "flatten the document (an election tree may be 32 levels deep).")


def _put(tree: dict, path: tuple[str, ...], message: str) -> None:
    for key in path[:-1]:
        node = tree.setdefault(key, {})
        if not isinstance(node, dict):  # already holds a message: keep the first
            return
        tree = node
    tree.setdefault(path[-1], [message])


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with the depth limit and the text check of ``check_data``."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(too_deep()) from None
        if isinstance(data, dict | list):
            check_data(data)
        elif isinstance(data, str) and text_problem(data):
            raise ParseError(f"JSON parse error - the document: {text_problem(data)}")
        return data


def _check_form(data) -> None:
    check_data({key: values[-1] if len(values) == 1 else values for key, values in data.lists()})


class FormParser(parsers.FormParser):
    """DRF's form parser with the text check of ``check_data``."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        _check_form(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    """DRF's multipart parser with the text check of ``check_data`` on its fields."""

    def parse(self, stream, media_type=None, parser_context=None):
        result = super().parse(stream, media_type, parser_context)
        _check_form(result.data)
        return result


PARSER_CLASSES = [JSONParser, FormParser, MultiPartParser]
