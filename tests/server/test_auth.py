"""Virtual keys: SHA-256 in the config, Bearer or x-api-key, each bound to a cost center."""

from __future__ import annotations

import pytest

from hybridllm.config.models import ServerKey
from hybridllm.mock import MockUpstream
from hybridllm.server.auth import KeyRing

from .conftest import OPS_KEY, TEAM_KEY, Running, sha
from .helpers import CHAT, MESSAGES, anthropic, anthropic_error, call, chat, openai_error

GUARDED_GETS = ["/v1/models", "/metrics", "/openapi.json"]


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer wrong-key-000"}])
async def test_chat_without_a_valid_key_is_a_401_in_the_openai_envelope(
    keyed_gateway: Running, mock: MockUpstream, headers: dict[str, str]
) -> None:
    reply = await call(keyed_gateway.url, CHAT, chat(), headers=headers)
    assert reply.status == 401
    assert openai_error(reply)["code"] in ("missing_api_key", "invalid_api_key")
    assert mock.records == []


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "wrong-key-000"}])
async def test_messages_without_a_valid_key_is_a_401_in_the_anthropic_envelope(
    keyed_gateway: Running, headers: dict[str, str]
) -> None:
    reply = await call(keyed_gateway.url, MESSAGES, anthropic(), headers=headers)
    assert reply.status == 401
    assert anthropic_error(reply)["type"] == "authentication_error"


@pytest.mark.parametrize("path", GUARDED_GETS)
async def test_every_route_but_health_needs_a_key(keyed_gateway: Running, path: str) -> None:
    reply = await call(keyed_gateway.url, path, method="GET")
    assert reply.status == 401
    openai_error(reply)
    reply = await call(
        keyed_gateway.url, path, method="GET", headers={"authorization": f"Bearer {TEAM_KEY}"}
    )
    assert reply.status == 200
    reply = await call(keyed_gateway.url, "/v1/route", chat())
    assert reply.status == 401


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
async def test_health_routes_need_no_key(keyed_gateway: Running, path: str) -> None:
    reply = await call(keyed_gateway.url, path, method="GET")
    assert reply.status == 200


async def test_bearer_key_binds_its_cost_center_over_the_hint(keyed_gateway: Running) -> None:
    reply = await call(
        keyed_gateway.url,
        CHAT,
        chat(),
        headers={"authorization": f"Bearer {TEAM_KEY}", "x-hybridllm-cost-center": "marketing"},
    )
    assert reply.status == 200
    (row,) = keyed_gateway.rows()
    assert (row.key_name, row.cost_center) == ("team-a", "research")


async def test_x_api_key_is_accepted_and_a_key_without_cost_center_takes_the_hint(
    keyed_gateway: Running,
) -> None:
    reply = await call(
        keyed_gateway.url,
        MESSAGES,
        anthropic(),
        headers={"x-api-key": OPS_KEY, "x-hybridllm-cost-center": "marketing"},
    )
    assert reply.status == 200
    (row,) = keyed_gateway.rows()
    assert (row.key_name, row.cost_center) == ("ops", "marketing")


def test_keyring_matches_sha256_digests_only() -> None:
    ring = KeyRing([ServerKey(name="a", key_sha256=sha("secret-a"), cost_center="cc")])
    assert ring.authenticate({"authorization": "Bearer secret-a"}).key_name == "a"
    assert ring.authenticate({"x-api-key": "secret-a"}).cost_center == "cc"
    for headers in (
        {"authorization": f"Bearer {sha('secret-a')}"},  # the digest itself is not a key
        {"authorization": "Basic secret-a"},
        {"authorization": "Bearer "},
        {},
    ):
        with pytest.raises(Exception) as info:
            ring.authenticate(headers)
        assert getattr(info.value, "status", None) == 401


def test_no_keys_configured_lets_everyone_in_anonymously() -> None:
    caller = KeyRing([]).authenticate({})
    assert (caller.key_name, caller.cost_center) == (None, None)
