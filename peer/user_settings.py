"""User settings: a commented TOML file, command-line flags on top, ``/set`` for a session.

The file is ``config.toml`` in the platform's config folder (``platformdirs``: on Linux
``~/.config/p2pchat/config.toml``). The chat writes it on first run with every setting
commented out at its default and explained, so the file documents itself and a later
version's defaults still apply to what the user never changed. ``tomllib`` reads it;
every value is checked here (type and range), an unknown name or a bad value is an
error that names the file and the setting, and a file over :data:`MAX_CONFIG_BYTES` is
refused unread.

Precedence, lowest first: built-in default, the file, a command-line flag, ``/set``
(this session only; nothing is written back). :class:`Settings` remembers where each
value came from, which ``/set`` shows.
"""

from __future__ import annotations

import re
import textwrap
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from commons.errors import ValidationError
from commons.private_file import write_private_file

CONFIG_FILE_NAME = "config.toml"
MAX_CONFIG_BYTES = 64 * 1024
MAX_KEYS_PER_ACTION = 4
RESERVED_KEYS = frozenset({"ctrl+c", "ctrl+q"})
_KEY = re.compile(r"[a-z0-9_]+(\+[a-z0-9_]+)*")


class SettingError(ValidationError):
    """A setting's name or value is not acceptable; the message says which and why."""


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir("p2pchat")) / CONFIG_FILE_NAME


# ---------------------------------------------------------------------- value checks


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "on", "yes", "1"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "off", "no", "0"):
        return False
    raise SettingError("must be true or false")


def _int_range(low: int, high: int) -> Callable[[object], int]:
    def check(value: object) -> int:
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingError(f"must be a whole number from {low} to {high}")
        if not low <= value <= high:
            raise SettingError(f"must be from {low} to {high}")
        return value

    return check


def _text(max_chars: int) -> Callable[[object], str]:
    def check(value: object) -> str:
        if not isinstance(value, str):
            raise SettingError("must be a string")
        if len(value) > max_chars or any(ord(c) < 0x20 for c in value):
            raise SettingError(f"must be at most {max_chars} printable characters")
        return value

    return check


def _time_format(value: object) -> str:
    text = _text(40)(value)
    if not text:
        raise SettingError("must not be empty")
    try:
        rendered = time.strftime(text, time.localtime(0))
    except ValueError as exc:
        raise SettingError(f"is not a strftime format ({exc})") from None
    if len(rendered) > 40:
        raise SettingError("gives a time longer than 40 characters")
    return text


def _endpoint(value: object) -> str:
    from peer.config import parse_endpoint

    text = _text(300)(value)
    try:
        parse_endpoint(text)
    except ValidationError as exc:
        raise SettingError(exc.message) from None
    return text


def _keys(value: object) -> str:
    text = _text(120)(value).lower()
    keys = [k.strip() for k in text.split(",") if k.strip()]
    if not keys or len(keys) > MAX_KEYS_PER_ACTION:
        raise SettingError(f"must name 1 to {MAX_KEYS_PER_ACTION} keys, comma-separated")
    for key in keys:
        if not _KEY.fullmatch(key):
            raise SettingError(f"{key!r} is not a key name (like ctrl+x, alt+a, f2, pageup)")
        if key in RESERVED_KEYS:
            raise SettingError(f"{key} is reserved: it quits")
    return ",".join(keys)


# ---------------------------------------------------------------------- the settings


@dataclass(frozen=True, slots=True)
class SettingSpec:
    """One setting: ``section.name``, its default, its check, and what it does."""

    key: str
    default: object
    check: Callable[[object], Any]
    help: str
    #: ``/set`` applies it at once; otherwise it takes effect at the next start.
    live: bool = True


def _key_spec(action: str, default: str, help_text: str) -> SettingSpec:
    return SettingSpec(f"keys.{action}", default, _keys, help_text, live=False)


SPECS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "connection.tracker",
        "127.0.0.1:6060",
        _endpoint,
        "The tracker, HOST:PORT (flag --tracker).",
        live=False,
    ),
    SettingSpec(
        "connection.home",
        "",
        _text(1000),
        "Folder for keys, pins and history; empty means the platform's data folder (flag --home).",
        live=False,
    ),
    SettingSpec(
        "history.days",
        30,
        _int_range(0, 36500),
        "Days of messages kept in the encrypted history; 0 keeps nothing and deletes"
        " what was kept (flag --history-days).",
    ),
    SettingSpec(
        "display.theme",
        "textual-dark",
        _text(40),
        "One of Textual's themes: textual-dark, textual-light, nord, gruvbox, dracula,"
        " tokyo-night, monokai, solarized-light, ... (flag --theme).",
    ),
    SettingSpec(
        "display.timestamp_format",
        "%H:%M",
        _time_format,
        "strftime format of the time shown before each line; a line with the date is"
        ' drawn whenever the day changes. "%H:%M:%S" adds seconds.',
    ),
    SettingSpec(
        "display.nick_width",
        12,
        _int_range(4, 32),
        "Width of the nick column; longer nicks are shortened in the middle (a…z).",
    ),
    SettingSpec(
        "notifications.bell",
        True,
        _bool,
        "Ring the terminal bell on a private message or a mention, so tmux and screen"
        " flag the window (flag --no-bell).",
    ),
    SettingSpec(
        "notifications.title",
        True,
        _bool,
        "Show the number of unread private messages and mentions in the terminal's"
        " title (flag --no-title).",
    ),
    SettingSpec(
        "notifications.desktop",
        True,
        _bool,
        "Desktop notification on a private message or a mention: OSC 777 and OSC 9"
        " where the terminal shows them, notify-send where installed (flag --no-desktop).",
    ),
    SettingSpec(
        "notifications.desktop_preview",
        False,
        _bool,
        "Put the message's first words in desktop notifications (off: only who wrote;"
        " the notification service and the screen may be seen by others).",
    ),
    SettingSpec(
        "privacy.typing_indicators",
        True,
        _bool,
        "Tell room-mates and contacts when you are typing, and show when they are; off:"
        " neither (never sent to strangers; flag --no-typing-indicators).",
        live=False,
    ),
    SettingSpec(
        "privacy.read_receipts",
        True,
        _bool,
        "Tell room-mates and contacts how far you have read, and show how far they have;"
        " off: neither (never sent to strangers; flag --no-read-receipts).",
        live=False,
    ),
    _key_spec("next_buffer", "ctrl+n", "Show the next buffer."),
    _key_spec("previous_buffer", "ctrl+p", "Show the previous buffer."),
    _key_spec(
        "next_unread",
        "alt+a,ctrl+x",
        "Show the next buffer with unread messages (ctrl+x: the tmux-safe one).",
    ),
    _key_spec("search", "ctrl+r", "Search all your history."),
    _key_spec("find", "ctrl+f", "Search the buffer shown."),
    _key_spec("scroll_up", "pageup", "Scroll the messages up a page."),
    _key_spec("scroll_down", "pagedown", "Scroll the messages down a page."),
    _key_spec(
        "select_previous",
        "alt+up",
        "Select the message before (from none: the last) for /reply, /react, /edit, /unsend.",
    ),
    _key_spec("select_next", "alt+down", "Select the message after (past the last: none)."),
    _key_spec("leave_selection", "escape", "Leave the selection: commands act on the last."),
    *(
        _key_spec(
            f"buffer_{n}",
            f"f{n},alt+{n}",
            f"Show buffer {n} (F{n} works everywhere, Alt+{n} where the terminal sends it).",
        )
        for n in range(1, 10)
    ),
)
SPEC_BY_KEY: dict[str, SettingSpec] = {spec.key: spec for spec in SPECS}


class Settings:
    """Current values and where each came from: ``default``, ``file``, ``flag``, ``session``."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {spec.key: spec.default for spec in SPECS}
        self._sources: dict[str, str] = dict.fromkeys(self._values, "default")
        self.path: Path | None = None
        #: Theme names the app can show (set by the app; None: not checked yet).
        self.known_themes: frozenset[str] | None = None
        #: The commented file was written by this run (the chat says so once).
        self.written = False

    def resolve(self, name: str) -> SettingSpec:
        """The spec of ``name``: ``section.name``, or a bare ``name`` if unambiguous."""
        spec = SPEC_BY_KEY.get(name.lower())
        if spec is not None:
            return spec
        found = [s for s in SPECS if s.key.split(".", 1)[1] == name.lower()]
        if len(found) == 1:
            return found[0]
        raise SettingError(f"no setting {name!r}: /set lists them")

    def set(self, name: str, value: object, source: str) -> SettingSpec:
        """Check and set one value; raises :class:`SettingError` naming the setting."""
        spec = self.resolve(name)
        try:
            checked = spec.check(value)
        except SettingError as exc:
            raise SettingError(f"{spec.key} {exc.message}") from None
        themes = self.known_themes
        if spec.key == "display.theme" and themes is not None and checked not in themes:
            raise SettingError(
                f"{spec.key}: no theme {checked!r}; one of {', '.join(sorted(themes))}"
            )
        self._values[spec.key] = checked
        self._sources[spec.key] = source
        return spec

    def get(self, key: str) -> Any:
        return self._values[self.resolve(key).key]

    def source(self, key: str) -> str:
        return self._sources[self.resolve(key).key]

    def items(self) -> list[tuple[SettingSpec, Any, str]]:
        return [(spec, self._values[spec.key], self._sources[spec.key]) for spec in SPECS]

    # Typed views of the values the program reads.

    @property
    def history_days(self) -> int:
        return int(self._values["history.days"])

    @property
    def theme(self) -> str:
        return str(self._values["display.theme"])

    @property
    def timestamp_format(self) -> str:
        return str(self._values["display.timestamp_format"])

    @property
    def nick_width(self) -> int:
        return int(self._values["display.nick_width"])

    @property
    def bell(self) -> bool:
        return bool(self._values["notifications.bell"])

    @property
    def title(self) -> bool:
        return bool(self._values["notifications.title"])

    @property
    def desktop(self) -> bool:
        return bool(self._values["notifications.desktop"])

    @property
    def desktop_preview(self) -> bool:
        return bool(self._values["notifications.desktop_preview"])

    def keys(self, action: str) -> str:
        """Textual's comma-separated key list bound to ``action``."""
        return str(self._values[f"keys.{action}"])


def format_value(value: object) -> str:
    """A value as TOML writes it (and ``/set`` shows it)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def load_settings(path: Path) -> Settings:
    """Settings from ``path`` (defaults if it does not exist); :class:`SettingError` for a
    file that is too large, not TOML, or holds an unknown name or a bad value."""
    settings = Settings()
    settings.path = path
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return settings
    if size > MAX_CONFIG_BYTES:
        raise SettingError(f"{path}: larger than {MAX_CONFIG_BYTES // 1024} KiB, not read")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingError(f"{path}: not valid TOML ({exc})") from None
    for section, table in data.items():
        if not isinstance(table, dict):
            raise SettingError(f"{path}: {section!r} must be a [section] of settings")
        for name, value in table.items():
            key = f"{section}.{name}"
            if key not in SPEC_BY_KEY:
                raise SettingError(f"{path}: unknown setting {key!r}")
            try:
                settings.set(key, value, "file")
            except SettingError as exc:
                raise SettingError(f"{path}: {exc.message}") from None
    return settings


def template() -> str:
    """The commented file written on first run: every setting at its default, commented."""
    out = [
        "# p2pchat settings. Uncomment a line and change its value to use it.",
        "# Command-line flags override this file; /set changes a value for one session.",
        "# Key names are Textual's: ctrl+x, alt+a, f2, pageup, ... (comma-separated).",
        "# Inside tmux or screen Alt keys may not arrive: every Alt key has another.",
    ]
    section = ""
    for spec in SPECS:
        head, name = spec.key.split(".", 1)
        if head != section:
            section = head
            out += ["", f"[{section}]"]
        out += textwrap.wrap(
            spec.help, 86, initial_indent="# ", subsequent_indent="# ", break_on_hyphens=False
        )
        out.append(f"# {name} = {format_value(spec.default)}")
    return "\n".join(out) + "\n"


def write_template(path: Path) -> bool:
    """Write :func:`template` to ``path`` unless a file is there; True if written.
    A folder that cannot be written is not an error: the defaults still apply."""
    try:
        write_private_file(path, template().encode("utf-8"), replace=False)
    except OSError:
        return False
    return True
