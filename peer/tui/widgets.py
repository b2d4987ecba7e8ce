"""Small Textual widgets and dialogs of the chat screen.

:class:`ChatInput` is the input line: Tab completes, Up/Down walk the history (both
sans-I/O models from this package), the zero-width joiner and tags of an emoji are
kept as typed, and a paste of several lines is handed to the
screen, which asks with :class:`PasteDialog` before sending one message per line.
:class:`KeyChangedDialog` is the warning that cannot be missed when a contact's
identity key changes; :class:`VerifyDialog` shows both fingerprints side by side with
the safety number to read out to the contact. Both are :class:`DecisionDialog` dialogs: when
the keys in question change while one is open, the screen withdraws it, so a decision
is never taken on a screen that no longer shows every key in question. Every dialog is a
:class:`ButtonDialog`: it opens on its safe default and the arrow keys move between its
buttons.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, TypeVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from commons.untrusted_text import EMOJI_INVISIBLES
from peer.core.frames import MAX_TEXT_CHARS
from peer.tui.model.completion import CompletionSources, TabCompleter
from peer.tui.model.input_history import InputHistory
from peer.tui.model.rendering import nick_text, sanitize

_Result = TypeVar("_Result")


def group_fingerprint(fingerprint: str, per_line: int = 4) -> str:
    """Break a long fingerprint into short lines of groups so it can be read aloud."""
    groups = fingerprint.replace(":", " ").split()
    if len(groups) <= 1:
        chunk = 4
        groups = [fingerprint[i : i + chunk] for i in range(0, len(fingerprint), chunk)]
    lines = [" ".join(groups[i : i + per_line]) for i in range(0, len(groups), per_line)]
    return "\n".join(lines)


def message_text(line: str) -> str:
    """The part of an input line that would go out as message text (for the length
    check): the whole line, the text of ``/msg USER TEXT``, nothing for other commands."""
    if line.startswith("//"):
        return line[1:]
    if not line.startswith("/"):
        return line
    word, _, rest = line.partition(" ")
    if word.lower() == "/msg":
        return rest.lstrip().partition(" ")[2]
    return ""


class ChatInput(Input):
    """The input line. Incoming messages are drawn elsewhere, so typing is never garbled."""

    class MultiLinePaste(Message):
        """A paste of several lines, which a one-line field would cut to its first."""

        def __init__(self, lines: list[str]) -> None:
            super().__init__()
            self.lines = lines

    class JumpToEnd(Message):
        """End with the cursor already at the end of the line: show the newest messages."""

    class TooLong(Message):
        """The line's message is over the limit; it stays in the field to be cut."""

        def __init__(self, length: int, limit: int) -> None:
            super().__init__()
            self.length = length
            self.limit = limit

    def __init__(self, sources: Callable[[], CompletionSources], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.history = InputHistory()
        self.completer = TabCompleter()
        self._sources = sources

    def _show(self, text: str | None) -> None:
        if text is not None:
            self.value = text
            self.cursor_position = len(text)

    async def _on_key(self, event: events.Key) -> None:
        """Enter, Tab, Up and Down are handled here, in key order with the typed text.

        As bindings they would run only when the key bubbles back to the app, after
        the field had already taken the keys typed next: a fast typist's (or a paste's)
        next line would be glued to this one, or erased when the field is cleared.
        """
        action = self._KEYS.get(event.key)
        if action is None and event.character in EMOJI_INVISIBLES:
            event.stop()
            event.prevent_default()
            self.replace(event.character, *self.selection)
            return
        if action is None:
            await super()._on_key(event)
            return
        event.stop()
        event.prevent_default()
        action(self)

    def check_consume_key(self, key: str, character: str | None) -> bool:
        """The keys ``Input`` takes (printable ones), and the invisible characters an
        emoji is made of (:data:`~commons.untrusted_text.EMOJI_INVISIBLES`: the joiner in
        ``👩‍💻``, a flag's tags): ``Input`` drops every character that is not printable,
        which split such emoji in two when sent."""
        return character in EMOJI_INVISIBLES or super().check_consume_key(key, character)

    def _on_paste(self, event: events.Paste) -> None:
        """One line falls through to ``Input``'s handler (Textual calls each class's in
        turn); several are handed to the screen instead of being cut to the first."""
        lines = [line for line in event.text.splitlines() if line.strip()]
        if len(lines) > 1:
            event.prevent_default()
            event.stop()
            self.post_message(self.MultiLinePaste(lines))
        elif lines:
            event.text = lines[0]  # Input keeps the first line, which may be blank

    def submit_line(self) -> None:
        """Hand the line over and empty the field at once; a message over the length
        limit is not sent and stays in the field, to be shortened."""
        line = self.value
        length = len(message_text(line))
        if length > MAX_TEXT_CHARS:
            self.post_message(self.TooLong(length, MAX_TEXT_CHARS))
            return
        self.value = ""
        self.history.add(line)
        self.post_message(self.Submitted(self, line, None))

    def end_or_jump(self) -> None:
        """End: to the end of the line, or, if the cursor is there, to the newest messages."""
        if self.cursor_position >= len(self.value):
            self.post_message(self.JumpToEnd())
        else:
            self.cursor_position = len(self.value)

    def action_complete(self) -> None:
        result = self.completer.complete(self.value, self.cursor_position, self._sources())
        if result is not None:
            self.value, self.cursor_position = result

    def action_history_previous(self) -> None:
        self._show(self.history.previous(self.value))

    def action_history_next(self) -> None:
        self._show(self.history.next())

    _KEYS: ClassVar[dict[str, Callable[[ChatInput], None]]] = {
        "enter": submit_line,
        "tab": action_complete,
        "up": action_history_previous,
        "down": action_history_next,
        "end": end_or_jump,
    }


class ButtonDialog(ModalScreen[_Result]):
    """A dialog answered with one of its buttons (in ``#dialog-buttons``).

    Each opens with its safe default focused (one that decides nothing, or cancels), so a
    stray Enter never takes a decision; the arrow keys move between the buttons as
    Tab and Shift+Tab do, skipping disabled ones, and wrap around.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right,down", "move_focus(1)", "Next button", show=False),
        Binding("left,up", "move_focus(-1)", "Previous button", show=False),
    ]

    def action_move_focus(self, step: int) -> None:
        buttons = self.query("#dialog-buttons Button").results(Button)
        enabled = [button for button in buttons if not button.disabled]
        if not enabled:
            return
        focused = self.focused
        if isinstance(focused, Button) and focused in enabled:
            self.set_focus(enabled[(enabled.index(focused) + step) % len(enabled)])
        else:
            self.set_focus(enabled[0 if step > 0 else -1])


class DecisionDialog(ButtonDialog[_Result]):
    """A dialog whose buttons decide about a contact's keys (class ``decision``).

    :meth:`withdraw` voids it when the keys in question change while it is open: its
    decision buttons are disabled at once, and it closes (with ``None``) if it is the
    screen shown; one under another dialog stays inert until the user closes it.
    """

    withdrawn = False

    def withdraw(self) -> None:
        self.withdrawn = True
        for button in self.query(".decision").results(Button):
            button.disabled = True
        if self.is_current:
            self.dismiss(None)


class KeyChangedDialog(DecisionDialog[str]):
    """Modal warning; dismisses with ``"verify"``, ``"trust"``, ``"reject"`` or ``"later"``.

    ``fingerprints``: every new key waiting for a decision. "Accept new key" is offered
    only when there is exactly one: with several, the user must say which one they
    compared (``"verify"``).
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "later", "Decide later", show=False)]

    def __init__(self, username: str, fingerprints: tuple[str, ...]) -> None:
        super().__init__()
        self.username = username
        self.fingerprints = fingerprints

    def compose(self) -> ComposeResult:
        name = sanitize(self.username)
        count = len(self.fingerprints)
        body = Text()
        body.append("The identity key of ")
        body.append_text(nick_text(self.username))
        body.append(" has CHANGED.\n\n", style="bold")
        body.append(
            f"Either {name} set up p2pchat again (new device, lost key file), or someone is "
            f"pretending to be {name}. Until you decide, nothing you type is sent to "
            f"{name}, privately or in a room.\n\n"
        )
        if count > 1:
            body.append(
                f"{count} different new keys have arrived and none is decided. At most one "
                f"can be {name}'s: compare safety numbers to find it.\n\n",
                style="bold red",
            )
        body.append("New key fingerprint" + ("s" if count > 1 else "") + ":\n")
        for fingerprint in self.fingerprints:
            body.append(group_fingerprint(fingerprint, per_line=8) + "\n", style="bold")
        with Vertical(id="dialog", classes="danger"):
            yield Static("\u26a0  Identity key changed", id="dialog-title")
            yield Static(body, id="dialog-body")
            with Horizontal(id="dialog-buttons"):
                yield Button(
                    "Compare safety numbers", id="verify", variant="primary", classes="decision"
                )
                if count == 1:
                    yield Button("Accept new key", id="trust", variant="error", classes="decision")
                yield Button("Keep old key", id="reject", classes="decision")
                yield Button("Decide later", id="later")

    def on_mount(self) -> None:
        self.query_one("#verify", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "later")

    def action_later(self) -> None:
        self.dismiss("later")


class PasteDialog(ButtonDialog[bool]):
    """Asks before a multi-line paste goes out as one message per line; True to send."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "cancel", "Cancel", show=False),
        Binding("y", "send", "Send", show=False),
    ]
    PREVIEW_LINES = 5
    PREVIEW_WIDTH = 72

    def __init__(self, lines: list[str], target: str) -> None:
        super().__init__()
        self.lines = lines
        self.target = target

    def compose(self) -> ComposeResult:
        count = len(self.lines)
        body = Text(f"Send these {count} lines to {sanitize(self.target)}, one message each?\n\n")
        for line in self.lines[: self.PREVIEW_LINES]:
            shown = (
                line if len(line) <= self.PREVIEW_WIDTH else line[: self.PREVIEW_WIDTH] + "\u2026"
            )
            body.append(f"  {sanitize(shown)}\n", style="dim")
        if count > self.PREVIEW_LINES:
            body.append(f"  ... and {count - self.PREVIEW_LINES} more\n", style="dim")
        body.append("\nLines are sent as text, never run as commands.")
        with Vertical(id="dialog"):
            yield Static(f"Paste of {count} lines", id="dialog-title")
            yield Static(body, id="dialog-body")
            with Horizontal(id="dialog-buttons"):
                yield Button(f"Send {count} messages (y)", id="send", variant="primary")
                yield Button("Cancel (n)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "send")

    def action_send(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class VerifyDialog(DecisionDialog[int]):
    """Fingerprints and safety numbers side by side; dismisses with the index of the
    key the user confirmed (``None``: cancelled).

    ``candidates``: ``(fingerprint, safety number)`` of each key on screen. With one,
    the usual side-by-side view and one confirm button; with several (more than one new
    key arrived undecided), one row and one "this one matches" button per key.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", show=False)]

    def __init__(
        self,
        own_name: str,
        own_fp: str,
        username: str,
        candidates: list[tuple[str, str]],
        *,
        new_key: bool = False,
    ) -> None:
        super().__init__()
        self.new_key = new_key
        self.own_name = own_name
        self.own_fp = own_fp
        self.username = username
        self.candidates = candidates

    def compose(self) -> ComposeResult:
        name = sanitize(self.username)
        several = len(self.candidates) > 1
        with Vertical(id="dialog"):
            yield Static(f"Verify {name}", id="dialog-title")
            with Horizontal(id="fingerprints"):
                left = nick_text(self.own_name, own=True)
                left.append(" (you)\n\n")
                left.append(group_fingerprint(self.own_fp))
                yield Static(left, classes="fingerprint")
                for index, (their_fp, _number) in enumerate(self.candidates):
                    right = nick_text(self.username)
                    right.append(f" (key {index + 1})\n\n" if several else "\n\n")
                    right.append(group_fingerprint(their_fp))
                    yield Static(right, classes="fingerprint")
            number = Text()
            for index, (_fp, safety_number) in enumerate(self.candidates):
                label = f"Safety number with key {index + 1}" if several else "Safety number"
                number.append(f"{label} (the same on both sides):\n", style="dim")
                number.append(group_fingerprint(safety_number, per_line=6) + "\n", style="bold")
            if self.new_key:
                warning = f"{name}'s key CHANGED: these are for the NEW key"
                warning += "s; at most one can match." if several else "."
                number.append(warning, style="bold red")
            advice = (
                f"Read the safety number to {name} over a channel you trust (in person, "
                "a call). Confirm only if it is identical on their screen."
            )
            yield Static(number, id="safety-number")
            yield Static(advice, id="dialog-body")
            with Horizontal(id="dialog-buttons"):
                for index in range(len(self.candidates)):
                    if several:
                        label = f"Key {index + 1} matches"
                    else:
                        label = (
                            "They match: accept and verify"
                            if self.new_key
                            else "They match: verify"
                        )
                    yield Button(
                        label, id=f"confirm-{index}", variant="success", classes="decision"
                    )
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        button = event.button.id or ""
        self.dismiss(
            int(button.removeprefix("confirm-")) if button.startswith("confirm-") else None
        )

    def action_cancel(self) -> None:
        self.dismiss(None)
