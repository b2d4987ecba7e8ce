"""The chat screen: the Textual shell around the sans-I/O models of this package.

:class:`ChatScreen` shows the message log of the buffer being shown
(:class:`~peer.tui.message_log.MessageLog`), the room's members with their verification
state, the buffer bar with unread counts, and the input line; each own message ends with
its delivery mark (``✓``, ``✓2/3``, ``…``, a red ``✗``). Two workers feed it: one reads
``client.events()``, one runs submitted lines and the dialogs' decisions one at a time
(:mod:`peer.tui.model.command_queue`, so a slow ``/join`` never reorders the messages typed
after it). After each change :meth:`ChatScreen.sync` redraws from the
:class:`~peer.tui.model.chat_model.ChatModel`.

It also opens the user's encrypted history (:mod:`peer.tui.model.chat_history`): the buffers
with the most recent conversations come back with their last messages (dimmed, marked
as history), every message shown is kept, and Ctrl+R / Ctrl+F / ``/search`` search it
(:mod:`peer.tui.search_screen`). The log keeps its place while the user reads back
(scroll lock, with a count of what arrived below), draws a read marker where the user
left a buffer, and the date whenever the day changes. Private messages and mentions ring
the bell, count in the terminal title and raise a desktop notification
(:mod:`peer.tui.alerts`), as the settings allow (:mod:`peer.user_settings`); the keys are
bound from the settings too (:mod:`peer.tui.key_bindings`). The conversation frames
(:mod:`peer.tui.model.conversation_marks`) redraw a changed message's row in place; who is
typing or has seen follows the buffer bar; typing goes out as the input line changes and
read markers as the shown buffer's new messages are drawn while the terminal has the focus
(:mod:`peer.tui.model.conversation_commands`); Alt+Up/Alt+Down select the message that
``/reply``, ``/react``, ``/edit`` and ``/unsend`` act on, and Esc leaves the selection.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from rich.style import Style
from textual.app import ComposeResult
from textual.binding import BindingsMap
from textual.containers import Horizontal
from textual.events import Resize
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, Static

from peer.client.chat_client import ChatClient
from peer.events import KeyChanged, MessageReceived
from peer.history.archive import HistoryArchive
from peer.history.file import HISTORY_FILE_NAME
from peer.tui.alerts import Alerts
from peer.tui.decisions import KeyDecisions
from peer.tui.key_bindings import key_bindings
from peer.tui.log_display import LogDisplay
from peer.tui.message_log import MessageLog
from peer.tui.model.buffers import STATUS, BufferKind, LineKind, room_buffer
from peer.tui.model.chat_history import ChatHistory, conversation_of, hit_time
from peer.tui.model.chat_model import ChatModel
from peer.tui.model.command_queue import CommandQueue
from peer.tui.model.completion import CompletionSources, sources_of
from peer.tui.model.controller import ChatController
from peer.tui.model.rendering import render_buffer_bar, render_key_banner, render_members
from peer.tui.model.screen_requests import QuitRequest, SearchRequest, SettingChanged, VerifyRequest
from peer.tui.model.status_lines import placeholder, topbar
from peer.tui.search_screen import SearchHit, SearchScreen
from peer.tui.terminal_output import TerminalOutput
from peer.tui.widgets import ChatInput, PasteDialog
from peer.user_settings import Settings

#: Below this width the members panel is hidden and messages take the whole width: at
#: 80 columns the panel left a message about 50 (the 80x24 trial felt cramped).
NARROW = 100
#: Who types, or who has seen, after the buffer bar.
CONVERSATION_STYLE = Style(italic=True, color="cyan")
#: Receipts change marks on lines already drawn; such redraws are batched this long.
MARKS_DELAY = 0.15


class ChatScreen(Screen[None]):
    """The chat itself, for a logged-in client."""

    def __init__(
        self,
        client: ChatClient,
        tracker_label: str,
        *,
        shutdown: Callable[[], Awaitable[None]],
        settings: Settings | None = None,
        home: Path | None = None,
        archive: HistoryArchive | None = None,
        terminal: TerminalOutput | None = None,
        replaced_key: bool = False,
    ) -> None:
        super().__init__()
        self.client = client
        self.tracker_label = tracker_label
        self._shutdown = shutdown
        self.settings = settings or Settings()
        self.model = ChatModel(client.username or "?", contacts=client.contacts)
        self.model.replaced_key = replaced_key
        self.archive = archive if archive is not None else self._make_archive(home)
        self.history = ChatHistory(self.model, self.archive)
        self.controller = ChatController(
            client, self.model, archive=self.archive, settings=self.settings
        )
        self.log_display = LogDisplay(self.settings, self.model.receipts.get)
        self.alerts = Alerts(self.settings, terminal)
        self._bindings = BindingsMap(key_bindings(self.settings))
        self.commands = CommandQueue(self.controller, self.sync)
        self._marks_timer: Timer | None = None
        self._typing_timer: Timer | None = None
        self.decisions = KeyDecisions(
            client,
            self.controller,
            self.model,
            push=lambda dialog, done: self.app.push_screen(dialog, done),
            decide=self.commands.decide,
            redraw=self.sync,
        )

    def _make_archive(self, home: Path | None) -> HistoryArchive | None:
        username = self.client.username
        if home is None or username is None:
            return None
        return HistoryArchive(
            home / username / HISTORY_FILE_NAME,
            self.client.history_keys,
            days=self.settings.history_days,
        )

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
            "/list shows the rooms, /join ROOM enters one, /msg USER TEXT talks privately,"
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
        if self.model.room is not None and not self.model.replaced_key:
            # A client handed over already in rooms (back in them at login): the first.
            # After a key replacement the status buffer stays shown: its warning matters.
            self.model.buffers.switch_to(room_buffer(self.model.room))
        self.sync()
        self.query_one(ChatInput).focus()
        # The terminal getting the focus back shows the buffer: its new messages are read.
        self.watch(self.app, "app_focus", lambda _focused: self.sync(), init=False)
        self.run_worker(self._pump_events(), name="events", group="chat")
        self.run_worker(self._run_lines(), name="commands", group="chat")
        if self.archive is not None:
            self.run_worker(self._open_history(), name="history", group="chat")

    # -- history -----------------------------------------------------------------------

    async def _open_history(self) -> None:
        if await self.history.open():
            self.log_display.rebuild()
        self.sync()

    async def _restore_and_sync(self) -> None:
        if await self.history.restore_new_buffers():
            self.log_display.rebuild()
        self.sync()

    # -- workers -------------------------------------------------------------------------

    async def _pump_events(self) -> None:
        async for event in self.client.events():
            self.controller.handle_event(event)
            if isinstance(event, KeyChanged):
                self.decisions.ask_about_keys(event.username)
            elif isinstance(event, MessageReceived):
                self.alerts.message(self.model, event, self.app.app_focus)
            self.sync()

    async def _run_lines(self) -> None:
        while True:
            request = await self.commands.next_request()
            if isinstance(request, QuitRequest):
                self.model.notice("leaving the room and logging out...")
                self.sync()
                await self._shutdown()
                return
            if isinstance(request, VerifyRequest):
                self.decisions.show_verify(request)
            elif isinstance(request, SearchRequest):
                self.open_search(request.query, all_buffers=request.all_buffers)
            elif isinstance(request, SettingChanged):
                self.apply_setting(request.key)

    # -- settings ------------------------------------------------------------------------

    def apply_setting(self, key: str) -> None:
        """Make a setting changed by ``/set`` take effect now."""
        settings = self.settings
        if key == "display.theme":
            self.app.theme = settings.theme
        elif key in ("display.timestamp_format", "display.nick_width"):
            self.log_display.restyle()
        elif key.startswith("notifications."):
            self.alerts.follow(settings)
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
        log = self.query_one(MessageLog)
        if not self.log_display.draw_hit(place, hit.words, hit.stored.entry.conversation, log):
            self.model.error("that message is no longer in your history")
        self.sync()

    def leave_history_view(self) -> None:
        """Back to the live buffer, at its newest line."""
        self.log_display.leave_history()
        self.sync()
        self.query_one(MessageLog).jump_to_end()

    # -- input -------------------------------------------------------------------------

    def on_chat_input_multi_line_paste(self, event: ChatInput.MultiLinePaste) -> None:
        target = self.model.buffers.current.id
        if target.kind in (BufferKind.STATUS, BufferKind.REQUESTS):
            self.model.error("paste into a room or private buffer (/query NAME opens one)")
            self.sync()
            return
        lines = event.lines

        def decided(send: bool | None) -> None:
            if send:
                self.commands.paste(target, lines)
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

    def on_input_changed(self, event: Input.Changed) -> None:
        self.controller.conversation.typed(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        line = event.value
        if line.strip():
            self.commands.submit(line)

    def on_message_log_following(self, event: MessageLog.Following) -> None:
        self.log_display.followed(event.following)
        self._show_below()

    def completion_sources(self) -> CompletionSources:
        return sources_of(self.model, [spec.key for spec, _, _ in self.settings.items()])

    # -- key actions -------------------------------------------------------------------

    def action_switch_number(self, number: int) -> None:
        if self.model.buffers.switch_index(number) is not None:
            self.log_display.show_live()
            self.sync()

    def action_switch_relative(self, step: int) -> None:
        self.model.buffers.switch_relative(step)
        self.log_display.show_live()
        self.sync()

    def action_next_unread(self) -> None:
        if self.model.buffers.next_unread() is not None:
            self.log_display.show_live()
            self.sync()

    def action_select_message(self, step: int) -> None:
        """Alt+Up / Alt+Down: the message /reply, /react, /edit and /unsend act on."""
        if self.log_display.history_view is not None:
            return
        self.model.marks.select(step)
        self.model.rebuilt.add(self.model.buffers.current.id)
        self.sync()

    def action_leave_selection(self) -> None:
        if self.model.marks.unselect():
            self.model.rebuilt.add(self.model.buffers.current.id)
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
        if self.log_display.history_view is not None:
            self.leave_history_view()
            return
        self.query_one(MessageLog).jump_to_end()
        self.log_display.below = 0
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
            self.log_display.rebuild()
        if buffer.id in self.model.redraw and self._marks_timer is None:
            # A receipt changed a drawn line's mark: redraw soon, once for many receipts.
            self._marks_timer = self.set_timer(MARKS_DELAY, self._redraw_marks)
        log = self.query_one(MessageLog)
        self.log_display.draw(buffer, log)
        self.log_display.redraw_changed(buffer, self.model.marks.replaced, log)
        self.model.marks.replaced.clear()
        self._show_below()
        self.query_one("#members", Static).update(render_members(self.model))
        bar = render_buffer_bar(self.model.buffers)
        status = self.model.marks.status(buffer.id)
        if status:
            bar.append(f"  {status}", style=CONVERSATION_STYLE)
        self.query_one("#bufferbar", Static).update(bar)
        self._expire_typing()
        if self.app.app_focus:  # read only what a user at the terminal can see
            self.controller.conversation.read_shown()
        banner = self.query_one("#banner", Static)
        changed = self.model.key_changed_users
        banner.set_class(bool(changed), "shown")
        if changed:
            banner.update(render_key_banner(changed))
        self.query_one("#topbar", Static).update(topbar(self.model, self.tracker_label))
        self.query_one(ChatInput).placeholder = placeholder(self.model)
        self.alerts.update_title(self.model)

    def _expire_typing(self) -> None:
        """Redraw when the next typing indicator stops being shown."""
        until = self.model.marks.next_expiry()
        if until is None or self._typing_timer is not None:
            return
        delay = max(0.05, until - time.time())

        def expired() -> None:
            self._typing_timer = None
            self.sync()

        self._typing_timer = self.set_timer(delay, expired)

    def _redraw_marks(self) -> None:
        self._marks_timer = None
        self.model.redraw.clear()
        self.log_display.redraw_marks(self.query_one(MessageLog))

    def _show_below(self) -> None:
        following = self.query_one(MessageLog).following
        self.log_display.draw_below(self.query_one("#below", Static), following)
