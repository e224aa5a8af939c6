"""Config problems at key paths, and pydantic's errors made readable as one ConfigError.

Validators raise :class:`KeyedProblems` to report problems at key paths below themselves.
:func:`pydantic_problems` expands those and restates pydantic's own messages in YAML terms
(the config's numbers are pydantic's strict types, so a boolean or a numeric string is refused
there, not quietly converted); :func:`fail` raises the first problem as a :class:`~orchestrator.errors.ConfigError` and lists the rest.
The model is passed in, so this module knows nothing of the config's keys.
"""

from __future__ import annotations

import datetime
import difflib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Final, NoReturn, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from orchestrator.errors import ConfigError

Loc = tuple[str | int, ...]
UnionTags = Mapping[str, frozenset[str]]  # a key holding a tagged union → its tags

_MAX_LISTED: Final = 10  # further problems listed under the first one


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a config, at a key path relative to where it was raised."""

    loc: Loc
    message: str


class KeyedProblems(ValueError):
    """Raised inside validators to report problems at precise key paths below the validator.

    Pydantic keeps the exception in the error's ``ctx``; the loader expands it.
    """

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(p.message for p in self.problems))


def _key_path(loc: Loc) -> str:
    """``("vaults", 2, "id")`` → ``vaults[2].id``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


def describe(value: object) -> str:
    """A short, YAML-flavoured description of a value for error messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, datetime.date):
        return f"the date {value.isoformat()}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# --- pydantic's errors, made readable -----------------------------------------------------

_PLAIN: Final = {
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "dict_type": "must be a mapping",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "string_type": "must be a string",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "string_too_short": "must not be empty",
}
_SHOULD: Final = re.compile(r"^(?:Input|Tuple|List|String|Dictionary|Value) should ")
_BOOLEAN_HINT: Final = " (YAML reads unquoted true/false/yes/no/on/off as booleans: quote it)"


def pydantic_problems(
    exc: ValidationError, root: type[BaseModel], union_tags: UnionTags, *, under: Loc = ()
) -> list[Problem]:
    """Each error of validating ``root``, at its key path, worded for a YAML author.

    ``under``: where ``root`` sits in the file, when it was validated on its own (a validator
    then raises the problems as :class:`KeyedProblems`): the messages name the whole path,
    the problems' paths stay relative to ``root``.
    """
    problems: list[Problem] = []
    for error in exc.errors(include_url=False):
        loc = _clean_loc(error["loc"], union_tags)
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, KeyedProblems):
            problems.extend(Problem(loc + p.loc, p.message) for p in cause.problems)
        else:
            problems.append(_problem_from(error, loc, root, under))
    return problems


def _clean_loc(loc: Loc, union_tags: UnionTags) -> Loc:
    """Drop the union tag pydantic puts after a tagged-union key: it is not a key."""
    if len(loc) > 1 and isinstance(loc[0], str) and loc[1] in union_tags.get(loc[0], ()):
        return (loc[0], *loc[2:])
    return tuple(loc)


def _problem_from(error: ErrorDetails, loc: Loc, root: type[BaseModel], under: Loc) -> Problem:
    kind, value = error["type"], error["input"]
    if kind == "missing":
        return Problem(loc, "required, but missing")
    if kind == "extra_forbidden":
        return Problem(loc, _unknown_key(loc, root, under))
    if kind == "invalid_key":
        return Problem(loc[:-1], f"keys must be strings, got {describe(value)}")
    if kind == "value_error":
        return Problem(loc, error["msg"].removeprefix("Value error, "))
    message = _PLAIN.get(kind) or _SHOULD.sub("must ", error["msg"])
    hint = _BOOLEAN_HINT if isinstance(value, bool) else ""
    return Problem(loc, f"{message}, got {describe(value)}{hint}")


def _unknown_key(loc: Loc, root: type[BaseModel], under: Loc) -> str:
    name, parent = str(loc[-1]), loc[:-1]
    where = f"in {_key_path(under + parent)}" if under + parent else "at the top level"
    allowed = _fields_at(parent, root)
    close = difflib.get_close_matches(name, allowed, n=1)
    if close:
        return f"unknown key {name!r} {where} (did you mean {close[0]!r}?)"
    listed = f" (allowed: {', '.join(allowed)})" if allowed else ""
    return f"unknown key {name!r} {where}{listed}"


def _options(annotation: object) -> Iterator[object]:
    """The types an annotation admits, through Annotated and unions."""
    origin = get_origin(annotation)
    if origin is Annotated:
        yield from _options(get_args(annotation)[0])
    elif origin is Union or origin is UnionType:
        for arg in get_args(annotation):
            yield from _options(arg)
    else:
        yield annotation


def _annotation_at(loc: Loc, root: type[BaseModel]) -> object | None:
    """The declared type at a key path of ``root``, or None where the path leaves the model."""
    current: object = root
    for part in loc:
        current = next(filter(None, (_step(option, part) for option in _options(current))), None)
        if current is None:
            return None
    return current


def _step(option: object, part: str | int) -> object | None:
    origin = get_origin(option)
    if isinstance(part, int):
        return get_args(option)[0] if origin in (list, tuple) else None
    if origin is None and isinstance(option, type) and issubclass(option, BaseModel):
        field = option.model_fields.get(part)
        return None if field is None else field.annotation
    return None


def _fields_at(loc: Loc, root: type[BaseModel]) -> list[str]:
    for option in _options(_annotation_at(loc, root)):
        if (
            get_origin(option) is None
            and isinstance(option, type)
            and issubclass(option, BaseModel)
        ):
            return list(option.model_fields)
    return []


def fail(name: str, problems: Sequence[Problem], cause: BaseException | None) -> NoReturn:
    """Raise the first problem as a ConfigError, the rest listed under it (ten at most)."""
    first, rest = problems[0], problems[1:]
    message = first.message
    if rest:
        lines = [f"  {_key_path(p.loc) or '(top level)'}: {p.message}" for p in rest[:_MAX_LISTED]]
        if len(rest) > _MAX_LISTED:
            lines.append(f"  … and {len(rest) - _MAX_LISTED} more")
        message += f"\n{len(rest)} more problem(s):\n" + "\n".join(lines)
    raise ConfigError(name, _key_path(first.loc), message) from cause
