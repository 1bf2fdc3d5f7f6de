"""Waiting for something that happens in another process: a server becoming ready, an MLflow
run appearing, a load balancer noticing a dead replica."""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll_until(
    check: Callable[[], T],
    timeout: float,
    what: str,
    *,
    interval: float = 0.5,
    ignoring: tuple[type[Exception], ...] = (),
) -> T:
    """Call `check` every `interval` seconds until it returns something truthy, and return
    that. An exception of a type in `ignoring` counts as "not yet" (a server still starting, a
    store busy being written); any other one, raised by `check` to give up early (its server
    died), goes through. After `timeout` seconds, a TimeoutError names `what` was awaited."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            if result := check():
                return result
        except ignoring as error:
            last_error = error
        if time.monotonic() >= deadline:
            cause = f" (last error: {last_error!r})" if last_error else ""
            raise TimeoutError(f"gave up waiting for {what} after {timeout} s{cause}")
        time.sleep(interval)
