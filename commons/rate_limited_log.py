"""Log lines that a remote party can trigger, at a bounded rate.

Anything a stranger can cause once, they can cause a million times: a log line per bad
input is a disk-filling attack and buries the lines that matter. :class:`RateLimitedLog`
writes at most one line per ``interval`` seconds for each kind of event, and the next
line it writes says how many were left out in between. It never attaches a traceback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class RateLimitedLog:
    """``log.warning(kind, msg, *args)``: at most one line per ``interval`` per ``kind``."""

    __slots__ = ("_clock", "_interval", "_last", "_logger", "_suppressed")

    #: Distinct kinds remembered; they are a handful of constants in practice.
    MAX_KINDS = 64

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, kind: str, msg: str, *args: object) -> bool:
        """Log ``msg % args`` unless ``kind`` was logged less than ``interval`` ago.

        Returns whether a line was written.
        """
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < self._interval:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return False
        if last is None and len(self._last) >= self.MAX_KINDS:
            self._last.clear()
            self._suppressed.clear()
        self._last[kind] = now
        skipped = self._suppressed.pop(kind, 0)
        if skipped:
            msg += " (%d more like this in the last %.0f s)"
            args = (*args, skipped, now - last if last is not None else 0.0)
        self._logger.warning(msg, *args)
        return True
