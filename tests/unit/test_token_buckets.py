"""Token buckets (engine/access/limits.py), on an injected clock: the time is an argument, never read here."""

from __future__ import annotations

import pytest

from engine.access.limits import RateLimited, TokenBuckets

T0 = 1000.0


def take_all(buckets: TokenBuckets, key: str, now: float) -> int:
    """How many takes succeed at ``now`` before the first refusal (bounded, so a bug cannot loop forever)."""
    for taken in range(10_000):
        try:
            buckets.take(key, now)
        except RateLimited:
            return taken
    raise AssertionError("never refused")


def test_a_burst_is_allowed_then_refused_with_a_positive_retry_after():
    buckets = TokenBuckets(rate=2.0, burst=5)
    assert take_all(buckets, "alice", T0) == 5
    with pytest.raises(RateLimited) as refused:
        buckets.take("alice", T0)
    # empty: one token is 1/rate seconds away
    assert refused.value.retry_after_s == pytest.approx(0.5)
    assert refused.value.retry_after_s > 0
    assert "retry after 0.5 s" in str(refused.value)


def test_the_bucket_refills_at_the_rate_over_time():
    buckets = TokenBuckets(rate=2.0, burst=5)
    take_all(buckets, "alice", T0)
    with pytest.raises(RateLimited):
        buckets.take("alice", T0 + 0.49)
    buckets.take("alice", T0 + 0.5)  # one token after 1/rate seconds
    with pytest.raises(RateLimited) as refused:
        buckets.take("alice", T0 + 0.5)
    assert refused.value.retry_after_s == pytest.approx(0.5)
    assert take_all(buckets, "alice", T0 + 1.5) == 2


def test_the_retry_after_shrinks_as_the_bucket_refills():
    buckets = TokenBuckets(rate=1.0, burst=1)
    buckets.take("alice", T0)
    with pytest.raises(RateLimited) as refused:
        buckets.take("alice", T0 + 0.75)
    assert refused.value.retry_after_s == pytest.approx(0.25)


def test_a_refill_never_exceeds_the_burst():
    buckets = TokenBuckets(rate=100.0, burst=3)
    take_all(buckets, "alice", T0)
    assert take_all(buckets, "alice", T0 + 1e9) == 3


def test_keys_are_independent():
    buckets = TokenBuckets(rate=1.0, burst=2)
    assert take_all(buckets, "alice", T0) == 2
    assert take_all(buckets, "bob", T0) == 2
    with pytest.raises(RateLimited):
        buckets.take("alice", T0)


@pytest.mark.parametrize("key", ["", " ", "alice ", "ALICE", "\x00", "\u00e9" * 1000, "x" * 100_000])
def test_a_key_unlike_another_is_another_bucket(key):
    buckets = TokenBuckets(rate=1.0, burst=1)
    buckets.take("alice", T0)
    buckets.take(key, T0)  # does not raise: a hostile key gets its own bucket, never alice's refill
    with pytest.raises(RateLimited):
        buckets.take(key, T0)


def test_check_does_not_take():
    buckets = TokenBuckets(rate=1.0, burst=3)
    for _ in range(100):
        buckets.check("alice", T0)
    assert take_all(buckets, "alice", T0) == 3


def test_check_refuses_an_empty_bucket_with_the_same_retry_after_as_take():
    buckets = TokenBuckets(rate=4.0, burst=1)
    buckets.take("alice", T0)
    with pytest.raises(RateLimited) as by_check:
        buckets.check("alice", T0)
    with pytest.raises(RateLimited) as by_take:
        buckets.take("alice", T0)
    assert by_check.value.retry_after_s == by_take.value.retry_after_s == pytest.approx(0.25)


def test_a_rate_of_zero_refuses_for_a_long_while_not_by_dividing_by_zero():
    buckets = TokenBuckets(rate=0.0, burst=1)
    buckets.take("alice", T0)
    with pytest.raises(RateLimited) as refused:
        buckets.take("alice", T0 + 1e6)
    assert refused.value.retry_after_s == 3600.0


@pytest.mark.parametrize("burst", [0, -5])
def test_a_burst_below_one_still_lets_one_through(burst):
    buckets = TokenBuckets(rate=1.0, burst=burst)
    assert take_all(buckets, "alice", T0) == 1


@pytest.mark.parametrize("method", ["take", "check"])
def test_the_number_of_keys_kept_is_bounded_under_a_flood_of_keys(method):
    buckets = TokenBuckets(rate=1.0, burst=1, keys=100)
    for i in range(20_000):
        getattr(buckets, method)(f"hostile-{i}", T0)
    assert len(buckets.buckets) == 100


def test_the_least_recently_used_key_goes_first():
    buckets = TokenBuckets(rate=1.0, burst=1, keys=3)
    buckets.take("alice", T0)
    for i in range(10):
        buckets.take("alice", T0 + i + 1)  # alice keeps being used, refilled a token a second
        buckets.take(f"other-{i}", T0 + i + 1)
    assert "alice" in buckets.buckets
    assert list(buckets.buckets) == ["other-8", "alice", "other-9"]
