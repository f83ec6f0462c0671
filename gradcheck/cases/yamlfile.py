"""Reading YAML with line numbers, safely.

`yaml.safe_load` forgets where things were written; a user who mistypes a key
wants to be told the line. This loader is PyYAML's SafeLoader (no object
construction, no code execution) whose mappings remember the line of every key
and which refuses duplicate keys instead of silently keeping the last one.
"""

from __future__ import annotations

import re

import yaml


class YamlError(ValueError):
    """A file that is not valid YAML, with the line it failed at (1-based)."""

    def __init__(self, message: str, line: int | None):
        super().__init__(message)
        self.line = line


class LineDict(dict):
    """A dict that knows the 1-based line of itself and of each of its keys."""

    line: int = 0
    key_lines: dict

    def line_of(self, key) -> int:
        return self.key_lines.get(key, self.line)


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    mapping = LineDict()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            hash(key)
        except TypeError:
            raise YamlError(f"a mapping key must be a plain value, not {type(key).__name__}", line)
        if key in mapping:
            raise YamlError(
                f"duplicate key {key!r} (first on line {mapping.key_lines[key]})", line
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = line
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

# YAML 1.1 (PyYAML) reads `1e-6` as a string because it wants a dot in the
# mantissa; every tolerance in a case file is written that way, so accept the
# forms YAML 1.2 and Python accept.
_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_LineLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_LineLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


# libyaml's parser, where PyYAML has it, reads a 2 MB file in a fraction of a second (the pure-Python one
# takes tens of seconds); the events and their line marks are the same.
_EventLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Limits that no honest case file comes near (arrays are declared with generators, {shape:, dist:},
# not written out) and that keep a hostile file from costing more than a moment and a few megabytes.
MAX_CHARS = 2_000_000
MAX_NODES = 100_000  # values after aliases are expanded: "billion laughs" has 10^9 from 100 lines
MAX_DEPTH = 64  # nesting of lists and mappings: the composer recurses, so depth costs stack


def check_size(text: str) -> None:
    """Refuse a document too big, too deep, or one whose aliases expand too far, before building it.

    One pass over the parser's events (an iterative state machine, so depth is
    safe here) counts every value with each alias counted as the size of what
    it names; the pass stops at the first limit crossed, so a bomb costs nothing.
    """
    if len(text) > MAX_CHARS:
        raise YamlError(f"the file has {len(text):,} characters, over the limit of {MAX_CHARS:,} for a case "
                        "file (declare large arrays with a generator, {shape: ..., dist: ...})", None)
    sizes: dict[str, int | None] = {}  # anchor -> the number of values it names (None while still open)
    open_anchors: list[tuple[str | None, int]] = []
    count = 0
    for event in yaml.parse(text, Loader=_EventLoader):
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            size = sizes.get(event.anchor)
            if size is None:
                raise YamlError(f"alias *{event.anchor} refers to a value that contains it (a recursive "
                                "structure)", line)
            count += size
        elif isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent)):
            count += 1
            if isinstance(event, yaml.ScalarEvent) and event.anchor:
                sizes[event.anchor] = 1
            elif isinstance(event, yaml.CollectionStartEvent):
                if event.anchor:
                    sizes[event.anchor] = None
                open_anchors.append((event.anchor, count))
                if len(open_anchors) > MAX_DEPTH:
                    raise YamlError(f"lists and mappings nested more than {MAX_DEPTH} deep", line)
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, start = open_anchors.pop()
            if anchor:
                sizes[anchor] = count - start + 1
        if count > MAX_NODES:
            raise YamlError(f"more than {MAX_NODES:,} values (aliases expanded) by this line: an alias bomb, or "
                            "an array better declared with a generator, {shape: ..., dist: ...}", line)


def load_yaml(text: str):
    """Parse one YAML document; mappings come back as LineDict."""
    try:
        check_size(text)
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except YamlError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or str(exc)
        raise YamlError(f"invalid YAML: {problem}", line) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {exc}", None) from None
