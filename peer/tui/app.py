"""The full-screen chat: Textual shell around the sans-I/O models of this package.

:class:`ChatApp` shows the login screen (:mod:`peer.tui.login`), then
:class:`ChatScreen`: the message log of the buffer being shown
(:class:`~peer.tui.message_log.MessageLog`), the room's members with their verification
state, the buffer bar with unread counts, and the input line; each own message ends with
its delivery mark (``✓``, ``✓2/3``, ``…``, a red ``✗``). Two workers feed it: one reads
``client.events()``, one runs submitted lines and the dialogs' typed commands one at a
time (so a slow ``/join`` never reorders the messages typed after it). After each change
:meth:`ChatScreen.sync` redraws from the :class:`~peer.tui.chat_model.ChatModel`.

It also opens the user's encrypted history (:mod:`peer.history_archive`): the buffers
with the most recent conversations come back with their last messages (dimmed, marked
as history), every message shown is kept, and Ctrl+R / Ctrl+F / ``/search`` search it
(:mod:`peer.tui.search_screen`). The log keeps its place while the user reads back
(scroll lock, with a count of what arrived below), draws a read marker where the user
left a buffer, and the date whenever the day changes. Private messages and mentions ring
the bell, count in the terminal title and raise a desktop notification
(:mod:`peer.tui.notifications`), as the settings allow (:mod:`peer.settings`).

Ctrl+C, Ctrl+Q and ``/quit`` leave the room, log out and exit with the terminal restored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingsMap, BindingType
from textual.containers import Horizontal
from textual.events import Resize
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, Static

from peer.config import PeerConfig
from peer.events import KeyChanged, MessageReceived
from peer.history_archive import HistoryArchive
from peer.history_store import HISTORY_FILE_NAME
from peer.settings import Settings
from peer.tui.buffers import (
    STATUS,
    BufferId,
    BufferKind,
    LineKind,
    private_buffer,
    room_buffer,
)
from peer.tui.chat_history import ChatHistory, hit_time
from peer.tui.chat_model import ChatModel
from peer.tui.completion import CompletionSources
from peer.tui.controller import (
    ChatClientLike,
    ChatController,
    QuitRequest,
    Request,
    SearchRequest,
    SettingChanged,
    VerifyRequest,
    conversation_of,
    plural,
)
from peer.tui.decisions import KeyDecisions
from peer.tui.log_rows import LogRow
from peer.tui.log_view import LogView, date_label
from peer.tui.message_log import MessageLog
from peer.tui.notifications import NotificationPolicy
from peer.tui.rendering import (
    render_buffer_bar,
    render_key_banner,
    render_members,
)
from peer.tui.search_screen import SearchHit, SearchScreen
from peer.tui.status_lines import placeholder, topbar
from peer.tui.terminal_keys import read_alt_digits
from peer.tui.terminal_output import TerminalOutput
from peer.tui.widgets import ChatInput, PasteDialog

NARROW = 80
CLOSE_TIMEOUT = 5.0
#: Rows the message log may hold before it is rebuilt from the buffer's scrollback (a
#: few thousand lines): a flood of messages cannot grow the screen's memory without end.
MAX_LOG_ROWS = 10_000
#: Receipts change marks on lines already drawn; such redraws are batched this long.
MARKS_DELAY = 0.15

#: Actions bound from the ``[keys]`` settings; every one is a priority binding, so the
#: input line (which has the focus) does not keep Ctrl+X or Ctrl+F for itself.
KEY_ACTIONS: tuple[tuple[str, str], ...] = (
    ("next_buffer", "switch_relative(1)"),
    ("previous_buffer", "switch_relative(-1)"),
    ("next_unread", "next_unread"),
    ("search", "search(True)"),
    ("find", "search(False)"),
    ("scroll_up", "scroll_log(-1)"),
    ("scroll_down", "scroll_log(1)"),
    *((f"buffer_{n}", f"switch_number({n})") for n in range(1, 10)),
)


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

    def __init__(
        self,
        client: ChatClientLike,
        tracker_label: str,
        *,
        settings: Settings | None = None,
        home: Path | None = None,
        archive: HistoryArchive | None = None,
        terminal: TerminalOutput | None = None,
        replaced_key: bool = False,
    ) -> None:
        super().__init__()
        self.client = client
        self.tracker_label = tracker_label
        self.settings = settings or Settings()
        self.model = ChatModel(client.username or "?")
        self.model.replaced_key = replaced_key
        self.archive = archive if archive is not None else self._make_archive(home)
        self.history = ChatHistory(self.model, self.archive)
        self.controller = ChatController(
            client, self.model, archive=self.archive, settings=self.settings
        )
        self.view = self._log_view()
        self.policy = NotificationPolicy(
            bell=self.settings.bell,
            title=self.settings.title,
            desktop=self.settings.desktop,
            preview=self.settings.desktop_preview,
        )
        self.terminal = terminal
        self._bindings = BindingsMap(self._key_bindings())
        self._lines: asyncio.Queue[str | _Paste | _Decision] = asyncio.Queue()
        self._shown: tuple[object, int] | None = None
        self._marks_timer: Timer | None = None
        self.decisions = KeyDecisions(
            client,
            self.controller,
            self.model,
            push=lambda dialog, done: self.app.push_screen(dialog, done),
            decide=lambda run: self._lines.put_nowait(_Decision(run)),
            redraw=self.sync,
        )
        #: New lines that arrived below while the user reads further up.
        self.below = 0
        #: The conversation whose older history is shown around a search hit, if any.
        self.history_view: str | None = None

    def _log_view(self) -> LogView:
        return LogView(
            self.settings.timestamp_format, self.settings.nick_width, self.model.receipts.get
        )

    def _make_archive(self, home: Path | None) -> HistoryArchive | None:
        username = self.client.username
        history_keys = getattr(self.client, "history_keys", None)
        if home is None or username is None or history_keys is None:
            return None
        return HistoryArchive(
            home / username / HISTORY_FILE_NAME, history_keys, days=self.settings.history_days
        )

    def _key_bindings(self) -> list[BindingType]:
        bindings: list[BindingType] = [
            Binding(self.settings.keys(name), action, show=False, priority=True)
            for name, action in KEY_ACTIONS
        ]
        return bindings

    def compose(self) -> ComposeResult:
        yield Static(id="topbar")
        yield Static(id="banner")
        with Horizontal(id="main"):
            yield MessageLog(id="log")
            yield Static(id="members")
        yield Static(id="below")
        yield Static(id="bufferbar")
        yield ChatInput(self.completion_sources, id="input")

    def on_mount(self) -> None:
        self.model.notice(f"logged in as {self.model.username} on {self.tracker_label}")
        self.model.notice(
            "/rooms lists rooms, /join ROOM enters one, /msg USER TEXT talks privately,"
            " Ctrl+R searches your history, /help shows everything"
        )
        if self.settings.written and self.settings.path is not None:
            self.model.notice(
                f"wrote your settings file {self.settings.path} (every setting explained,"
                " commented out at its default: edit it to change one; /set lists them)"
            )
        if self.model.replaced_key:
            me = self.model.username
            self.model.add(
                STATUS,
                LineKind.WARNING,
                "you replaced your identity key: everyone who knew the old one now sees a key"
                " change, and sends you nothing and refuses your channels until they accept"
                f" the new key (/verify {me} or /trust {me}). Tell them, over a channel you"
                " trust, so they can compare safety numbers.",
            )
        self.controller.refresh_room()
        if self.model.room is not None:  # a client handed over already in a room
            self.model.buffers.switch_to(room_buffer(self.model.room))
        self.sync()
        self.query_one(ChatInput).focus()
        self.run_worker(self._pump_events(), name="events", group="chat")
        self.run_worker(self._run_lines(), name="commands", group="chat")
        if self.archive is not None:
            self.run_worker(self._open_history(), name="history", group="chat")

    # -- history -----------------------------------------------------------------------

    async def _open_history(self) -> None:
        if await self.history.open():
            self._shown = None
        self.sync()

    async def _restore_and_sync(self) -> None:
        if await self.history.restore_new_buffers():
            self._shown = None
        self.sync()

    # -- workers -------------------------------------------------------------------------

    async def _pump_events(self) -> None:
        async for event in self.client.events():
            self.controller.handle_event(event)
            if isinstance(event, KeyChanged):
                self.decisions.ask_about_keys(event.username)
            elif isinstance(event, MessageReceived):
                self._notify(event)
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
                self.decisions.show_verify(request)
            elif isinstance(request, SearchRequest):
                self.open_search(request.query, all_buffers=request.all_buffers)
            elif isinstance(request, SettingChanged):
                self.apply_setting(request.key)

    @property
    def chat_app(self) -> ChatApp:
        app = self.app
        assert isinstance(app, ChatApp)
        return app

    def submit(self, line: str) -> None:
        """Queue a line as if typed (the dialogs use it for /verify and /trust)."""
        self._lines.put_nowait(line)

    # -- notifications -------------------------------------------------------------------

    def _notify(self, event: MessageReceived) -> None:
        target = private_buffer(event.sender) if event.room is None else room_buffer(event.room)
        reading = self.model.buffers.current.id == target and self.app.app_focus
        signals = self.policy.on_message(
            sender=event.sender,
            room=event.room,
            text=event.text,
            own=event.sender == self.model.username,
            mention=event.room is not None and self.model.is_mention(event.text),
            reading=reading,
            now=time.monotonic(),
        )
        if self.terminal is None:
            return
        if signals.bell:
            self.terminal.bell()
        if signals.desktop is not None:
            self.terminal.notify(signals.desktop)

    def _update_title(self) -> None:
        if self.terminal is None:
            return
        if self.policy.title:
            unread = self.model.buffers.highlights
            self.terminal.set_title(self.policy.window_title(self.model.username, unread))
        else:
            self.terminal.restore_title()

    # -- settings ------------------------------------------------------------------------

    def apply_setting(self, key: str) -> None:
        """Make a setting changed by ``/set`` take effect now."""
        settings = self.settings
        if key == "display.theme":
            self.app.theme = settings.theme
        elif key in ("display.timestamp_format", "display.nick_width"):
            self.view = self._log_view()
            self._shown = None
        elif key.startswith("notifications."):
            self.policy.bell = settings.bell
            self.policy.title = settings.title
            self.policy.desktop = settings.desktop
            self.policy.preview = settings.desktop_preview
        self.sync()

    # -- search --------------------------------------------------------------------------

    def open_search(self, query: str = "", *, all_buffers: bool) -> None:
        def chosen(hit: SearchHit | None) -> None:
            if hit is not None:
                self.run_worker(self.jump_to(hit), group="chat")

        dialog = SearchScreen(
            self.history.search,
            query=query,
            current=conversation_of(self.model.buffers.current.id),
            all_buffers=all_buffers,
            time_text=lambda stored: hit_time(stored, self.settings.timestamp_format),
        )
        self.app.push_screen(dialog, chosen)

    async def jump_to(self, hit: SearchHit) -> None:
        """Show the hit in its buffer, marked; from the history file if it is older than
        the scrollback (End goes back to the live view)."""
        place = await self.history.place(hit.stored)
        buffer, line, log = place.buffer, place.line, self.query_one(MessageLog)
        self.history_view, self.below = None, 0
        if line is None:
            self.model.error("that message is no longer in your history")
        elif not place.context:
            rows, focus = self.view.rows(
                list(buffer.lines), marker=buffer.read_marker, highlight=hit.words, focus=line
            )
            log.set_rows(rows, show_row=focus)
            self._shown = (buffer.id, buffer.total)
        else:
            self.history_view = hit.stored.entry.conversation
            view = LogView(self.settings.timestamp_format, self.settings.nick_width)
            rows, focus = view.rows(place.context, highlight=hit.words, focus=line)
            label = (
                f"your history around {date_label(line.timestamp)} in"
                f" {self.history_view}: End returns to the live view"
            )
            header = LogRow.rule(label, Style(bold=True, color="cyan"))
            log.set_rows([header, *rows], show_row=None if focus is None else focus + 1)
            self._shown = (buffer.id, buffer.total)
        self.sync()

    def leave_history_view(self) -> None:
        """Back to the live buffer, at its newest line."""
        self.history_view = None
        self._shown = None
        self.below = 0
        self.sync()
        self.query_one(MessageLog).jump_to_end()

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

    def on_chat_input_jump_to_end(self, event: ChatInput.JumpToEnd) -> None:
        self.action_jump_to_end()

    def on_chat_input_too_long(self, event: ChatInput.TooLong) -> None:
        self.model.error(
            f"not sent: {event.length:,} characters, a message holds at most {event.limit:,};"
            f" cut {event.length - event.limit:,} (your text is still in the input line)"
        )
        self.sync()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        line = event.value
        if line.strip():
            self.submit(line)

    def on_message_log_following(self, event: MessageLog.Following) -> None:
        if event.following and self.history_view is None:
            self.below = 0
        self._show_below()

    def completion_sources(self) -> CompletionSources:
        model = self.model
        users = set(model.members) | set(model.verification) | model.known_users
        users |= {b.id.name for b in model.buffers if b.id.kind is BufferKind.PRIVATE}
        users.discard(model.username)
        rooms = {b.id.name for b in model.buffers if b.id.kind is BufferKind.ROOM}
        rooms |= model.known_rooms
        return CompletionSources(
            users=sorted(users),
            rooms=sorted(rooms),
            buffers=[b.id.label for b in model.buffers],
            settings=sorted(spec.key for spec, _, _ in self.settings.items()),
        )

    # -- key actions -------------------------------------------------------------------

    def action_switch_number(self, number: int) -> None:
        if self.model.buffers.switch_index(number) is not None:
            self.history_view = None
            self.sync()

    def action_switch_relative(self, step: int) -> None:
        self.model.buffers.switch_relative(step)
        self.history_view = None
        self.sync()

    def action_next_unread(self) -> None:
        if self.model.buffers.next_unread() is not None:
            self.history_view = None
            self.sync()

    def action_search(self, all_buffers: bool) -> None:
        self.open_search("", all_buffers=all_buffers)

    def action_scroll_log(self, direction: int) -> None:
        log = self.query_one(MessageLog)
        if direction < 0:
            log.scroll_page_up(animate=False)
        else:
            log.scroll_page_down(animate=False)

    def action_jump_to_end(self) -> None:
        if self.history_view is not None:
            self.leave_history_view()
            return
        self.query_one(MessageLog).jump_to_end()
        self.below = 0
        self._show_below()

    def on_resize(self, event: Resize) -> None:
        # Narrow terminals give the messages the whole width; /users still lists members.
        self.query_one("#members").display = event.size.width >= NARROW
        self.sync()

    # -- drawing -----------------------------------------------------------------------

    def sync(self) -> None:
        """Redraw everything that may have changed from the model."""
        if not self.is_mounted:
            return
        if self.model.buffers.created and self.history.enabled:
            self.run_worker(self._restore_and_sync(), group="chat")
        buffer = self.model.buffers.current
        if buffer.id in self.model.rebuilt:
            self.model.rebuilt.clear()
            self._shown = None
        if buffer.id in self.model.redraw and self._marks_timer is None:
            # A receipt changed a drawn line's mark: redraw soon, once for many receipts.
            self._marks_timer = self.set_timer(MARKS_DELAY, self._redraw_marks)
        log = self.query_one(MessageLog)
        if (
            self.history_view is None
            and log.row_count > MAX_LOG_ROWS
            and (log.following or log.row_count > 2 * MAX_LOG_ROWS)
        ):
            self._shown = None  # rebuilt below from the scrollback, which is bounded
        if self._shown is None or self._shown[0] != buffer.id:
            self.history_view = None
            rows, _ = self.view.rows(list(buffer.lines), marker=buffer.read_marker)
            log.set_rows(rows)
            self.below = 0
        else:
            new_lines = buffer.lines_since(self._shown[1])
            if new_lines:
                viewing_history = self.history_view is not None
                if viewing_history or not log.add_rows(self.view.more(new_lines)):
                    self.below += len(new_lines)
        self._shown = (buffer.id, buffer.total)
        self._show_below()
        self.query_one("#members", Static).update(render_members(self.model))
        self.query_one("#bufferbar", Static).update(render_buffer_bar(self.model.buffers))
        banner = self.query_one("#banner", Static)
        changed = self.model.key_changed_users
        banner.set_class(bool(changed), "shown")
        if changed:
            banner.update(render_key_banner(changed))
        self.query_one("#topbar", Static).update(topbar(self.model, self.tracker_label))
        self.query_one(ChatInput).placeholder = placeholder(self.model)
        self._update_title()

    def _redraw_marks(self) -> None:
        self._marks_timer = None
        self.model.redraw.clear()
        if self.history_view is None:
            self.query_one(MessageLog).replace_rows(self.view.changed_marks())

    def _show_below(self) -> None:
        below = self.query_one("#below", Static)
        following = self.query_one(MessageLog).following
        below.set_class(bool(self.below) or self.history_view is not None or not following, "shown")
        if self.history_view is not None:
            text = f"\u25bc reading your history of {self.history_view}: End returns to now"
            if self.below:
                text += f" ({plural(self.below, 'new line')} since)"
            below.update(Text(text))
        elif self.below:
            below.update(Text(f"\u25bc {plural(self.below, 'new line')} below: End shows them"))


class ChatApp(App[None]):
    """Login screen, then the chat; quitting always closes the client first."""

    CSS_PATH = "chat.tcss"
    TITLE = "p2pchat"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        client: ChatClientLike,
        *,
        tracker_label: str,
        home: Path | None = None,
        settings: Settings | None = None,
    ) -> None:
        super().__init__()
        self.client = client
        self.tracker_label = tracker_label
        self.home = home
        self.settings = settings or Settings()
        self.terminal = TerminalOutput(self)
        self.chat: ChatScreen | None = None
        self._leaving = False

    def on_mount(self) -> None:
        from peer.tui.login import LoginScreen

        self.settings.known_themes = frozenset(self.available_themes)
        if self.settings.theme in self.available_themes:
            self.theme = self.settings.theme
        if self.client.username is not None:
            self.start_chat()
            return
        login = LoginScreen(self.client, tracker_label=self.tracker_label, home=self.home)

        def logged_in(username: str | None) -> None:
            if username:
                self.start_chat(replaced_key=login.replaced_key)

        self.push_screen(login, logged_in)

    def start_chat(self, *, replaced_key: bool = False) -> None:
        self.chat = ChatScreen(
            self.client,
            self.tracker_label,
            settings=self.settings,
            home=self.home,
            terminal=self.terminal,
            replaced_key=replaced_key,
        )
        self.push_screen(self.chat)

    async def action_quit(self) -> None:
        # In a worker: the message loop keeps running (and drawing) while we log out.
        self.run_worker(self.shutdown(), group="shutdown")

    async def shutdown(self) -> None:
        """Leave the room, log out, close channels and the history, then exit; never
        hangs."""
        if self._leaving:
            return
        self._leaving = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.close(), CLOSE_TIMEOUT)
        archive = None if self.chat is None else self.chat.archive
        if archive is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(archive.close(), CLOSE_TIMEOUT)
        self.terminal.restore_title()
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


def run_tui(config: PeerConfig, settings: Settings | None = None) -> int:
    """Run the full-screen chat until the user quits; the ``p2pchat`` entry on a TTY."""
    from peer.client import ChatClient

    read_alt_digits()
    client = ChatClient(config)
    host, port = config.tracker
    label = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    app = ChatApp(client, tracker_label=label, home=config.home, settings=settings)
    with _logging_to(config.home / "p2pchat.log"):
        app.run()
    return 0
