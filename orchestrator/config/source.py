"""The config file as a source: its text, read safely, and the YAML loader that builds it.

:func:`read_text` refuses what is not a small regular UTF-8 file, without blocking on a FIFO;
:func:`parse_yaml` refuses duplicate keys, deep nesting and alias bombs. Every failure leaves
as one :class:`~orchestrator.errors.ConfigError` naming the file and the problem.
"""

from __future__ import annotations

import os
import stat
from typing import Any, Final

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from orchestrator.errors import ConfigError

MAX_CONFIG_BYTES: Final = 1 << 20
MAX_DEPTH: Final = 40  # nesting levels, counted after alias expansion
MAX_VALUES: Final = 200_000  # YAML nodes after alias expansion: refuses "billion laughs"
_MERGE_TAG: Final = "tag:yaml.org,2002:merge"


def read_text(name: str) -> str:
    """The file's text, refusing what is not a small regular UTF-8 file, without blocking."""
    return decode(read_bytes(name), name)


def read_bytes(name: str) -> bytes:
    """The file's bytes, refusing what is not a small regular file, without blocking."""
    try:
        # O_NONBLOCK: a FIFO must not hang the open; fstat below then refuses it.
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError as exc:
        raise ConfigError(name, "", "no such file") from exc
    except (OSError, ValueError) as exc:
        raise ConfigError(name, "", f"cannot open the file: {_os_reason(exc)}") from exc
    try:
        info = os.fstat(fd)
        mode, size = info.st_mode, info.st_size
        if stat.S_ISDIR(mode):
            raise ConfigError(name, "", "is a directory, not a config file")
        if not stat.S_ISREG(mode):
            raise ConfigError(name, "", "is not a regular file (a FIFO, socket or device?)")
        raw = b"" if size > MAX_CONFIG_BYTES else _read_at_most(fd, MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(name, "", f"cannot read the file: {_os_reason(exc)}") from exc
    finally:
        os.close(fd)
    if size > MAX_CONFIG_BYTES or len(raw) > MAX_CONFIG_BYTES:
        too_big = f"is larger than 1 MiB ({max(size, len(raw)):,} bytes or more): refused"
        raise ConfigError(name, "", too_big)
    return raw


def decode(raw: bytes, name: str) -> str:
    """UTF-8 text (a BOM allowed), or a ConfigError naming the first bad byte."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = f"is not UTF-8 text: byte {raw[exc.start]:#04x} at offset {exc.start}"
        raise ConfigError(name, "", bad) from exc


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while total < limit:
        chunk = os.read(fd, limit - total)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _os_reason(exc: OSError | ValueError) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)


class _RefusedYaml(yaml.MarkedYAMLError):
    """YAML this loader will not build: duplicate keys, too deep, or expanding too far."""


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and deep nesting while it composes."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0  # nesting of the node being composed; recursion would otherwise blow up

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self._depth >= MAX_DEPTH:
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]  # stubs lack it
            raise _RefusedYaml(problem=f"nested more than {MAX_DEPTH} levels", problem_mark=mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        node = super().compose_mapping_node(anchor)
        # PyYAML keeps the last of two equal keys silently; a repeated `action:` must not.
        first: dict[tuple[str, str], int] = {}  # (tag, text) → line of its first use
        for key, _ in node.value:
            if not isinstance(key, ScalarNode) or key.tag == _MERGE_TAG:
                continue
            if (key.tag, key.value) in first:
                problem = f"duplicate key {key.value!r} (first at line {first[key.tag, key.value]})"
                raise _RefusedYaml(problem=problem, problem_mark=key.start_mark)
            first[key.tag, key.value] = key.start_mark.line + 1
        return node

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            # PyYAML lets datetime's ValueError out for dates such as 2021-13-45: give it a line.
            problem = f"cannot read this value: {exc}"
            raise _RefusedYaml(problem=problem, problem_mark=node.start_mark) from exc


class _Expansion:
    """Measures a composed YAML graph as the tree it expands to, in time linear in its nodes."""

    def __init__(self) -> None:
        self._known: dict[int, tuple[int, int]] = {}  # id(node) → (values, height) once measured
        self._open: set[int] = set()  # nodes on the current path: meeting one again is a cycle

    def measure(self, node: Node, depth: int = 1) -> tuple[int, int]:
        """Return (values, height) of ``node``'s expansion; raise _RefusedYaml past the limits."""
        if depth > MAX_DEPTH:
            raise _RefusedYaml(
                problem=f"nested more than {MAX_DEPTH} levels (through aliases)",
                problem_mark=node.start_mark,
            )
        known = self._known.get(id(node))
        if known is None:
            if id(node) in self._open:
                raise _RefusedYaml(
                    problem="an alias refers to a node that contains it",
                    problem_mark=node.start_mark,
                )
            self._open.add(id(node))
            known = self._measure_children(node, depth)
            self._open.discard(id(node))
            self._known[id(node)] = known
        if depth + known[1] - 1 > MAX_DEPTH:
            raise _RefusedYaml(
                problem=f"nested more than {MAX_DEPTH} levels (through aliases)",
                problem_mark=node.start_mark,
            )
        return known

    def _measure_children(self, node: Node, depth: int) -> tuple[int, int]:
        if isinstance(node, SequenceNode):
            children: list[Node] = node.value
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            return 1, 1
        values, height = 1, 1
        for child in children:
            child_values, child_height = self.measure(child, depth + 1)
            values += child_values
            height = max(height, child_height + 1)
            if values > MAX_VALUES:
                problem = f"aliases expand to more than {MAX_VALUES:,} values (an alias bomb?)"
                raise _RefusedYaml(problem=problem, problem_mark=child.start_mark)
        return values, height


def parse_yaml(text: str, name: str) -> object:
    """The YAML document's data, or None when it holds nothing but comments and space."""
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        raise ConfigError(name, "", _reader_message(text, exc)) from exc
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _Expansion().measure(node)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(name, "", _yaml_message(exc)) from exc
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError) as exc:
        raise ConfigError(name, "", f"invalid YAML: {exc}") from exc
    finally:
        loader.dispose()


def _reader_message(text: str, exc: yaml.reader.ReaderError) -> str:
    line = text.count("\n", 0, exc.position) + 1
    column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
    where = f"line {line}, column {column}"
    return f"invalid YAML at {where}: character U+{exc.character:04X} is not allowed in YAML"


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    detail = exc.problem or exc.context or "invalid YAML"
    if exc.context and exc.problem and exc.problem.startswith("but "):
        detail = f"{exc.context}, {exc.problem}"  # "expected a single document…, but found…"
    if exc.problem_mark is None:
        return f"invalid YAML: {detail}"
    mark = exc.problem_mark
    return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {detail}"
