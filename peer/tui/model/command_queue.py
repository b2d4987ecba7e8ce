"""What the user sends from the chat screen, run one at a time in the order it was made.

Typed lines, confirmed pastes and the decisions taken in dialogs (trust, verify) wait in
one queue that a single worker drains: a slow ``/join`` never reorders the messages
typed after it, and a decision runs behind the lines typed before it. No Textual here:
the screen's worker awaits :meth:`CommandQueue.next_request` and acts on what comes back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from peer.tui.model.buffers import BufferId
from peer.tui.model.controller import ChatController
from peer.tui.model.screen_requests import ScreenRequest


@dataclass(frozen=True, slots=True)
class _Paste:
    """Confirmed pasted lines, queued behind the lines typed before them."""

    target: BufferId
    lines: list[str]


@dataclass(frozen=True, slots=True)
class _Decision:
    """A dialog's decision, queued behind the lines typed before it."""

    run: Callable[[], Awaitable[ScreenRequest | None]]


class CommandQueue:
    """Runs queued work through ``controller``, calling ``redraw`` after each piece."""

    def __init__(self, controller: ChatController, redraw: Callable[[], None]) -> None:
        self._controller = controller
        self._redraw = redraw
        self._items: asyncio.Queue[str | _Paste | _Decision] = asyncio.Queue()

    def submit(self, line: str) -> None:
        """Queue a line as if typed."""
        self._items.put_nowait(line)

    def paste(self, target: BufferId, lines: list[str]) -> None:
        """Queue confirmed pasted ``lines``, sent as text to ``target``."""
        self._items.put_nowait(_Paste(target, lines))

    def decide(self, run: Callable[[], Awaitable[ScreenRequest | None]]) -> None:
        """Queue a dialog's decision."""
        self._items.put_nowait(_Decision(run))

    async def next_request(self) -> ScreenRequest:
        """Run what is queued, in order, until something asks for the screen."""
        controller = self._controller
        while True:
            item = await self._items.get()
            if isinstance(item, _Paste):
                await controller.send_pasted(item.target, item.lines)
                self._redraw()
                continue
            if isinstance(item, _Decision):
                request = await controller.guarded(item.run())
            else:
                request = await controller.handle_line(item)
            self._redraw()
            if request is not None:
                return request
