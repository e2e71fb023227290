"""YAML with line numbers and ``${VAR}`` interpolation.

``load_yaml`` returns plain Python data plus a map from key path (``("routes", 2, "use")``) to the
line it stands on, so that every config error can name its line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from hybridllm.errors import ConfigError

__all__ = ["Located", "load_yaml"]

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

Path = tuple[str | int, ...]


@dataclass
class Located:
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    missing_env: dict[Path, str] = field(default_factory=dict)  # key path -> unset variable

    def line_of(self, path: Path) -> int | None:
        """The line of ``path`` or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)


def load_yaml(text: str, file: str, env: Mapping[str, str] | None = None) -> Located:
    environ = os.environ if env is None else env
    out = Located(None)
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                raise ConfigError("the file is empty", file=file)
            out.data = _convert(loader, node, (), out, file, environ)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "malformed YAML"
        raise ConfigError(f"malformed YAML: {problem}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"malformed YAML: {exc}", file=file) from None
    return out


def _convert(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    path: Path,
    out: Located,
    file: str,
    environ: Mapping[str, str],
) -> Any:
    out.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int):
                raise ConfigError(
                    "keys must be strings", file=file, line=key_node.start_mark.line + 1
                )
            if key in result:
                raise ConfigError(
                    f"duplicate key '{key}'",
                    file=file,
                    line=key_node.start_mark.line + 1,
                    key=_dotted((*path, key)),
                )
            out.lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = _convert(loader, value_node, (*path, key), out, file, environ)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _convert(loader, item, (*path, i), out, file, environ)
            for i, item in enumerate(node.value)
        ]
    value = loader.construct_object(node, deep=True)
    if isinstance(value, str) and "${" in value:
        return _interpolate(value, path, out, environ)
    return value


def _interpolate(value: str, path: Path, out: Located, environ: Mapping[str, str]) -> str | None:
    def sub(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ and environ[name] != "":
            return environ[name]
        if default is not None:
            return default
        out.missing_env[path] = name
        return ""

    result = _VAR.sub(sub, value)
    return None if result == "" and path in out.missing_env else result


def _dotted(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
