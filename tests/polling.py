"""Waiting in tests: poll a condition until it holds, with a deadline, instead of sleeping."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
POLL_S = 0.02


def wait_for(condition: Callable[[], T], timeout_s: float, what: str) -> T:
    """Poll `condition` until it is truthy and return its value, failing the test after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        threading.Event().wait(POLL_S)
    return value


async def eventually(condition: Callable[[], T | Awaitable[T]], timeout_s: float, what: str) -> T:
    """`wait_for` inside a running event loop: `condition` may be a plain or a coroutine function."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(POLL_S)
