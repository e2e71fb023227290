"""``hybridllm check``: validate the config and say what would stop it from working."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson
from rich.table import Table
from rich.text import Text

from hybridllm.cli.common import console, load_router
from hybridllm.config.models import Deployment
from hybridllm.pricing import Rates
from hybridllm.providers import ollama
from hybridllm.providers.local_model import local_readiness

__all__ = ["run_check"]


def run_check(offline: bool, as_json: bool) -> None:
    router = load_router()
    config = router.config
    reach: dict[str, str] = {}
    if not offline:
        reach = asyncio.run(_probe_all(list(config.deployments.values())))
    deployments: list[dict[str, Any]] = []
    for name, dep in config.deployments.items():
        rates = router.rates[name]
        needs_key = dep.needs_key
        if dep.key:
            key = "set"
        elif name in router.loaded.missing_keys:
            key = f"missing: ${{{router.loaded.missing_keys[name]}}} is not set"
        else:
            key = "missing" if needs_key else "not needed"
        deployments.append(
            {
                "name": name,
                "provider": dep.provider,
                "model": dep.model,
                "tier": dep.tier,
                "locality": dep.where,
                "base_url": dep.url,
                "price": _price_text(rates),
                "price_known": rates.known,
                "key": key,
                "reachable": reach.get(name, "not probed"),
            }
        )
    rules: list[dict[str, Any]] = [
        {
            "name": rule.route.name,
            "when": rule.condition.text if rule.condition else "(default)",
            "chain": list(rule.chain),
            "private": rule.route.private,
        }
        for rule in router.policy.rules
    ]
    problems = [
        f"{d['name']}: API key {d['key']}" for d in deployments if d["key"].startswith("missing")
    ]
    problems += [
        f"{d['name']}: no price known for {d['model']} (set `price:`); its costs show as unknown"
        for d in deployments
        if not d["price_known"]
    ]
    problems += [
        f"{d['name']}: not reachable at {d['base_url']} ({d['reachable']})"
        for d in deployments
        if d["reachable"] not in ("ok", "not probed")
    ]
    if not any(r["when"] == "(default)" for r in rules):
        problems.append("no default route (a last rule without `when:`): unmatched requests fail")
    if config.baseline is None:
        problems.append("no `baseline:` set: savings cannot be computed")
    if as_json:
        report = {
            "config": router.loaded.path,
            "valid": True,
            "deployments": deployments,
            "routes": rules,
            "baseline": config.baseline,
            "problems": problems,
        }
        console.out(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
        return
    console.print(Text(f"config {router.loaded.path} is valid", style="green bold"))
    table = Table(title="deployments")
    for column in (
        "name",
        "provider",
        "model",
        "tier",
        "where",
        "price $/MTok in/out",
        "key",
        "reachable",
    ):
        table.add_column(column)
    for d in deployments:
        table.add_row(
            d["name"],
            d["provider"],
            d["model"],
            str(d["tier"]),
            d["locality"],
            d["price"],
            Text(d["key"], style="red" if d["key"].startswith("missing") else ""),
            Text(d["reachable"], style="green" if d["reachable"] == "ok" else "yellow"),
        )
    console.print(table)
    routes = Table(title="routes (first match wins)")
    for column in ("#", "name", "when", "chain"):
        routes.add_column(column)
    for i, r in enumerate(rules, 1):
        routes.add_row(str(i), r["name"], r["when"], " -> ".join(r["chain"]))
    console.print(routes)
    if config.baseline:
        console.print(f"baseline: {config.baseline}")
    for problem in problems:
        console.print(Text(f"warning: {problem}", style="yellow"))


def _price_text(rates: Rates) -> str:
    if not rates.known:
        return "unknown"
    if rates.per_hour is not None:
        return f"${rates.per_hour:g}/hour"
    if rates.source == "local":
        return "free (local)"
    inp, out = rates.per_mtok()
    return f"{inp:g} / {out:g}"


async def _probe_all(deployments: list[Deployment]) -> dict[str, str]:
    timeout = aiohttp.ClientTimeout(total=3)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        results = await asyncio.gather(*(_probe(session, d) for d in deployments))
    return {d.name: r for d, r in zip(deployments, results, strict=True)}


async def _probe(session: aiohttp.ClientSession, deployment: Deployment) -> str:
    """Any HTTP answer means the host is there; the key is not sent."""
    if deployment.wire == "llamacpp":
        return local_readiness(deployment)
    if deployment.provider == "ollama":
        return (await ollama.health(session, deployment)).summary
    try:
        async with session.get(deployment.url, allow_redirects=False) as resp:
            await resp.read()
            return "ok"
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return type(exc).__name__
