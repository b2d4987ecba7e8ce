"""The full-screen chat: Textual shell around the sans-I/O models of this package.

:class:`ChatApp` shows the login screen (:mod:`peer.tui.login`), then
:class:`ChatScreen`: the message log of the buffer being shown, the room's members with
their verification state, the buffer bar with unread counts, and the input line; each
own message ends with its delivery mark (``✓``, ``✓2/3``, ``…``, a red ``✗``). Two
workers feed it: one reads ``client.events()``, one runs submitted lines and the dialogs'
typed commands one at a time (so a slow ``/join`` never reorders the messages typed after
it). After each change :meth:`ChatScreen.sync` redraws from the
:class:`~peer.tui.chat_model.ChatModel`.

Ctrl+C, Ctrl+Q and ``/quit`` leave the room, log out and exit with the terminal restored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.events import Resize
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, RichLog, Static

from peer.config import PeerConfig
from peer.events import KeyChanged
from peer.tui.buffers import BufferId, BufferKind, room_buffer
from peer.tui.chat_model import ChatModel
from peer.tui.completion import CompletionSources
from peer.tui.controller import ChatClientLike, ChatController, QuitRequest, Request, VerifyRequest
from peer.tui.rendering import (
    ERROR_STYLE,
    TIMESTAMP_STYLE,
    nick_text,
    render_buffer_bar,
    render_key_banner,
    render_line,
    render_members,
)
from peer.tui.widgets import ChatInput, DecisionDialog, KeyChangedDialog, PasteDialog, VerifyDialog

REDRAW_LINES = 500
#: Receipts change marks on lines already drawn; such redraws are batched this long.
MARKS_DELAY = 0.15
#: Rows the message log keeps drawn (older ones scroll away): a flood of messages, each
#: already bounded by the renderer, cannot grow the screen's memory without end.
MAX_LOG_ROWS = 10_000
NARROW = 80
CLOSE_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class _Paste:
    """Confirmed pasted lines, queued behind the lines typed before them."""

    target: BufferId
    lines: list[str]


@dataclass(frozen=True, slots=True)
class _Decision:
    """A dialog's decision, queued behind the lines typed before it."""

    run: Callable[[], Awaitable[Request | None]]


class ChatScreen(Screen[None]):
    """The chat itself, for a logged-in client."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # Alt+digit where the terminal reports it as such; Textual reads the usual
        # ESC+digit as a macOS Option character (ESC 3 is "£"), so F1..F9 too.
        *(
            Binding(f"alt+{n},f{n}", f"switch_number({n})", f"Buffer {n}", show=False)
            for n in range(1, 10)
        ),
        Binding("ctrl+n", "switch_relative(1)", "Next buffer", show=False),
        Binding("ctrl+p", "switch_relative(-1)", "Previous buffer", show=False),
        Binding("alt+a", "next_unread", "Next unread", show=False),
        Binding("pageup", "scroll_log(-1)", "Scroll up", show=False),
        Binding("pagedown", "scroll_log(1)", "Scroll down", show=False),
    ]

    def __init__(self, client: ChatClientLike, tracker_label: str) -> None:
        super().__init__()
        self.client = client
        self.tracker_label = tracker_label
        self.model = ChatModel(client.username or "?")
        self.controller = ChatController(client, self.model)
        self._lines: asyncio.Queue[str | _Paste | _Decision] = asyncio.Queue()
        self._shown: tuple[object, int] | None = None
        self._marks_timer: Timer | None = None
        self._dialogs: dict[str, list[DecisionDialog[Any]]] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="topbar")
        yield Static(id="banner")
        with Horizontal(id="main"):
            yield RichLog(
                id="log",
                wrap=True,
                markup=False,
                highlight=False,
                min_width=1,
                max_lines=MAX_LOG_ROWS,
            )
            yield Static(id="members")
        yield Static(id="bufferbar")
        yield ChatInput(self.completion_sources, id="input")

    def on_mount(self) -> None:
        self.model.notice(f"logged in as {self.model.username} on {self.tracker_label}")
        self.model.notice(
            "/rooms lists rooms, /join ROOM enters one, /msg USER TEXT talks privately,"
            " /help shows everything"
        )
        self.controller.refresh_room()
        if self.model.room is not None:  # a client handed over already in a room
            self.model.buffers.switch_to(room_buffer(self.model.room))
        self.sync()
        self.query_one(ChatInput).focus()
        self.run_worker(self._pump_events(), name="events", group="chat")
        self.run_worker(self._run_lines(), name="commands", group="chat")

    # -- workers -------------------------------------------------------------------------

    async def _pump_events(self) -> None:
        async for event in self.client.events():
            self.controller.handle_event(event)
            if isinstance(event, KeyChanged):
                self._ask_about_keys(event.username)
            self.sync()

    async def _run_lines(self) -> None:
        while True:
            line = await self._lines.get()
            if isinstance(line, _Paste):
                await self.controller.send_pasted(line.target, line.lines)
                self.sync()
                continue
            if isinstance(line, _Decision):
                request = await self.controller.guarded(line.run())
            else:
                request = await self.controller.handle_line(line)
            self.sync()
            if isinstance(request, QuitRequest):
                self.model.notice("leaving the room and logging out...")
                self.sync()
                await self.chat_app.shutdown()
                return
            if isinstance(request, VerifyRequest):
                self._show_verify(request)

    @property
    def chat_app(self) -> ChatApp:
        app = self.app
        assert isinstance(app, ChatApp)
        return app

    def submit(self, line: str) -> None:
        """Queue a typed line behind what came before."""
        self._lines.put_nowait(line)

    # -- dialogs -------------------------------------------------------------------------

    def _dialog_opened(self, user: str, dialog: DecisionDialog[Any]) -> None:
        self._dialogs.setdefault(user, []).append(dialog)

    def _dialog_closed(self, user: str, dialog: DecisionDialog[Any]) -> bool:
        """Forget a dialog that closed; ``False`` if it had been withdrawn (ignore it)."""
        open_ones = self._dialogs.get(user, [])
        if dialog in open_ones:
            open_ones.remove(dialog)
        return not dialog.withdrawn

    def _decide(self, run: Callable[[], Awaitable[Request | None]]) -> None:
        self._lines.put_nowait(_Decision(run))

    def _ask_about_keys(self, user: str) -> None:
        """Show every undecided key of ``user`` and ask; any dialog about ``user`` still
        open is withdrawn first (its keys are no longer the whole story)."""
        for dialog in self._dialogs.pop(user, []):
            dialog.withdraw()
        keys = self.client.pending_keys(user)
        if not keys:
            return
        shown = tuple(self.client.fingerprint(key=k) for k in keys)
        dialog = KeyChangedDialog(user, shown)

        async def verify() -> Request:
            return self.controller.verify_request(user)

        async def trust() -> None:
            await self.controller.trust_key(user, keys[0])  # the one key this dialog showed

        async def reject() -> None:
            await self.controller.reject(user)

        def decided(choice: str | None) -> None:
            if not self._dialog_closed(user, dialog):
                return
            actions = {"verify": verify, "trust": trust, "reject": reject}
            if choice in actions:
                self._decide(actions[choice])
            else:
                self.model.notice(
                    f"sending to {user} stays blocked; /verify, /trust or /reject later"
                )
                self.sync()

        self._dialog_opened(user, dialog)
        self.app.push_screen(dialog, decided)

    def _show_verify(self, request: VerifyRequest) -> None:
        user = request.username
        dialog = VerifyDialog(
            self.model.username,
            request.own_fingerprint,
            user,
            [(c.fingerprint, c.safety_number) for c in request.candidates],
            new_key=request.accept_new_key,
        )

        def decided(index: int | None) -> None:
            if not self._dialog_closed(user, dialog):
                return
            if index is None:
                self.model.notice(f"{user} not marked verified")
                self.sync()
                return
            key = request.candidates[index].key

            async def confirm() -> None:
                if not await self.controller.confirm_verify(request, key):
                    self._ask_about_keys(user)

            self._decide(confirm)

        self._dialog_opened(user, dialog)
        self.app.push_screen(dialog, decided)

    # -- input -------------------------------------------------------------------------

    def on_chat_input_multi_line_paste(self, event: ChatInput.MultiLinePaste) -> None:
        target = self.model.buffers.current.id
        if target.kind is BufferKind.STATUS:
            self.model.error("this is the status buffer: paste into a room or private buffer")
            self.sync()
            return
        lines = event.lines

        def decided(send: bool | None) -> None:
            if send:
                self._lines.put_nowait(_Paste(target, lines))
            else:
                self.model.notice(f"paste of {len(lines)} lines not sent")
                self.sync()

        self.app.push_screen(PasteDialog(lines, target.label), decided)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        line = event.value
        if line.strip():
            self.submit(line)

    def completion_sources(self) -> CompletionSources:
        users = set(self.model.members) | set(self.model.verification)
        users |= {b.id.name for b in self.model.buffers if b.id.kind is BufferKind.PRIVATE}
        users.discard(self.model.username)
        rooms = {b.id.name for b in self.model.buffers if b.id.kind is BufferKind.ROOM}
        return CompletionSources(
            users=sorted(users),
            rooms=sorted(rooms),
            buffers=[b.id.label for b in self.model.buffers],
        )

    # -- key actions -------------------------------------------------------------------

    def action_switch_number(self, number: int) -> None:
        if self.model.buffers.switch_index(number) is not None:
            self.sync()

    def action_switch_relative(self, step: int) -> None:
        self.model.buffers.switch_relative(step)
        self.sync()

    def action_next_unread(self) -> None:
        if self.model.buffers.next_unread() is not None:
            self.sync()

    def action_scroll_log(self, direction: int) -> None:
        log = self.query_one("#log", RichLog)
        if direction < 0:
            log.scroll_page_up()
        else:
            log.scroll_page_down()

    def on_resize(self, event: Resize) -> None:
        # Narrow terminals give the messages the whole width; /users still lists members.
        self.query_one("#members").display = event.size.width >= NARROW
        self._shown = None  # re-wrap the shown buffer to the new width
        self.sync()

    # -- drawing -----------------------------------------------------------------------

    def sync(self) -> None:
        """Redraw everything that may have changed from the model."""
        if not self.is_mounted:
            return
        buffer = self.model.buffers.current
        log = self.query_one("#log", RichLog)
        if buffer.id in self.model.redraw and self._marks_timer is None:
            # A receipt changed a drawn line's mark: redraw soon, once for many receipts.
            self._marks_timer = self.set_timer(MARKS_DELAY, self._redraw_marks)
        if self._shown is None or self._shown[0] != buffer.id:
            log.clear()
            new_lines = list(buffer.lines)[-REDRAW_LINES:]
        else:
            new_lines = buffer.lines_since(self._shown[1])
        for line in new_lines:
            log.write(render_line(line, self.model.receipts.get(line.msg_id)))
        self._shown = (buffer.id, buffer.total)

        self.query_one("#members", Static).update(render_members(self.model))
        self.query_one("#bufferbar", Static).update(render_buffer_bar(self.model.buffers))
        banner = self.query_one("#banner", Static)
        changed = self.model.key_changed_users
        banner.set_class(bool(changed), "shown")
        if changed:
            banner.update(render_key_banner(changed))
        self.query_one("#topbar", Static).update(self._topbar())
        self.query_one(ChatInput).placeholder = self._placeholder()

    def _redraw_marks(self) -> None:
        self._marks_timer = None
        self.model.redraw.clear()
        self._shown = None
        self.sync()

    def _topbar(self) -> Text:
        text = Text()
        text.append("p2pchat ", style=Style(bold=True))
        text.append_text(nick_text(self.model.username, own=True))
        if self.model.room is not None:
            text.append(f"  in #{self.model.room} ({len(self.model.members)})")
        text.append(f"  tracker {self.tracker_label} ")
        if self.model.session_ended:
            text.append("\u25cb session ended", style=ERROR_STYLE)
        elif self.model.connected:
            text.append("\u25cf connected", style=Style(color="green"))
        else:
            text.append("\u25cb reconnecting", style=ERROR_STYLE)
        text.append("  end-to-end encrypted", style=TIMESTAMP_STYLE)
        return text

    def _placeholder(self) -> str:
        current = self.model.buffers.current.id
        if current.kind is BufferKind.ROOM:
            if current.name == self.model.room:
                return f"message #{current.name}  (/help for commands)"
            if current.name in self.model.deleted_rooms:
                return f"#{current.name} was deleted: /close this buffer, /rooms lists others"
            return f"you left #{current.name}: /join {current.name} to come back"
        if current.kind is BufferKind.PRIVATE:
            return f"private message to {current.name}  (end-to-end encrypted)"
        return "type /help, /rooms, /join ROOM or /msg USER TEXT"


class ChatApp(App[None]):
    """Login screen, then the chat; quitting always closes the client first."""

    CSS_PATH = "chat.tcss"
    TITLE = "p2pchat"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self, client: ChatClientLike, *, tracker_label: str, home: Path | None = None
    ) -> None:
        super().__init__()
        self.client = client
        self.tracker_label = tracker_label
        self.home = home
        self._leaving = False

    def on_mount(self) -> None:
        from peer.tui.login import LoginScreen

        if self.client.username is not None:
            self.start_chat()
            return
        login = LoginScreen(self.client, tracker_label=self.tracker_label, home=self.home)
        self.push_screen(login, self._logged_in)

    def _logged_in(self, username: str | None) -> None:
        if username:
            self.start_chat()

    def start_chat(self) -> None:
        self.push_screen(ChatScreen(self.client, self.tracker_label))

    async def action_quit(self) -> None:
        # In a worker: the message loop keeps running (and drawing) while we log out.
        self.run_worker(self.shutdown(), group="shutdown")

    async def shutdown(self) -> None:
        """Leave the room, log out, close channels, then exit; never hangs."""
        if self._leaving:
            return
        self._leaving = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.close(), CLOSE_TIMEOUT)
        self.exit()


@contextlib.contextmanager
def _logging_to(path: Path) -> Iterator[None]:
    """Send log records to ``path`` while the screen is ours: a line written to stderr
    would be drawn over the chat. The previous handlers come back afterwards."""
    root = logging.getLogger()
    saved = root.handlers[:]
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.handlers = [handler]
    try:
        yield
    finally:
        root.handlers = saved
        handler.close()


def run_tui(config: PeerConfig) -> int:
    """Run the full-screen chat until the user quits; the ``p2pchat`` entry on a TTY."""
    from peer.client import ChatClient

    client = ChatClient(config)
    host, port = config.tracker
    label = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    app = ChatApp(client, tracker_label=label, home=config.home)
    with _logging_to(config.home / "p2pchat.log"):
        app.run()
    return 0
