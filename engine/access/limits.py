"""Token buckets: a per-principal submission rate and a per-client and per-name rate of failed logins."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimited(Exception):
    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"retry after {retry_after_s:.1f} s")
        self.retry_after_s = retry_after_s


class TokenBuckets:
    """``rate`` tokens a second up to ``burst`` per key; ``take`` raises RateLimited when a key's bucket is empty.
    At most ``keys`` buckets are kept (the least recently used go), so hostile keys cannot grow it without end."""

    def __init__(self, rate: float, burst: int, keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = float(max(burst, 1))
        self.keys = keys
        self.buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self.lock = threading.Lock()

    def _refilled(self, key: str, now: float) -> _Bucket:
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = _Bucket(self.burst, now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
        self.buckets.move_to_end(key)
        while len(self.buckets) > self.keys:
            self.buckets.popitem(last=False)
        return bucket

    def check(self, key: str, now: float) -> None:
        """Raise RateLimited if ``key`` has nothing left, without taking."""
        with self.lock:
            bucket = self._refilled(key, now)
            if bucket.tokens < 1:
                raise RateLimited(self._wait(bucket))

    def take(self, key: str, now: float) -> None:
        with self.lock:
            bucket = self._refilled(key, now)
            if bucket.tokens < 1:
                raise RateLimited(self._wait(bucket))
            bucket.tokens -= 1

    def _wait(self, bucket: _Bucket) -> float:
        return (1 - bucket.tokens) / self.rate if self.rate > 0 else 3600.0
