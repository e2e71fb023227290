"""The circuit breaker as a hypothesis state machine with an injected clock."""

from __future__ import annotations

import math

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from hybridllm.dispatch.breaker import Breaker, BreakerSettings, BreakerState, Ticket
from hybridllm.dispatch.clock import ManualClock

SETTINGS = BreakerSettings(
    window=30.0, min_calls=4, failure_rate=0.5, cooldown=5.0, cooldown_max=40.0
)


class BreakerMachine(RuleBasedStateMachine):
    """A reference model runs beside the breaker; every step must agree with it."""

    @initialize()
    def setup(self) -> None:
        self.clock = ManualClock()
        self.breaker = Breaker(SETTINGS, self.clock)
        self.outcomes: list[tuple[float, bool]] = []
        self.open_until: float | None = None
        self.half_open = False
        self.cooldown = SETTINGS.cooldown
        self.probe_out = False
        self.gen = 0
        self.in_flight: list[tuple[Ticket, int, bool]] = []  # ticket, model generation, probe

    def model_state(self) -> BreakerState:
        if self.open_until is None:
            return BreakerState.CLOSED
        if self.half_open or self.clock.now() >= self.open_until:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def _open(self, now: float) -> None:
        self.gen += 1
        self.open_until = now + self.cooldown
        self.half_open = False
        self.outcomes = []

    @rule(seconds=st.floats(0, 20))
    def wait(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule()
    def call(self) -> None:
        state = self.model_state()
        ticket = self.breaker.allow()
        if state is BreakerState.CLOSED:
            assert ticket is not None and not ticket.probe
            self.in_flight.append((ticket, self.gen, False))
        elif state is BreakerState.OPEN:
            assert ticket is None
        else:
            assert (ticket is not None) == (not self.probe_out), "half-open: exactly one probe"
            if ticket is not None:
                assert ticket.probe
                self.probe_out = True
                self.half_open = True
                self.gen += 1
                self.in_flight.append((ticket, self.gen, True))

    @precondition(lambda self: bool(self.in_flight))
    @rule(data=st.data(), failed=st.booleans())
    def outcome(self, data: st.DataObject, failed: bool) -> None:
        index = data.draw(st.integers(0, len(self.in_flight) - 1))
        ticket, gen, probe = self.in_flight.pop(index)
        self.breaker.record(ticket, failed)
        now = self.clock.now()
        if gen != self.gen:
            return  # stale: let through before the breaker last changed state
        if probe:
            self.probe_out = False
            if failed:
                self.cooldown = min(self.cooldown * 2, SETTINGS.cooldown_max)
                self._open(now)
            else:
                self.gen += 1
                self.open_until = None
                self.half_open = False
                self.cooldown = SETTINGS.cooldown
            return
        # Outcomes count in one-second buckets: at the start of the second they happened in.
        self.outcomes = [
            (t, f)
            for t, f in [*self.outcomes, (math.floor(now), failed)]
            if t >= now - SETTINGS.window
        ]
        fails = sum(f for _, f in self.outcomes)
        if (
            len(self.outcomes) >= SETTINGS.min_calls
            and fails / len(self.outcomes) >= SETTINGS.failure_rate
        ):
            self._open(now)

    @precondition(lambda self: bool(self.in_flight))
    @rule(data=st.data())
    def abandoned(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(0, len(self.in_flight) - 1))
        ticket, gen, probe = self.in_flight.pop(index)
        self.breaker.abandon(ticket)
        if probe and gen == self.gen:
            self.probe_out = False

    @invariant()
    def states_agree(self) -> None:
        if hasattr(self, "breaker"):
            assert self.breaker.state == self.model_state()

    @invariant()
    def cooldown_is_bounded(self) -> None:
        if hasattr(self, "cooldown"):
            assert SETTINGS.cooldown <= self.cooldown <= SETTINGS.cooldown_max


BreakerMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=60, deadline=None)
TestBreakerStateMachine = BreakerMachine.TestCase


def test_breaker_stays_closed_below_min_calls() -> None:
    clock = ManualClock()
    breaker = Breaker(SETTINGS, clock)
    for _ in range(SETTINGS.min_calls - 1):
        ticket = breaker.allow()
        assert ticket is not None
        breaker.record(ticket, failed=True)
    assert breaker.state is BreakerState.CLOSED


def test_old_failures_leave_the_window() -> None:
    clock = ManualClock()
    breaker = Breaker(SETTINGS, clock)
    tickets = [breaker.allow() for _ in range(4)]
    for ticket in tickets[:3]:
        assert ticket is not None
        breaker.record(ticket, failed=True)
    clock.advance(SETTINGS.window + 1)
    assert tickets[3] is not None
    breaker.record(tickets[3], failed=True)
    assert breaker.state is BreakerState.CLOSED
