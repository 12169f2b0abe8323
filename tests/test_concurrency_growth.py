"""The concurrency grows only while growing pays: a step that brings no more answers a second (this
process's CPU is the bottleneck, the server answers at once) is taken back."""

from __future__ import annotations

from distill_tui.core.run.concurrency import HOLD_S, INITIAL, JUDGE_S, Concurrency

NO_LIMIT = {"requests_per_min": None, "tokens_per_min": None}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _serve(c: Concurrency, clock: FakeClock, rows_per_s: float, seconds: float, latency: float) -> None:
    """Answers at `rows_per_s` for `seconds`, each after `latency`."""
    step = 1.0 / rows_per_s
    for _ in range(int(rows_per_s * seconds)):
        clock.now += step
        c.observe(latency, 100)


def _run(c: Concurrency, clock: FakeClock, throughput, latency: float, seconds: float) -> list[int]:
    """Drive `update` every 0.1 s with every slot busy; `throughput(target)` is what the server answers."""
    targets = []
    for _ in range(int(seconds / 0.1)):
        _serve(c, clock, throughput(c.target), 0.1, latency)
        targets.append(c.update(NO_LIMIT, c.target, throughput(c.target)))
    return targets


def test_growth_that_brings_no_throughput_is_taken_back():
    clock = FakeClock()
    c = Concurrency(clock=clock)
    # A client bound by its own CPU: 400 answers a second however many are in flight.
    targets = _run(c, clock, lambda target: 400.0, latency=0.02, seconds=30)
    assert max(targets) <= INITIAL * 1.5 + 1  # one step up at a time, taken back each time
    assert targets[-1] <= INITIAL * 1.5 + 1 and sum(targets) / len(targets) < INITIAL * 1.3


def test_growth_that_pays_goes_on():
    clock = FakeClock()
    c = Concurrency(clock=clock)
    # A server that answers in 0.5 s whatever the load: answers a second follow what is in flight.
    targets = _run(c, clock, lambda target: target / 0.5, latency=0.5, seconds=30)
    assert targets[-1] >= 100


def test_a_step_taken_back_is_tried_again_after_the_hold():
    clock = FakeClock()
    c = Concurrency(clock=clock)
    _run(c, clock, lambda target: 400.0, latency=0.02, seconds=5)
    low = c.target
    # The CPU is freed (another program ended): the same 20 ms latency, and more in flight now pays.
    targets = _run(c, clock, lambda target: target / 0.02, latency=0.02, seconds=HOLD_S + 10)
    assert targets[-1] > 4 * low


def _steps(c: Concurrency, clock: FakeClock, throughput, latency: float, seconds: float) -> list[tuple[float, int]]:
    """`_run`, noting each change of the target with its time."""
    changes, last = [(clock.now, c.target)], c.target
    for _ in range(int(seconds / 0.1)):
        _serve(c, clock, throughput(c.target), 0.1, latency)
        target = c.update(NO_LIMIT, c.target, throughput(c.target))
        if target != last:
            changes.append((clock.now, target))
            last = target
    return changes


def test_each_step_is_judged_on_a_second_of_answers():
    clock = FakeClock()
    c = Concurrency(clock=clock)
    changes = _steps(c, clock, lambda target: 400.0, latency=0.02, seconds=60)
    ups = [(t, target) for (t, target), (_, before) in zip(changes[1:], changes) if target > before]
    downs = [t for (t, target), (_, before) in zip(changes[1:], changes) if target < before]
    assert ups and downs
    for (up, _), down in zip(ups, downs):
        assert down - up >= JUDGE_S  # a few hundred milliseconds of a busy machine's noise decide nothing


def test_steps_that_keep_not_paying_are_tried_ever_less_often():
    clock = FakeClock()
    c = Concurrency(clock=clock)
    changes = _steps(c, clock, lambda target: 400.0, latency=0.02, seconds=120)
    ups = [t for (t, target), (_, before) in zip(changes[1:], changes) if target > before]
    gaps = [b - a for a, b in zip(ups, ups[1:])]
    assert len(ups) <= 6  # a fixed 5 s hold would try about 20 times in two minutes
    assert gaps == sorted(gaps) and gaps[-1] >= 8 * HOLD_S
