"""First screen: create an account or log in, then hand the logged-in client to the chat.

The password fields never echo (``Input(password=True)``) and are emptied as soon as the
client has them. Creating an account generates the identity key (X25519, sealed with
the password by Argon2id in the client's executor) and shows its fingerprint, so the
user can tell contacts what to compare with ``/verify``. A first run (no key file in
the home folder) opens on "create account"; otherwise on "log in", with the name filled
in when there is a single local account.

The tracker is contacted as soon as the screen opens, so a tracker that cannot be
reached is reported in words before anyone types a password (and tried again every
:data:`RETRY_INTERVAL` seconds), and the fingerprint of a tracker certificate pinned on
first use is shown on the card. Enter and Tab move between fields in key order, so a
password manager's auto-type (name, Tab, password, Tab, password, Enter, all in one
burst) fills each field with its own part, on every form: the Tab order comes from the
mode (not from the last layout, which lags behind Ctrl+T in a burst), the form is read
only once every earlier key reached its field (:meth:`LoginScreen._submit`), and a
name typed into the password field, where logging in with the name filled in starts,
is recognised at the Tab (:meth:`LoginScreen.action_next_field`).

An account the tracker still holds in the login scheme of older versions is refused
(``legacy_login_refused``) with a button that logs in once more, allowing the old
password digest to go (:mod:`peer.session.login_memory` still refuses it for an account this
home has seen use the new scheme there: ``login_downgrade``, with no button).

The screen dismisses with the username once the client is logged in;
:attr:`LoginScreen.replaced_key` tells whether the identity key was replaced.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Input, LoadingIndicator, Static

from commons.errors import ErrorCode, P2PChatError
from commons.models import validate_username
from crypto.keystore import KEY_FILE_NAME, key_file_path
from peer.client.chat_client import ChatClient
from peer.errors import describe_connect_error
from peer.tui.widgets import group_fingerprint

RETRY_INTERVAL = 5.0

LOGIN_CSS = """
LoginScreen { align: center middle; }
#login-box { width: 64; max-width: 100%; height: auto; max-height: 100%;
             border: round $primary; padding: 1 2; }
#form { height: auto; }
#tracker-status { color: $text-muted; height: auto; padding-bottom: 1; }
#tracker-status.error { color: $error; }
#login-title { text-style: bold; content-align: center middle; width: 100%; }
#login-subtitle { color: $text-muted; content-align: center middle; width: 100%;
                  padding-bottom: 1; }
#mode-title { text-style: bold; padding-bottom: 1; }
#login-buttons { height: auto; }
#login-buttons Button { margin-right: 2; }
#busy { height: 1; display: none; }
#busy.shown { display: block; }
#status { padding-top: 1; height: auto; }
#status.error { color: $error; }
#replace-key, #legacy-login { display: none; margin-top: 1; }
#replace-key.shown, #legacy-login.shown { display: block; }
#done { display: none; height: auto; }
#done.shown { display: block; }
#fingerprint { text-style: bold; padding: 1 0; }
"""


def local_accounts(home: Path | None) -> list[str]:
    """Usernames that have an identity key file in ``home``, sorted."""
    if home is None or not home.is_dir():
        return []
    return sorted(p.parent.name for p in home.glob(f"*/{KEY_FILE_NAME}") if p.is_file())


class PasswordInput(Input):
    """The password field; knows the text typed into it since the screen focused it.

    ``typed`` is kept as the app hands each key over (:meth:`_forward_event`), before the
    field has applied the keys queued to it, which is what a Tab handled as the key
    arrives must know (see :meth:`LoginScreen.action_next_field`). ``None`` once a key
    other than a character was typed: then nothing is inferred from it.
    """

    typed: str | None = ""

    def _forward_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and self.typed is not None:
            character = event.character if event.is_printable else None
            self.typed = None if character is None else self.typed + character
        super()._forward_event(event)


class LoginScreen(Screen[str]):
    """Register or log in; dismisses with the username once logged in."""

    DEFAULT_CSS = LOGIN_CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+t", "toggle_mode", "Switch between log in and create account", priority=True),
        Binding("enter", "enter", "Next field or submit", show=False, priority=True),
        Binding("tab", "next_field(1)", "Next field", show=False, priority=True),
        Binding("shift+tab", "next_field(-1)", "Previous field", show=False, priority=True),
    ]

    def __init__(self, client: ChatClient, *, tracker_label: str, home: Path | None) -> None:
        super().__init__()
        self.client = client
        self.tracker_label = tracker_label
        self.home = home
        self.accounts = local_accounts(home)
        self.registering = not self.accounts
        self.replaced_key = False
        self._username = ""
        #: The name this screen filled in itself (emptied again for a new account).
        self._prefilled = ""
        self._connecting: asyncio.Task[None] | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="login-box"):
            yield Static("p2pchat", id="login-title")
            yield Static(
                f"end-to-end encrypted chat  \u00b7  tracker {self.tracker_label}",
                id="login-subtitle",
            )
            yield Static(id="tracker-status")
            with Vertical(id="form"):
                yield Static(id="mode-title")
                yield Input(placeholder="username (letters, digits, _ . -)", id="username")
                yield PasswordInput(placeholder="password", password=True, id="password")
                yield Input(placeholder="repeat the password", password=True, id="confirm")
                with Horizontal(id="login-buttons"):
                    yield Button("Log in", id="submit", variant="primary")
                    yield Button("Create an account instead", id="toggle")
                yield Button("Replace my key on the tracker", id="replace-key", variant="warning")
                yield Button(
                    "Upgrade my old account (sends the old digest once)",
                    id="legacy-login",
                    variant="warning",
                )
            with Vertical(id="done"):
                yield Static("Your identity key is ready.", id="done-title")
                yield Static(id="fingerprint")
                yield Static(
                    "This is your key's fingerprint. Your contacts can compare it (or the "
                    "safety number /verify shows them) with what you read them over a "
                    "channel you trust.",
                )
                yield Button("Start chatting", id="continue", variant="primary")
            yield LoadingIndicator(id="busy")
            yield Static(id="status")

    def on_mount(self) -> None:
        self._apply_mode()
        self._focus_first_field()
        self.run_worker(self._reach_tracker(), group="tracker")

    def _focus_first_field(self) -> None:
        """Where typing starts: the password when logging in with the name filled in
        (the one local account's), else the name.

        Creating an account starts on an empty name (the local account's is not the new
        one); logging in fills the name in when it is empty and there is one account.
        ``set_focus``, not ``focus()``: the keys already queued go to the new field.
        """
        username = self.query_one("#username", Input)
        if self.registering:
            if username.value == self._prefilled:
                username.value = ""
            self._prefilled = ""
        elif not username.value.strip() and len(self.accounts) == 1:
            username.value = self._prefilled = self.accounts[0]
        if username.value.strip() and not self.registering:
            self._focus(self.query_one("#password", Input))
        else:
            self._focus(username)

    # -- the tracker, before anything is typed ------------------------------------------

    def _connect(self) -> asyncio.Task[None]:
        """One connection attempt at a time, shared by the probe and a submit."""
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.get_running_loop().create_task(self.client.connect())
        return self._connecting

    async def _reach_tracker(self) -> None:
        """Connect now; on failure say why in words and try again every few seconds."""
        while not self.client.tracker_connected:
            self._set_tracker_status(f"connecting to the tracker at {self.tracker_label}...")
            try:
                await asyncio.shield(self._connect())
            except P2PChatError as exc:
                self._set_tracker_status(
                    f"{exc.message}. Trying again every {RETRY_INTERVAL:g} s.", error=True
                )
                await asyncio.sleep(RETRY_INTERVAL)
                continue
            break
        self._show_tracker()

    def _show_tracker(self) -> None:
        fingerprint = self.client.tracker_fingerprint
        text = f"tracker {self.tracker_label} reachable"
        if self.client.tracker_pinned_now and fingerprint:
            pairs = fingerprint.split(":")
            lines = [":".join(pairs[i : i + 16]) for i in range(0, len(pairs), 16)]
            text = (
                "First connection to this tracker: its certificate is now pinned (another"
                " one later is refused). Its SHA-256 fingerprint, to compare with the"
                " operator's:\n" + "\n".join(lines)
            )
        self._set_tracker_status(text)

    def _set_tracker_status(self, message: str, *, error: bool = False) -> None:
        status = self.query_one("#tracker-status", Static)
        status.set_class(error, "error")
        status.update(Text(message))

    # -- mode -----------------------------------------------------------------------

    def _apply_mode(self) -> None:
        title = "Create your account" if self.registering else "Log in"
        if self.registering and not self.accounts:
            title = "Welcome! Create your account"
        self.query_one("#mode-title", Static).update(title)
        self.query_one("#confirm", Input).display = self.registering
        submit = self.query_one("#submit", Button)
        submit.label = "Create account" if self.registering else "Log in"
        toggle = self.query_one("#toggle", Button)
        toggle.label = "I have an account" if self.registering else "Create an account instead"
        for button in (submit, toggle):
            button.refresh(layout=True)  # a new label is another width
        self._set_status("")

    def action_toggle_mode(self) -> None:
        self.registering = not self.registering
        self.query_one("#replace-key").set_class(False, "shown")
        self.query_one("#legacy-login").set_class(False, "shown")
        self.query_one("#confirm", Input).value = ""
        self._apply_mode()
        self._focus_first_field()

    # -- input ------------------------------------------------------------------------

    @on(Button.Pressed, "#toggle")
    def _toggle(self) -> None:
        self.action_toggle_mode()

    @on(Button.Pressed, "#submit")
    def _submit_button(self) -> None:
        self._submit(replace_key=False)

    @on(Button.Pressed, "#replace-key")
    def _replace_key(self) -> None:
        self._submit(replace_key=True)

    @on(Button.Pressed, "#legacy-login")
    def _legacy_login(self) -> None:
        self._submit(replace_key=False, allow_legacy=True)

    @on(Button.Pressed, "#continue")
    def _continue(self) -> None:
        self.dismiss(self._username)

    def _fields(self) -> list[Widget]:
        """The fields Tab visits, in order, from the mode and the buttons offered.

        Decided from the screen's state, not from what was last drawn: right after
        Ctrl+T or a refusal, the keys of a burst arrive before the next layout, and a
        field that is not drawn yet must still be next.
        """
        if self.query_one("#done").has_class("shown"):
            return [self.query_one("#continue", Button)]
        ids = ["#username", "#password", *(["#confirm"] if self.registering else [])]
        ids += ["#submit", "#toggle"]
        ids += [
            i for i in ("#replace-key", "#legacy-login") if self.query_one(i).has_class("shown")
        ]
        return [w for w in map(self.query_one, ids) if not w.disabled]

    def action_next_field(self, step: int) -> None:
        """Tab and Shift+Tab, in key order (see :meth:`action_enter`).

        Logging in with the name filled in starts in the password field (and a refusal
        puts the focus back there), so a password manager's auto-type (name, Tab,
        password, Enter) types the name there first. A Tab from that field when it holds
        exactly the name shown is taken as that: the field is emptied and keeps the focus
        for the password that follows. Anything else in it is never moved anywhere
        visible. (A password equal to the name is refused by no one here, but whoever has
        one types it and presses Enter, not Tab.)
        """
        fields = self._fields()
        if not fields:
            return
        focused = self.focused
        name = self.query_one("#username", Input).value.strip()
        if step == 1 and isinstance(focused, PasswordInput) and name and focused.typed == name:
            # In key order: after the name's keys, before the password's that follow.
            focused.call_later(self._drop_name, focused, name)
            focused.typed = ""
            return
        index = fields.index(focused) if focused in fields else -1
        self._focus(fields[(index + step) % len(fields)])

    @staticmethod
    def _drop_name(field: Input, name: str) -> None:
        if field.value == name:
            field.value = ""

    def _focus(self, widget: Widget) -> None:
        """Focus ``widget`` now: the keys not yet dispatched go to it.

        ``set_focus``, not ``focus()`` (deferred until after the queued keys); the
        password field starts counting what is typed into it afresh.
        """
        if isinstance(widget, PasswordInput):
            widget.typed = ""
        self.set_focus(widget)

    def action_enter(self) -> None:
        """Enter moves to the next field, or submits from the last one.

        A priority binding, so it runs while the app dispatches the key: the keys typed
        right after Enter (a fast typist, a paste) already go to the next field. As an
        ``Input.Submitted`` handler it would run later, and the start of a password
        could land, visible, in the username field.
        """
        focused = self.focused
        if isinstance(focused, Button):
            focused.press()
        elif focused is not None and focused.id == "username":
            # set_focus, not focus(): focus() is deferred until after the queued keys.
            self._focus(self.query_one("#password", Input))
        elif focused is not None and focused.id == "password" and self.registering:
            self._focus(self.query_one("#confirm", Input))
        elif isinstance(focused, Input):
            self._submit(replace_key=False)

    def _submit(self, *, replace_key: bool, allow_legacy: bool = False) -> None:
        """Submit once every key typed before now has reached its field.

        Each field applies its keys from its own queue, and the queues of different
        fields run in no set order: a burst's Enter can be handled while the name's keys
        still wait. So a callback goes through each field's queue in turn (behind the
        keys already queued there) and the form is read only at the end.
        """
        fields = [self.query_one(i, Input) for i in ("#username", "#password", "#confirm")]

        def through(index: int) -> None:
            if index < len(fields):
                fields[index].call_later(through, index + 1)
            else:
                self._submit_now(replace_key=replace_key, allow_legacy=allow_legacy)

        through(0)

    def _submit_now(self, *, replace_key: bool, allow_legacy: bool) -> None:
        username = self.query_one("#username", Input).value.strip()
        password = self.query_one("#password", Input).value
        try:
            validate_username(username)
        except P2PChatError:
            self._set_status("a username is 1-32 letters, digits, '_', '.' or '-'", error=True)
            self._focus(self.query_one("#username", Input))
            return
        if not password:
            self._set_status("type your password", error=True)
            self._focus(self.query_one("#password", Input))
            return
        if self.registering and password != self.query_one("#confirm", Input).value:
            # Both typed again, from the first: what a person or a password manager does.
            self._set_status("the two passwords differ: type both again", error=True)
            self._clear_passwords()
            self._focus(self.query_one("#password", Input))
            return
        self._busy(True)
        work = self._authenticate(username, password, replace_key, allow_legacy)
        self.run_worker(work, exclusive=True)

    # -- work -------------------------------------------------------------------------

    async def _authenticate(
        self, username: str, password: str, replace_key: bool, allow_legacy: bool
    ) -> None:
        client = self.client
        try:
            if not client.tracker_connected:
                self._set_status(f"connecting to the tracker at {self.tracker_label}...")
                await asyncio.shield(self._connect())
                self._show_tracker()
            created = False
            if self.registering:
                created = self.home is None or not key_file_path(self.home, username).exists()
                self._set_status(
                    "generating your identity key and sealing it with your password..."
                    if created
                    else "unlocking your identity key..."
                )
                await client.register(username, password)
            else:
                self._set_status("unlocking your identity key and logging in...")
            await client.login(
                username, password, replace_key=replace_key, allow_legacy_login=allow_legacy
            )
        except P2PChatError as exc:
            self._failed(exc)
            return
        except OSError as exc:
            self._busy(False)
            self._focus(self.query_one("#password", Input))
            self._set_status(
                f"cannot reach the tracker at {self.tracker_label}: {describe_connect_error(exc)}",
                error=True,
            )
            return
        self._clear_passwords()
        self._username = username
        self.replaced_key = replace_key
        if created:
            self._show_fingerprint()
        else:
            self.dismiss(username)

    def _failed(self, exc: P2PChatError) -> None:
        self._busy(False)
        code = exc.code
        # The fields were disabled while busy, which took the focus away: give it back so
        # Enter retries (the password is kept unless it was the wrong one). A taken name
        # is the name's fault: the name field, its text selected so typing replaces it.
        field = "#username" if code == ErrorCode.USER_EXISTS else "#password"
        self._focus(self.query_one(field, Input))
        replace = self.query_one("#replace-key")
        replace.set_class(code == ErrorCode.KEY_MISMATCH, "shown")
        legacy = code == ErrorCode.LEGACY_LOGIN_REFUSED and not self.registering
        self.query_one("#legacy-login").set_class(legacy, "shown")
        if code == ErrorCode.KEY_MISMATCH:
            message = (
                "the tracker holds a different identity key for this account (set up on "
                "another machine?). Replacing it makes your contacts see a key change."
            )
        elif legacy:
            message = (
                "the tracker holds this account in the login scheme of older p2pchat"
                " versions. Upgrading it sends a fast hash of your password once, which"
                " someone posing as the tracker could crack; nothing of it was sent."
                " Created with an older p2pchat and sure of this tracker? Upgrade it"
                f" below. [{code}]"
            )
        elif code == ErrorCode.USER_EXISTS:
            message = "this name is taken; log in instead (Ctrl+T) or pick another name"
        elif code == ErrorCode.AUTH_FAILED:
            message = f"wrong username or password [{code}]"
            self._clear_passwords()
        elif code == ErrorCode.WRONG_PASSWORD:
            # The key file on this machine, not the tracker, refused: say which and how out.
            message = f"{exc.message} [{code}]"
            self._clear_passwords()
        else:
            message = f"{exc.message} [{code}]"
        self._set_status(message, error=True)

    # -- drawing ----------------------------------------------------------------------

    def _show_fingerprint(self) -> None:
        self._busy(False)
        self._set_status("")
        fingerprint = self.client.fingerprint()
        self.query_one("#form").display = False
        self.query_one("#fingerprint", Static).update(Text(group_fingerprint(fingerprint)))
        self.query_one("#done").set_class(True, "shown")
        self.query_one("#continue", Button).focus()

    def _clear_passwords(self) -> None:
        self.query_one("#password", Input).value = ""
        self.query_one("#confirm", Input).value = ""

    def _busy(self, busy: bool) -> None:
        self.query_one("#busy").set_class(busy, "shown")
        for widget_id in ("#username", "#password", "#confirm", "#submit", "#toggle"):
            self.query_one(widget_id).disabled = busy

    def _set_status(self, message: str, *, error: bool = False) -> None:
        status = self.query_one("#status", Static)
        status.set_class(error, "error")
        status.update(Text(message))
