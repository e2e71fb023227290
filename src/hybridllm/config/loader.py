"""Find, read and validate ``hybridllm.yaml``. Every error names the file, line and key."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import ValidationError

from hybridllm.config.models import Config
from hybridllm.config.yamlsrc import Located, _dotted, load_yaml
from hybridllm.errors import ConfigError
from hybridllm.redact import register_secret

__all__ = ["LoadedConfig", "expand_chain", "find_config", "load_config", "parse_config"]


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config and what ``check`` reports about it."""

    config: Config
    path: str
    missing_keys: dict[str, str] = field(default_factory=dict)  # deployment -> unset variable


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--config``, else ``$HYBRIDLLM_CONFIG``, else ``./hybridllm.yaml``."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("HYBRIDLLM_CONFIG")
    return Path(env) if env else Path("hybridllm.yaml")


def load_config(path: str | os.PathLike[str] | None = None) -> LoadedConfig:
    file = find_config(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "config file not found (give --config, set HYBRIDLLM_CONFIG, or run `hybridllm init`)",
            file=str(file),
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the config: {exc}", file=str(file)) from None
    env: dict[str, str] = {}
    dotenv = file.parent / ".env"
    if dotenv.is_file():
        env.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
    env.update(os.environ)  # the real environment wins over .env
    return parse_config(text, str(file), env)


def parse_config(
    text: str, file: str = "<config>", env: Mapping[str, str] | None = None
) -> LoadedConfig:
    located = load_yaml(text, file, env)
    data = located.data
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping of keys", file=file, line=1)
    missing: dict[str, str] = {}
    for path, var in located.missing_env.items():
        if len(path) == 3 and path[0] == "deployments" and path[2] == "api_key":
            missing[str(path[1])] = var
        else:
            raise _error(located, file, path, f"environment variable {var} is not set")
    deployments = data.get("deployments")
    if isinstance(deployments, dict):
        for name, body in deployments.items():
            if isinstance(body, dict):
                if "name" in body:
                    raise _error(located, file, ("deployments", name, "name"), "unknown key 'name'")
                body["name"] = str(name)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise _from_validation(exc, located, file) from None
    _check_semantics(config, located, file)
    for dep in config.deployments.values():
        register_secret(dep.key)
    return LoadedConfig(config, file, missing)


def expand_chain(config: Config, names: list[str]) -> list[str]:
    """A route's ``use`` list with each deployment's own ``fallbacks`` after it, no repeats."""
    chain: list[str] = []

    def visit(name: str) -> None:
        if name in chain:
            return
        chain.append(name)
        for nxt in config.deployments[name].fallbacks:
            visit(nxt)

    for name in names:
        visit(name)
    return chain


def _check_semantics(config: Config, located: Located, file: str) -> None:
    names = set(config.deployments)
    if config.baseline is not None and config.baseline not in names:
        raise _error(located, file, ("baseline",), _unknown_deployment(config.baseline, names))
    for dname, dep in config.deployments.items():
        for i, nxt in enumerate(dep.fallbacks):
            if nxt not in names:
                raise _error(
                    located,
                    file,
                    ("deployments", dname, "fallbacks", i),
                    _unknown_deployment(nxt, names),
                )
    _check_cycles(config, located, file)
    seen: set[str] = set()
    for r, route in enumerate(config.routes):
        if route.name in seen:
            raise _error(
                located, file, ("routes", r, "name"), f"route name '{route.name}' is used twice"
            )
        seen.add(route.name)
        for i, name in enumerate(route.use):
            if name not in names:
                raise _error(
                    located, file, ("routes", r, "use", i), _unknown_deployment(name, names)
                )
            if name in route.use[:i]:
                raise _error(
                    located,
                    file,
                    ("routes", r, "use", i),
                    f"deployment '{name}' stands twice in the chain (a fallback cycle)",
                )
        if route.when is not None:
            from hybridllm.policy.conditions import ConditionError, compile_condition

            try:
                compile_condition(route.when)
            except ConditionError as exc:
                raise _error(located, file, ("routes", r, "when", *exc.path), exc.message) from None
    budget_keys = {k.name for k in config.server.keys}
    for b, budget in enumerate(config.budgets):
        if (budget.cost_center is None) == (budget.key is None):
            raise _error(
                located, file, ("budgets", b), "a budget names exactly one of cost_center or key"
            )
        if budget.key is not None and budget.key not in budget_keys:
            raise _error(
                located, file, ("budgets", b, "key"), f"no virtual key named '{budget.key}'"
            )
        if budget.daily_usd is None and budget.monthly_usd is None:
            raise _error(located, file, ("budgets", b), "a budget needs daily_usd or monthly_usd")
    _check_learning(config, located, file)


def _check_learning(config: Config, located: Located, file: str) -> None:
    learning = config.learning
    names = set(config.deployments)
    if learning.judge is not None:
        for key in ("deployment", "strong"):
            name = getattr(learning.judge, key)
            if name not in names:
                raise _error(
                    located, file, ("learning", "judge", key), _unknown_deployment(name, names)
                )
        if not learning.record:
            raise _error(
                located,
                file,
                ("learning", "judge"),
                "the judge's scores train on recorded features: set learning.record: true",
            )
    if learning.model is not None:
        from hybridllm.learned.model import DifficultyModel, ModelFormatError

        path = Path(learning.model).expanduser()
        if path.exists():  # not written yet: the shipped model until `hybridllm learn` writes it
            try:
                DifficultyModel.load(path)
            except ModelFormatError as exc:
                raise _error(located, file, ("learning", "model"), str(exc)) from None


def _check_cycles(config: Config, located: Located, file: str) -> None:
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for nxt in config.deployments[name].fallbacks:
            if state.get(nxt) == 1:
                cycle = " -> ".join([*trail[trail.index(nxt) :], nxt])
                raise _error(
                    located, file, ("deployments", name, "fallbacks"), f"fallback cycle: {cycle}"
                )
            if state.get(nxt) is None:
                visit(nxt, [*trail, nxt])
        state[name] = 2

    for name in config.deployments:
        if name not in state:
            visit(name, [name])


def _unknown_deployment(name: str, names: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(names), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown deployment '{name}'{hint}; deployments: {', '.join(sorted(names))}"


def _error(located: Located, file: str, path: tuple[Any, ...], message: str) -> ConfigError:
    return ConfigError(
        message, file=file, line=located.line_of(tuple(path)), key=_dotted(tuple(path))
    )


def _from_validation(exc: ValidationError, located: Located, file: str) -> ConfigError:
    err = exc.errors()[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
    kind = err["type"]
    if kind == "extra_forbidden":
        key = loc[-1]
        parent = _parent_fields(loc[:-1], located)
        close = difflib.get_close_matches(str(key), parent, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        message = f"unknown key '{key}'{hint}"
    elif kind == "missing":
        message = f"missing required key '{loc[-1]}'"
    else:
        given = err.get("input")
        shown = f" (got {given!r})" if isinstance(given, str | int | float | bool) else ""
        message = f"{err['msg']}{shown}"
    extra = len(exc.errors()) - 1
    if extra:
        message += f" (and {extra} more error{'s' if extra > 1 else ''})"
    return _error(located, file, loc, message)


def _parent_fields(loc: tuple[Any, ...], located: Located) -> list[str]:
    """The field names a mapping at ``loc`` may have, for 'did you mean' hints."""
    from pydantic import BaseModel

    model: Any = Config
    for part in loc:
        if isinstance(model, type) and issubclass(model, BaseModel) and part in model.model_fields:
            ann = model.model_fields[part].annotation
            args = getattr(ann, "__args__", ())
            model = next(
                (a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)), ann
            )
            if getattr(ann, "__origin__", None) in (dict, list) and args:
                model = args[-1]
        elif isinstance(part, str | int):
            continue
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []
