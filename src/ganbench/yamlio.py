"""Strict YAML reading for configs, specs and run directories.

``yaml.safe_load`` silently keeps the last of two equal keys (so a duplicated variant vanishes) and
expands aliases without limit (a ten-line "billion laughs" file grows to gigabytes once copied). This
loader refuses both, before any Python object is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .confine import read_bounded
from .errors import UserError
from .limits import MAX_STORED_YAML

MAX_NODES = 200_000  # expanded size cap: far above any real config, far below a memory problem


class _StrictLoader(yaml.SafeLoader):
    pass


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # '<<' merges are flattened by the default constructor
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, (list, dict)):
            continue  # unhashable keys fail in the default constructor with its own message
        if key in seen:
            line = key_node.start_mark.line + 1
            raise UserError(f"{loader.where}: duplicate key '{key}' (line {line}); each key may appear once")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Nodes the document holds once every alias is expanded (shared nodes counted each time used)."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # a recursive alias counts once instead of looping
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(n, memo) for n in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    else:
        size = 1
    memo[key] = min(size, MAX_NODES + 1)
    return memo[key]


def load_yaml(text: str | bytes, where: str) -> Any:
    """Parse YAML text from ``where`` (a file name, for messages); UserError on anything malformed."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UserError(f"{where}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    loader = _StrictLoader(text)
    loader.where = where
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}) > MAX_NODES:
            raise UserError(f"{where}: YAML aliases expand to more than {MAX_NODES} nodes; refusing it")
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise UserError(f"{where}: not valid YAML ({str(exc).splitlines()[0]})") from None
    except ValueError as exc:  # an int past Python's 4,300 digits (int(str) refuses it)
        raise UserError(f"{where}: not valid YAML ({str(exc).splitlines()[0]})") from None
    except RecursionError:  # the composer and constructor recurse once per level of nesting
        raise UserError(f"{where}: YAML nested too deeply to read; refusing it") from None
    finally:
        loader.dispose()


def read_yaml_file(path: str | Path) -> Any:
    """A stored YAML file (a run's config.yaml, a study's spec.yaml): a regular file of at most
    ``MAX_STORED_YAML`` bytes (confine.read_bounded)."""
    p = Path(path)
    return load_yaml(read_bounded(p, MAX_STORED_YAML), str(p))
