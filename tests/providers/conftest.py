from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hybridllm.config.models import Deployment

MakeDeployment = Callable[..., Deployment]


@pytest.fixture
def make_deployment() -> MakeDeployment:
    def make(provider: str = "openai", **kwargs: Any) -> Deployment:
        fields: dict[str, Any] = {
            "name": f"{provider}-test",
            "provider": provider,
            "model": f"{provider}-model",
            "base_url": "http://127.0.0.1:9/base",
            "api_key": "sk-test-unit-key-0123456789",
        }
        fields.update(kwargs)
        return Deployment(**fields)

    return make
