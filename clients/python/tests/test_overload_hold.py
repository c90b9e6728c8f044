"""OverloadHold's rules, without a sidecar: when a held session's updates may go again."""

from __future__ import annotations

from sessionstore_client.overload_hold import OverloadHold


def test_a_held_session_goes_again_once_its_delay_passed_and_nothing_of_it_is_in_flight():
    hold = OverloadHold()
    in_flight = {"a"}
    assert hold.hold("a", 0.2) is not None
    assert hold.hold("b", 0.2) is None  # the delay already scheduled covers it
    assert hold.release_ready(in_flight.__contains__) == []
    hold.expire()
    # a's updates still in flight will be refused too: resending before their acks could reorder them.
    assert hold.release_ready(in_flight.__contains__) == ["b"]
    assert (hold.holds("a"), hold.holds("b")) == (True, False)
    in_flight.clear()
    assert hold.release_ready(in_flight.__contains__) == ["a"]
    assert hold.hold("c", 0.2) is not None  # held after the delay passed: a delay of its own


def test_the_delay_is_the_longer_of_retry_info_and_a_backoff_doubling_to_five_seconds_until_an_ack():
    hold = OverloadHold()

    def next_delay(retry_delay: float) -> float:
        delay = hold.hold("a", retry_delay)
        assert delay is not None
        hold.expire()
        hold.release_ready(lambda cid: False)
        return delay

    for nominal in (0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0):
        assert nominal * 0.8 <= next_delay(0.0) <= nominal * 1.2
    assert next_delay(9.0) == 9.0
    hold.acknowledged()
    assert 0.16 <= next_delay(0.0) <= 0.24
