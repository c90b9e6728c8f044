"""OverloadHold's rules, without a sidecar: when a held session's updates may go again.

The clock and the spread draws are the test's own, so that "after its resend time" is
exact rather than a guess about a loaded machine."""

from __future__ import annotations

from typing import List

from sessionstore_client.overload_hold import OverloadHold


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def hold_with(draws: List[float], clock: Clock) -> OverloadHold:
    return OverloadHold(clock=clock, draw=lambda: draws.pop(0) if draws else 0.0)


def test_every_session_held_at_once_gets_its_own_resend_time_within_delay_to_twice_delay():
    clock = Clock()
    hold = hold_with([0.5, 0.0, 0.9], clock)
    # RetryInfo's 1 s is longer than any first backoff (200 ms ± 20 %): the delay is 1 s.
    assert hold.hold("a", 1.0) == 1.5
    assert hold.hold("b", 1.0) == 1.0  # due before the timer set for a: the timer moves to it
    assert hold.hold("c", 1.0) is None  # due after it: the timer stands
    clock.now += 0.999
    assert hold.release_ready(lambda cid: False) == []
    clock.now += 0.001
    assert abs(hold.expire() - 0.5) < 1e-9  # fired for b; a is next, half a second on
    assert hold.release_ready(lambda cid: False) == ["b"]
    clock.now += 0.5
    assert abs(hold.expire() - 0.4) < 1e-9
    assert hold.release_ready(lambda cid: False) == ["a"]
    clock.now += 0.4
    assert hold.expire() is None  # nothing left to wait for
    assert hold.release_ready(lambda cid: False) == ["c"]


def test_a_session_goes_again_only_once_nothing_of_it_is_in_flight_and_keeps_its_time_when_held_again():
    clock = Clock()
    hold = hold_with([0.0, 0.5], clock)
    in_flight = {"a"}
    assert hold.hold("a", 0.2) is not None
    assert hold.hold("a", 0.2) is None  # a second refused update of a held session
    hold.hold("b", 0.2)
    clock.now += 0.4  # past b's time: 1.5 × at most 240 ms (the first backoff, 200 ms ± 20 %)
    hold.expire()
    # a's updates still in flight will be refused too: resending before their acks could reorder them.
    assert hold.release_ready(in_flight.__contains__) == ["b"]
    assert (hold.holds("a"), hold.holds("b")) == (True, False)
    in_flight.clear()
    assert hold.release_ready(in_flight.__contains__) == ["a"]
    assert hold.hold("c", 0.2) is not None  # held after the delay passed: a time of its own


def test_the_delay_is_the_longer_of_retry_info_and_a_backoff_doubling_to_five_seconds_until_an_ack():
    clock = Clock()
    hold = hold_with([], clock)  # draws of 0: each session waits exactly the delay

    def next_delay(retry_delay: float) -> float:
        delay = hold.hold("a", retry_delay)
        assert delay is not None
        clock.now += delay
        hold.expire()
        assert hold.release_ready(lambda cid: False) == ["a"]
        return delay

    for nominal in (0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0):
        assert nominal * 0.8 <= next_delay(0.0) <= nominal * 1.2
    assert next_delay(9.0) == 9.0
    hold.acknowledged()
    assert 0.16 <= next_delay(0.0) <= 0.24


def test_a_new_stream_forgets_every_hold():
    clock = Clock()
    hold = hold_with([], clock)
    hold.hold("a", 0.2)
    hold.clear()
    assert not hold.holds("a")
    assert hold.hold("b", 0.2) is not None  # the timer is gone with the holds: b sets its own
