"""The retry/fallback walk as a hypothesis state machine with an injected clock.

Requests run one after another against a chain whose deployments answer what hypothesis draws
(ok, a fallback-class error, a 429 with Retry-After, a caller error). Across any sequence:
no deployment is tried twice in a request, attempts never pass max_attempts, a private request
never gets a cloud deployment, a deployment cooling down after Retry-After gets no attempt before
its time, and backoff never sleeps past the deadline.
"""

from __future__ import annotations

import asyncio

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule
from msgspec.structs import replace

from hybridllm.config.loader import parse_config
from hybridllm.dispatch.breaker import Breaker, BreakerSettings
from hybridllm.dispatch.clock import ManualClock
from hybridllm.dispatch.limiter import DeploymentLimiter
from hybridllm.dispatch.selection import RequestState, Selector
from hybridllm.errors import RateLimitedError, ServerError
from hybridllm.router import Router

CONFIG = """
deployments:
  l1: {provider: ollama, model: a, tier: 1}
  l2: {provider: vllm, model: b, tier: 1}
  c1: {provider: openai, model: gpt-4o-mini, api_key: sk-test-aaaaaaaaaaaaaaaaaaaa, tier: 2}
  c2: {provider: anthropic, model: claude-sonnet-4-5, api_key: sk-ant-test-aaaaaaaaaaaa, tier: 3}
routes:
  - name: all
    use: [l1, c1, l2, c2]
dispatch: {max_attempts: 3, deadline: 30, backoff_base: 0.5, backoff_max: 4}
"""

OUTCOMES = st.sampled_from(["ok", "server_error", "retry_after", "bad_request"])


class SelectionMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        loaded = parse_config(CONFIG, "c.yaml", env={})
        self.router = Router(loaded)
        self.clock = ManualClock()
        cfg = loaded.config
        self.breakers = {
            n: Breaker(BreakerSettings(min_calls=1000), self.clock) for n in cfg.deployments
        }
        self.selector = Selector(
            dict(cfg.deployments),
            cfg.dispatch,
            self.breakers,
            DeploymentLimiter(dict(cfg.deployments)),
            self.clock,
        )
        self.cooling_until: dict[str, float] = {}

    @rule(seconds=st.floats(0, 10))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(
        outcomes=st.lists(OUTCOMES, min_size=4, max_size=4),
        private=st.booleans(),
        retry_after=st.floats(0.5, 60),
    )
    def one_request(self, outcomes: list[str], private: bool, retry_after: float) -> None:
        asyncio.run(self._request(outcomes, private, retry_after))

    async def _request(self, outcomes: list[str], private: bool, retry_after: float) -> None:
        decision = self.router.decide("hello")
        if private:
            decision = replace(decision, private=True, private_because=("hint",))
        start = self.clock.now()
        state = RequestState(decision, start + 30)
        tried: list[str] = []
        for step in range(10):
            cand = await self.selector.next(state)
            if cand is None:
                break
            now = self.clock.now()
            assert cand.name not in tried, "a deployment was tried twice in one request"
            assert now >= self.cooling_until.get(cand.name, 0.0) - 1e-9, (
                "attempt during Retry-After"
            )
            assert now <= state.deadline + 1e-9, "slept past the deadline"
            if private:
                assert self.router.deployment(cand.name).is_local, "private request sent to cloud"
            tried.append(cand.name)
            state.attempts += 1
            outcome = outcomes[step % len(outcomes)]
            if outcome == "ok":
                cand.succeeded()
                break
            if outcome == "bad_request":
                cand.failed(False)
                break
            if outcome == "retry_after":
                err: RateLimitedError | ServerError = RateLimitedError(
                    "429", deployment=cand.name, retry_after=retry_after
                )
                self.cooling_until[cand.name] = max(
                    self.cooling_until.get(cand.name, 0.0), now + retry_after
                )
            else:
                err = ServerError("500", deployment=cand.name)
            state.errors.append(err)
            cand.failed(err.breaker_failure)
            self.selector.note_error(cand.name, err)
        assert state.attempts <= 3


SelectionMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=25, deadline=None
)
TestSelectionStateMachine = SelectionMachine.TestCase
