"""How many requests a run keeps in flight: found from the limits and the latency, not guessed.

By Little's law a pool that must reach `rate` requests a second, each taking `latency` seconds,
needs `rate × latency` requests in flight. The rate is the tighter of the request limit and the
token limit divided by the tokens a request uses (the spec's `rpm`/`tpm`, or what the provider's
`x-ratelimit-limit-*` headers said, after any slow-down the 429s caused); the latency is a moving
average of answered requests. The target is that product times `HEADROOM` (latency varies, and a
row waiting for the limiter counts as in flight), between 1 and the cap (`[generation] workers`
when set, else `DEFAULT_CAP`). The limiter still paces the requests: concurrency only has to be
enough never to be the bottleneck.

A limit can be far above what the server serves (a local server advertising a nominal limit, no
limit at all): more requests in flight then only queue there, and the latency climbs. So when the
latency rises above `LATENCY_SLACK` times the best seen, the target drops to what the throughput
measured needs at that best latency, and from then on grows by half while every slot is busy and
the latency stays low (never above the limits' target). With no limit known it works that way from
the start, from `INITIAL`.

A limit can also be far above what this process can serve: a Python process answers at most
about one request per `cpu_s_per_answer` seconds (one core, the GIL), the CPU time its worker
threads spend on an answer (`observe`; the planner's and the writer's CPU are not the answers').
A limit `CPU_OUT_OF_REACH` times above that is taken as no limit (the target grows from `INITIAL`
while growth pays, below), so a limit that is no limit (10^9 requests a minute, ~0 latency) does
not send the target straight to the cap, where hundreds of threads cost a third more CPU a row on
a CPU-bound client.

Growth must pay: a step is kept only when the answers a second it brought (measured once the new
requests had time to come back) are at least `GROWTH_GAIN` times those before it. Otherwise the
bottleneck is elsewhere (this process's CPU when the server answers at once: hundreds of threads
then cost a third more CPU a row for nothing), so the target goes back and stays for `HOLD_S`, twice
as long after each step in a row that did not pay (up to `HOLD_MAX_S`): each try runs a while with
requests that only wait. A step is judged on at least `JUDGE_S` of answers: over a shorter window,
the noise of a busy machine let a step that brought nothing pass for one that did, and the run then
stayed a third above what it needed.
"""

from __future__ import annotations

import math
import time
from typing import Callable

HEADROOM = 1.25
"""In flight = limit rate × latency × this."""
DEFAULT_CAP = 512
"""Most requests in flight when `[generation] workers` is not set (one thread each)."""
INITIAL = 8
"""Requests in flight before anything is known (the old fixed `workers` default)."""
ASSUMED_LATENCY_S = 1.0
"""Latency assumed for a known limit before the first answer comes back."""
LATENCY_SLACK = 3.0
"""The server is queueing when the latency is above this many times the best seen…"""
LATENCY_SLACK_S = 0.1
"""…and at least this many seconds above it (a few milliseconds of scheduling noise are not queueing)."""
ADJUST_EVERY_S = 0.25
"""Shortest time between two growth steps (a step also waits one latency, to see its effect)."""
MIN_SAMPLES = 5
"""Answers needed before the latency is trusted."""
GROWTH_GAIN = 1.1
"""A growth step is kept when the throughput after it is at least this many times the one before."""
JUDGE_SAMPLES = 20
"""Answers needed after a growth step before it is judged…"""
JUDGE_S = 1.0
"""…and seconds of them (or one latency, when longer)."""
HOLD_S = 5.0
"""Seconds without growth after a step that did not pay…"""
HOLD_MAX_S = 60.0
"""…doubled after each further one in a row, up to this."""
CPU_OUT_OF_REACH = 4.0
"""A limit above this many times the answers a second this process's CPU can serve is taken as none."""
_EWMA = 0.2


class Concurrency:
    """The target number of requests in flight; updated under the pool's lock (not thread-safe itself).

    Args:
        cap: Most requests in flight (`[generation] workers`), None for `DEFAULT_CAP`.
        clock: Monotonic time source.
    """

    def __init__(self, cap: int | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.cap = max(1, cap if cap is not None else DEFAULT_CAP)
        self.target = min(self.cap, INITIAL)
        self.latency_s: float | None = None
        self.best_latency_s: float | None = None
        self.tokens_per_request: float | None = None
        self.samples = 0
        self.trust_limit = True  # False once the server queued below the limits' target
        self._clock = clock
        self._changed = -math.inf
        self._answers = 0  # answers observed
        self._settle_at = -math.inf  # when the requests of the last change have had time to come back
        self._settled: tuple[float, int] | None = None  # (time, answers) then
        self._before_growth: tuple[int, float] | None = None  # (target, answers/s) before the last step
        self._hold_until = -math.inf
        self._hold_s = HOLD_S  # the next hold (doubles while steps keep not paying)
        self.cpu_s_per_answer: float | None = None  # worker-thread CPU seconds an answer costs (moving average)

    def observe(self, latency_s: float, tokens: float, cpu_s: float | None = None) -> None:
        """Note one answered request: its latency, the tokens it used and the CPU seconds its worker
        thread spent on it (sending, parsing, saving; None when not measured)."""
        latency_s = max(latency_s, 1e-4)
        if cpu_s is not None:
            self.cpu_s_per_answer = (cpu_s if self.cpu_s_per_answer is None
                                     else self.cpu_s_per_answer + _EWMA * (cpu_s - self.cpu_s_per_answer))
        self.samples += 1
        self._answers += 1
        if self._settled is None and self._before_growth is not None:
            now = self._clock()
            if now >= self._settle_at:
                self._settled = (now, self._answers)
        self.latency_s = latency_s if self.latency_s is None else self.latency_s + _EWMA * (latency_s - self.latency_s)
        if self.samples >= MIN_SAMPLES:
            self.best_latency_s = min(self.best_latency_s or self.latency_s, self.latency_s)
        if tokens > 0:
            self.tokens_per_request = (tokens if self.tokens_per_request is None
                                       else self.tokens_per_request + _EWMA * (tokens - self.tokens_per_request))

    def limit_rate(self, rates: dict) -> float | None:
        """Requests a second the limits allow (`RateLimiter.current_rates()`), None when none is known."""
        found = []
        if rates.get("requests_per_min"):
            found.append(rates["requests_per_min"] / 60.0)
        if rates.get("tokens_per_min") and self.tokens_per_request:
            found.append(rates["tokens_per_min"] / 60.0 / self.tokens_per_request)
        return min(found) if found else None

    def update(self, rates: dict, in_flight: int, throughput: float) -> int:
        """Recompute the target; returns it.

        Args:
            rates: `RateLimiter.current_rates()`.
            in_flight: Requests in flight now (those waiting for the limiter included).
            throughput: Answers a second, measured over the last seconds.
        """
        now = self._clock()
        rate = self.limit_rate(rates)
        if rate is not None and self.cpu_s_per_answer and rate > CPU_OUT_OF_REACH / self.cpu_s_per_answer:
            rate = None  # a limit far above what this process can serve says nothing: grow as with none
        latency = self.latency_s if self.latency_s is not None else ASSUMED_LATENCY_S
        if self.best_latency_s is not None:
            # Latency that climbs with what is in flight is this process or the server queueing, which
            # more requests in flight would only feed; Little's law takes at most twice the best seen.
            latency = min(latency, 2.0 * self.best_latency_s)
        ceiling = self.cap if rate is None else self._clamp(math.ceil(rate * latency * HEADROOM) + 1)
        if self.samples < MIN_SAMPLES:
            return self.target  # nothing measured yet: the limits alone say nothing of the latency
        may_change = now - self._changed >= max(ADJUST_EVERY_S, latency)
        if self.overloaded and may_change:
            # Little's law again, with what the server does serve: more in flight only waits there.
            # A target far above that (a limit that is no limit) drops to it at once; near it, a quarter less.
            needed = max(INITIAL, math.ceil(throughput * (self.best_latency_s or latency) * HEADROOM) + 1)
            cut = needed if self.target > 4 * needed else max(needed, math.floor(self.target * 0.75))
            self.target = self._clamp(min(ceiling, cut))
            self.trust_limit, self._changed = False, now
        elif rate is not None and self.trust_limit:
            self.target = ceiling
        elif self._before_growth is not None and self._settled is not None:
            self._judge_growth(now, latency)
            self.target = min(self.target, ceiling)
        elif (may_change and in_flight >= self.target and not self.overloaded and self.target < ceiling
              and self._before_growth is None and now >= self._hold_until):
            self._before_growth = (self.target, throughput if self._settled is None else self._rate_since(now))
            self.target = self._clamp(min(ceiling, math.ceil(self.target * 1.5)))
            self._changed, self._settle_at, self._settled = now, now + latency, None
        else:
            self.target = min(self.target, ceiling)
        return self.target

    def _rate_since(self, now: float) -> float:
        assert self._settled is not None
        since, answers = self._settled
        return (self._answers - answers) / (now - since) if now > since else 0.0

    def _judge_growth(self, now: float, latency: float) -> None:
        """Keep the last growth step if it paid (see the module docstring), else go back and hold."""
        assert self._settled is not None and self._before_growth is not None
        if now - self._settled[0] < max(JUDGE_S, latency) or self._answers - self._settled[1] < JUDGE_SAMPLES:
            return  # too few answers since the step to tell
        before_target, before_rate = self._before_growth
        rate = self._rate_since(now)
        if rate < GROWTH_GAIN * before_rate:
            self.target, self._hold_until = min(self.target, before_target), now + self._hold_s
            self._hold_s = min(HOLD_MAX_S, 2 * self._hold_s)
        else:
            self._hold_s = HOLD_S
        self._before_growth = None
        self._settled = (now, self._answers)  # the next step compares with this period's rate
        self._changed = now

    def back_off(self) -> int:
        """A 429 with no limit to pace it: a quarter fewer in flight (once per adjustment period)."""
        now = self._clock()
        if now - self._changed >= max(ADJUST_EVERY_S, self.latency_s or 0.0):
            self.target = self._clamp(math.floor(self.target * 0.75))
            self.trust_limit, self._changed = False, now
        return self.target

    @property
    def overloaded(self) -> bool:
        """The latency is well above the best seen: the server queues what it is sent."""
        return (self.best_latency_s is not None and self.latency_s is not None
                and self.latency_s > LATENCY_SLACK * self.best_latency_s
                and self.latency_s > self.best_latency_s + LATENCY_SLACK_S)

    def _clamp(self, value: int) -> int:
        return max(1, min(self.cap, value))
