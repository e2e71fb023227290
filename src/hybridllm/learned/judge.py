"""The sampled judge: a second opinion on cheap-tier answers, off the request path.

For a sampled answer from below the strong deployment's tier, after the reply has gone out:

1. the ``strong`` deployment answers the same request (the reference);
2. the ``deployment`` (the judge) reads the request and both answers and rates the cheap one
   from 0 (useless) to 10 (as good as the reference);
3. the rating / 10 is stored as feedback with source ``judge``.

Both calls go through the runtime like any request, under the cost center
:data:`JUDGE_COST_CENTER`: they are routed (pinned by name), budgeted and recorded in the ledger
with request ids of their own. Private requests, tool calls and streams are never judged; when
``max_concurrency`` judgements are in flight a sample is skipped rather than queued. Sampling is
by a hash of the request id (stable, so a retried request is judged or not the same way).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec

from hybridllm.config.models import Judge as JudgeSettings
from hybridllm.errors import HybridLLMError
from hybridllm.features.extract import Hints
from hybridllm.ledger.learning import Feedback
from hybridllm.types import ChatRequest, Message

if TYPE_CHECKING:
    from hybridllm.dispatch.result import Completion
    from hybridllm.router import Plan
    from hybridllm.runtime import Runtime

__all__ = ["JUDGE_COST_CENTER", "Judge", "judge_request", "parse_score", "sampled"]

log = logging.getLogger("hybridllm.learning")

JUDGE_COST_CENTER = "hybridllm-judge"
MAX_CHARS = 6_000  # of the request and of each answer shown to the judge
_SYSTEM = (
    "You compare two answers to the same request. Answer A is a reference from a strong model. "
    "Rate answer B from 0 to 10: 10 = as good as A or better, 5 = usable with flaws, 0 = wrong "
    "or useless. Reply with the number only."
)
_NUMBER = re.compile(r"(?<![\d.])(10(?:\.0+)?|\d(?:\.\d+)?)(?!\d|\.\d)")


def sampled(request_id: str, share: float) -> bool:
    """Whether ``request_id`` falls in the sampled ``share`` (stable for a given id)."""
    if share >= 1.0:
        return True
    return zlib.crc32(request_id.encode()) < share * 2**32


def parse_score(text: str) -> float | None:
    """The first number from 0 to 10 in the judge's reply, over 10; None when there is none."""
    match = _NUMBER.search(text)
    return None if match is None else float(match.group(1)) / 10.0


def _clip(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + " [...]"


def judge_request(model: str, prompt: str, system: str, reference: str, answer: str) -> ChatRequest:
    """The request the judge deployment answers."""
    asked = f"System prompt:\n<<<\n{_clip(system)}\n>>>\n\n" if system else ""
    asked += f"Request:\n<<<\n{_clip(prompt)}\n>>>"
    body = (
        f"{asked}\n\nAnswer A (reference):\n<<<\n{_clip(reference)}\n>>>\n\n"
        f"Answer B:\n<<<\n{_clip(answer)}\n>>>\n\nScore for answer B (0-10):"
    )
    return ChatRequest(
        model=model,
        messages=[Message(role="system", content=_SYSTEM), Message(role="user", content=body)],
        max_tokens=8,
        temperature=0.0,
    )


class Judge:
    def __init__(
        self, runtime: Runtime, settings: JudgeSettings, sink: Callable[[Feedback], object]
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.sink = sink
        self.strong_tier = runtime.router.config.deployments[settings.strong].tier
        self.tasks: set[asyncio.Task[None]] = set()
        self.judged = self.skipped = self.failed = 0

    def consider(self, plan: Plan, done: Completion, tier: int) -> None:
        """Start a judgement of ``done`` if it is a sampled, judgeable cheap-tier answer."""
        s = self.settings
        decision = done.decision
        if (
            tier >= self.strong_tier
            or done.deployment == s.strong
            or decision.private
            or plan.request.tools
            or done.response.choices[0].message.tool_calls
            or not sampled(done.request_id, s.sample)
        ):
            return
        if len(self.tasks) >= s.max_concurrency:
            self.skipped += 1
            return
        features = decision.features
        task = asyncio.get_running_loop().create_task(
            self._judge(
                plan.request, done.request_id, features.last_user, features.system_text, done.text
            ),
            name=f"hybridllm-judge-{done.request_id}",
        )
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _judge(
        self, request: ChatRequest, request_id: str, prompt: str, system: str, answer: str
    ) -> None:
        hints = Hints(cost_center=JUDGE_COST_CENTER)
        s = self.settings
        try:
            again = msgspec.structs.replace(
                request, model=s.strong, stream=False, stream_options=None
            )
            reference = await self.runtime.complete(again, hints)
            asked = judge_request(s.deployment, prompt, system, reference.text, answer)
            verdict = await self.runtime.complete(asked, hints)
        except HybridLLMError as exc:
            self.failed += 1
            log.warning("judging %s failed: %s", request_id, exc.message)
            return
        score = parse_score(verdict.text)
        if score is None:
            self.failed += 1
            log.warning("the judge's reply for %s holds no score from 0 to 10", request_id)
            return
        self.judged += 1
        self.sink(Feedback(request_id, score, "judge", time.time()))

    async def close(self) -> None:
        """Cancel the judgements still running (their calls are billed as far as they went)."""
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
