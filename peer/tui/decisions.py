"""The trust decisions of the chat screen: the key-changed dialog and the verify panel.

A key change opens :class:`~peer.tui.widgets.KeyChangedDialog` with every undecided key
of that contact; a newer key withdraws the open dialog and asks again with the whole
story. "Compare safety numbers" (or ``/verify``) opens
:class:`~peer.tui.widgets.VerifyDialog`. The decisions run through the controller with
the exact key the user was shown, queued behind the lines typed before them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from textual.screen import Screen

from peer.client.chat_client import ChatClient
from peer.tui.model.chat_model import ChatModel
from peer.tui.model.controller import ChatController
from peer.tui.model.screen_requests import ScreenRequest, VerifyRequest
from peer.tui.widgets import DecisionDialog, KeyChangedDialog, VerifyDialog

Decide = Callable[[Callable[[], Awaitable[ScreenRequest | None]]], None]
Push = Callable[[Screen[Any], Callable[[Any], None]], object]


class KeyDecisions:
    """Opens the dialogs about ``client``'s contacts' keys and runs what the user chose."""

    def __init__(
        self,
        client: ChatClient,
        controller: ChatController,
        model: ChatModel,
        *,
        push: Push,
        decide: Decide,
        redraw: Callable[[], None],
    ) -> None:
        self.client = client
        self.controller = controller
        self.model = model
        self._push = push
        self._decide = decide
        self._redraw = redraw
        self._open: dict[str, list[DecisionDialog[Any]]] = {}

    def _opened(self, user: str, dialog: DecisionDialog[Any]) -> None:
        self._open.setdefault(user, []).append(dialog)

    def _closed(self, user: str, dialog: DecisionDialog[Any]) -> bool:
        """Forget a dialog that closed; ``False`` if it had been withdrawn (ignore it)."""
        open_ones = self._open.get(user, [])
        if dialog in open_ones:
            open_ones.remove(dialog)
        return not dialog.withdrawn

    def ask_about_keys(self, user: str) -> None:
        """Show every undecided key of ``user`` and ask; any dialog about ``user`` still
        open is withdrawn first (its keys are no longer the whole story)."""
        for dialog in self._open.pop(user, []):
            dialog.withdraw()
        keys = self.client.pending_keys(user)
        if not keys:
            return
        shown = tuple(self.client.fingerprint(key=k) for k in keys)
        dialog = KeyChangedDialog(user, shown)

        async def verify() -> ScreenRequest:
            return self.controller.verify_request(user)

        async def trust() -> None:
            await self.controller.trust_key(user, keys[0])  # the one key this dialog showed

        async def reject() -> None:
            await self.controller.reject(user)

        def decided(choice: str | None) -> None:
            if not self._closed(user, dialog):
                return
            actions = {"verify": verify, "trust": trust, "reject": reject}
            if choice in actions:
                self._decide(actions[choice])
            else:
                self.model.notice(
                    f"sending to {user} stays blocked; /verify, /trust or /reject later"
                )
                self._redraw()

        self._opened(user, dialog)
        self._push(dialog, decided)

    def show_verify(self, request: VerifyRequest) -> None:
        user = request.username
        dialog = VerifyDialog(
            self.model.username,
            request.own_fingerprint,
            user,
            [(c.fingerprint, c.safety_number) for c in request.candidates],
            new_key=request.accept_new_key,
        )

        def decided(index: int | None) -> None:
            if not self._closed(user, dialog):
                return
            if index is None:
                self.model.notice(f"{user} not marked verified")
                self._redraw()
                return
            key = request.candidates[index].key

            async def confirm() -> None:
                if not await self.controller.confirm_verify(request, key):
                    self.ask_about_keys(user)

            self._decide(confirm)

        self._opened(user, dialog)
        self._push(dialog, decided)
