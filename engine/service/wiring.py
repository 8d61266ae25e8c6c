"""What the route modules are given by the app: a views connection, a way to write a record, and the
read-your-writes wait."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager

import psycopg

Db = Callable[[], AbstractContextManager[psycopg.Connection]]
Produce = Callable[[str, str, bytes], tuple[int, int]]
WaitProjected = Callable[[str, int, int], Awaitable[bool]]
