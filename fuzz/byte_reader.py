"""Structured choices from a plain byte string, the same for atheris and hypothesis.

atheris has its own ``FuzzedDataProvider``, but the suite's smoke run must not need
atheris, so targets read their input through this small equivalent: every method
consumes bytes from the front and returns a neutral value once the input is used up,
so every byte string is a valid input and a mutation changes one decision at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


class ByteReader:
    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def byte(self) -> int:
        """The next byte, or 0 once the input is used up."""
        if self._pos >= len(self._data):
            return 0
        value = self._data[self._pos]
        self._pos += 1
        return value

    def below(self, bound: int) -> int:
        """An integer in ``[0, bound)`` from one byte (two if ``bound`` > 256)."""
        if bound <= 1:
            return 0
        value = self.byte()
        if bound > 256:
            value = value << 8 | self.byte()
        return value % bound

    def choice(self, options: Sequence[T]) -> T:
        return options[self.below(len(options))]

    def take(self, count: int) -> bytes:
        chunk = self._data[self._pos : self._pos + max(0, count)]
        self._pos += len(chunk)
        return chunk

    def rest(self) -> bytes:
        return self.take(self.remaining)

    def text(self, max_chars: int) -> str:
        """Up to ``max_chars`` UTF-16 code units: any code point, lone surrogates too."""
        raw = self.take(2 * self.below(max_chars + 1))
        return raw[: len(raw) & ~1].decode("utf-16-le", "surrogatepass")


def utf16_text(data: bytes) -> str:
    """``data`` read as UTF-16 code units: every string Python can hold is reachable."""
    return data[: len(data) & ~1].decode("utf-16-le", "surrogatepass")
