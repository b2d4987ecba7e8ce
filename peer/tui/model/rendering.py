"""Buffer lines -> styled ``rich`` text, sans-I/O.

Every string here that came from the network (message text, names in notices) is made
inert before it is drawn: it is never parsed as markup, and every code point that is
unsafe for display (:mod:`commons.untrusted_text`: Unicode categories Cc, Cf, Cs, Zl,
Zp and the bidi controls, so ANSI escapes, carriage returns, direction overrides,
zero-width and other invisible characters), which could repaint the screen, disguise
who said what or hide text, is drawn as a visible mark: a control picture for C0
codes (``␛``), ``⟨U+202E⟩`` for the others. So are letters that are printable but draw
a blank (Hangul fillers, ``U+2800``) and combining marks stacked past two on one letter
(:func:`commons.untrusted_text.replace_hidden`): a message cannot look empty nor smear
over its neighbours. A sender whose name looks like another known name (``aIice`` for
``alice``, :mod:`peer.tui.model.look_alikes`) gets a mark before the nick.

Drawing time is bounded whatever a peer sends: one message shows at most
:data:`MAX_SHOWN_LINES` lines and :data:`MAX_SHOWN_CHARS` characters, then says how
many lines are hidden; ``/expand`` draws the newest clipped message of the buffer in
full (a :class:`~peer.tui.model.buffers.Line` with ``full`` set).

Styles use named terminal colours and attributes rather than fixed backgrounds, so they
follow the user's theme; nick colours come from :mod:`peer.tui.model.nick_colors`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import assert_never

from rich.style import Style
from rich.text import Text

from commons.untrusted_text import code_point_label, replace_hidden
from crypto.pinning import TrustState
from peer.history.search import highlight_spans
from peer.tui.model.buffers import BufferKind, BufferList, Line, LineKind
from peer.tui.model.chat_model import ChatModel
from peer.tui.model.conversation_marks import reaction_counts
from peer.tui.model.log_rows import LogRow
from peer.tui.model.nick_colors import nick_color
from peer.tui.model.receipts import MarkKind, Receipt

TIMESTAMP_STYLE = Style(dim=True)
NOTICE_STYLE = Style(dim=True, italic=True)
ERROR_STYLE = Style(color="red", bold=True)
WARNING_STYLE = Style(color="bright_white", bgcolor="red", bold=True)
_LINE_STYLE = {LineKind.ERROR: ERROR_STYLE, LineKind.WARNING: WARNING_STYLE}

CONTINUATION = "\u2506 "
#: Before the nick of a sender whose name looks like a known one's (``≈aIice``).
LOOK_ALIKE_MARK = "\u2248"
LOOK_ALIKE_STYLE = Style(color="red", bold=True, reverse=True)
_MARK = {LineKind.NOTICE: "--", LineKind.ERROR: "!!", LineKind.WARNING: "**"}
HIDDEN_STYLE = Style(dim=True, italic=True)

#: Lines of one message drawn before the rest is hidden (``/expand`` shows it).
MAX_SHOWN_LINES = 24
#: Characters of one message drawn (after marking) before the rest is hidden.
MAX_SHOWN_CHARS = 2000


def _visible(char: str) -> str:
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # the Unicode "control picture" of C0 codes
    if code == 0x7F:
        return "\u2421"
    return f"\u27e8{code_point_label(char)}\u27e9"


def sanitize(text: str) -> str:
    """Neutralise characters that could rewrite the terminal, reorder or hide text."""
    return replace_hidden(text.replace("\t", "    "), _visible)


def clip(text: str) -> tuple[list[str], int, int]:
    """The sanitised lines of ``text`` that fit the display bounds, then what was left
    out: its characters (line breaks not counted) and the lines not shown at all.

    Counted in the text received, not in its marked form, so "N more characters" tells
    how much of the message is hidden. Only what is shown is sanitised.
    """
    lines = text.split("\n")
    shown: list[str] = []
    kept = 0  # characters of the text shown
    budget = MAX_SHOWN_CHARS
    for part in lines[:MAX_SHOWN_LINES]:
        clean = sanitize(part)
        if len(clean) > budget:
            cut = _prefix_within(part, budget)
            shown.append(sanitize(part[:cut]) + "\u2026")
            kept += cut
            break
        shown.append(clean)
        kept += len(part)
        budget -= len(clean)
    hidden_chars = len(text) - text.count("\n") - kept
    return shown, hidden_chars, len(lines) - len(shown)


def _prefix_within(part: str, budget: int) -> int:
    """The longest prefix of ``part`` whose sanitised form fits ``budget`` characters
    (a binary search: a mark stands for one character but takes several)."""
    low, high = 0, min(len(part), budget)
    while low < high:
        middle = (low + high + 1) // 2
        if len(sanitize(part[:middle])) <= budget:
            low = middle
        else:
            high = middle - 1
    return low


def hidden_text(characters: int, lines: int) -> str:
    """What a clipped message says of the rest: ``… 1,000 more characters``."""
    more = plural(characters, "more character")
    if lines:
        more = f"{plural(lines, 'more line')}, {more}"
    return f"\u2026 {more}: /expand shows all"


def is_clipped(line: Line) -> bool:
    """True if :func:`render_line` hides part of ``line`` (``/expand`` shows it)."""
    if line.full:
        return False
    if len(line.text) * len(_visible("\U0010ffff")) <= MAX_SHOWN_CHARS:
        return line.text.count("\n") >= MAX_SHOWN_LINES  # even fully marked it fits
    _, characters, lines = clip(line.text)
    return characters > 0 or lines > 0


def nick_text(username: str, *, own: bool = False) -> Text:
    """A nick in its stable colour; our own is bold as well."""
    return Text(sanitize(username), style=Style(color=nick_color(username), bold=own))


DEFAULT_TIME_FORMAT = "%H:%M"
#: How an action's text starts in a line (``* alice waves``); drawn with the star in the
#: nick's column.
ACTION_PREFIX = "* "
NICK_WIDTH = 12
HISTORY_STYLE = Style(dim=True)
QUOTE_STYLE = Style(dim=True, italic=True)
DELETED_STYLE = Style(dim=True, italic=True)
EDITED_STYLE = Style(dim=True)
REACTIONS_STYLE = Style(bold=True)
SELECTED_STYLE = Style(reverse=True, bold=True)
#: The first cell of the selected message's time.
SELECTED_MARK = "\u25b6"


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 line``, ``2 lines`` (``many``: the plural when it is not ``word`` + s)."""
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


def format_time(timestamp: float, time_format: str = DEFAULT_TIME_FORMAT) -> str:
    return time.strftime(time_format, time.localtime(timestamp))


def fit_nick(name: str, width: int) -> str:
    """``name`` in at most ``width`` cells: long ones keep both ends (``alice_…_admin``),
    since the end is often what tells two similar names apart."""
    if len(name) <= width:
        return name
    keep = width - 1
    head, tail = (keep + 1) // 2, keep // 2
    return name[:head] + "\u2026" + (name[-tail:] if tail else "")


_RECEIPT_STYLE = {
    MarkKind.PENDING: Style(dim=True),
    MarkKind.PARTIAL: Style(dim=True),
    MarkKind.DONE: Style(color="green"),
    MarkKind.FAILED: Style(color="red", bold=True),
}


def render_line(
    line: Line,
    receipt: Receipt | None = None,
    *,
    time_format: str = DEFAULT_TIME_FORMAT,
    nick_width: int = NICK_WIDTH,
    highlight: Sequence[str] = (),
    selected: bool = False,
) -> LogRow:
    """One log row: time, then the nick right-aligned in its colour (or a notice mark),
    then the text, which wraps under itself so continuation lines stay indented. An own
    message ends with its delivery mark (``receipt``). A line from the history file is
    dimmed; the words that start with one of ``highlight`` (a search's words) are drawn
    reversed. A reply starts with the quote of what it answers; an edited message ends
    with "(edited)", a deleted one reads "message deleted"; reactions follow on a line of
    their own (each emoji once, with how many put it). The message the user ``selected``
    (for /reply, /react, /edit, /unsend) has its time drawn reversed with a mark."""
    stamp = Text(format_time(line.timestamp, time_format), style=TIMESTAMP_STYLE)
    text = line.text
    if line.kind in (LineKind.MESSAGE, LineKind.OWN) and line.sender is not None:
        who = nick_text(fit_nick(line.sender, nick_width), own=line.kind is LineKind.OWN)
        if line.me and text.startswith(ACTION_PREFIX):
            # An action (/me) reads "* | alice waves": the star takes the nick's place.
            who = Text("*", style=who.style)
            text = text[len(ACTION_PREFIX) :]
        who.stylize(Style(color=nick_color(line.sender)))
        style = Style()
        if line.mention and line.sender is not None:
            who.stylize(Style(reverse=True, bold=True))
            style = Style(bold=True)
        if line.look_alike is not None:
            who = Text(LOOK_ALIKE_MARK, style=LOOK_ALIKE_STYLE).append_text(who)
    else:
        style = _LINE_STYLE.get(line.kind, NOTICE_STYLE)
        who = Text(_MARK.get(line.kind, "--"), style=style)
    if line.deleted:
        parts, hidden_chars, hidden_lines = [], 0, 0
    elif line.full:
        parts, hidden_chars, hidden_lines = [sanitize(p) for p in text.split("\n")], 0, 0
    else:
        parts, hidden_chars, hidden_lines = clip(text)
    body = Text()
    if line.quote is not None:
        quote = sanitize(line.quote)
        body.append(f"\u21aa {quote}\n{CONTINUATION}", style=QUOTE_STYLE)
    if line.deleted:
        body.append("message deleted", style=DELETED_STYLE)
    for index, part in enumerate(parts):
        if index:
            # No received text can pass for a new line with its own time and nick.
            body.append("\n" + CONTINUATION, style=TIMESTAMP_STYLE)
        body.append(part, style=style)
    for start, end in highlight_spans(body.plain, highlight) if highlight else ():
        body.stylize(Style(reverse=True, bold=True), start, end)
    if line.edited and not line.deleted:
        body.append(" (edited)", style=EDITED_STYLE)
    if line.reactions:
        counts = "  ".join(
            f"{sanitize(emoji)} {count}" for emoji, count in reaction_counts(line.reactions)
        )
        body.append(f"\n{CONTINUATION}", style=TIMESTAMP_STYLE)
        body.append(counts, style=REACTIONS_STYLE)
    if line.history:
        body.stylize(HISTORY_STYLE)
    mark = None if receipt is None or line.kind is not LineKind.OWN else receipt.mark()
    if mark is not None:
        body.append(f" {mark[0]}", style=_RECEIPT_STYLE[mark[1]])
    if hidden_chars or hidden_lines:
        body.append("\n" + CONTINUATION, style=TIMESTAMP_STYLE)
        body.append(hidden_text(hidden_chars, hidden_lines), style=HIDDEN_STYLE)
    if selected:
        stamp = Text(f"{SELECTED_MARK}{stamp.plain[1:]}", style=SELECTED_STYLE)
    prefix = stamp
    prefix.append(" ")
    who.pad_left(max(0, nick_width - who.cell_len))
    prefix.append_text(who)
    prefix.append(" ")
    return LogRow(prefix, body)


_STATE_MARK = {
    TrustState.VERIFIED: ("\u2713", Style(color="green", bold=True)),
    TrustState.UNVERIFIED: ("?", Style(dim=True)),
    TrustState.KEY_CHANGED: ("!", Style(color="red", bold=True, reverse=True)),
}


def trust_label(state: TrustState) -> str:
    """How a contact's trust state reads on screen (the members panel, ``/peers``,
    ``/fingerprint``): words, not the pin store's identifiers."""
    match state:
        case TrustState.UNVERIFIED:
            return "unverified"
        case TrustState.VERIFIED:
            return "verified"
        case TrustState.KEY_CHANGED:
            return "key changed"
        case _:
            assert_never(state)


def render_members(model: ChatModel) -> Text:
    """The side panel: in a private buffer, the two people in it; elsewhere the room's
    members. One per line, with a mark and a word for their trust state, and
    ``\u21c4 relay`` after those our channel reaches through the tracker's relay."""
    shown = model.buffers.current.id
    if shown.kind is BufferKind.PRIVATE:
        text = Text(f"@{sanitize(shown.name)}", style=Style(bold=True))
        text.append("  private\n", style=TIMESTAMP_STYLE)
        for person in (model.username, shown.name):
            _append_member(text, model, person)
        text.append(
            f"\n/verify {sanitize(shown.name)}\ncompares safety numbers", style=NOTICE_STYLE
        )
        return text
    view = model.joined.get(model.room)
    if view is None:
        return Text("not in a room\n\n/list shows them\n/join ROOM enters one", style=NOTICE_STYLE)
    text = Text()
    text.append(f"#{view.name}", style=Style(bold=True))
    online = len(view.members)
    text.append(f"  {online} online / {online + len(view.offline)}\n", style=TIMESTAMP_STYLE)
    for member in view.members:
        _append_member(text, model, member)
    for member in view.offline:  # their seat is kept while their session is down
        text.append("\u25cb ", style=TIMESTAMP_STYLE)
        text.append(sanitize(member), style=TIMESTAMP_STYLE)
        text.append(" offline\n", style=TIMESTAMP_STYLE)
    text.rstrip()
    return text


def _append_member(text: Text, model: ChatModel, member: str) -> None:
    if member == model.username:
        text.append("\u25cf ", style=Style(dim=True))
        text.append_text(nick_text(member, own=True))
        text.append(" (you)\n", style=TIMESTAMP_STYLE)
        return
    state = model.verification_of(member)
    mark, style = _STATE_MARK[state]
    text.append(mark, style=style)
    text.append(" ")
    text.append_text(nick_text(member))
    label_style = style if state is not TrustState.UNVERIFIED else TIMESTAMP_STYLE
    if state is TrustState.KEY_CHANGED:
        label_style = Style(color="red", bold=True)
    text.append(f" {trust_label(state)}", style=label_style)
    if model.paths.get(member) == "relay":
        text.append(" \u21c4 relay", style=Style(color="yellow"))
    text.append("\n")


def render_buffer_bar(buffers: BufferList) -> Text:
    """``1:status 2:#lobby 3:@bob(2)``: the shown buffer reversed, unread ones bold,
    highlighted ones (private messages, mentions) in colour, left rooms dimmed."""
    text = Text()
    for number, buffer in enumerate(buffers, start=1):
        if number > 1:
            text.append(" ")
        label = f"{number}:{buffer.id.label}"
        if buffer.unread:
            label += f"({buffer.unread})"
        if buffer is buffers.current:
            style = Style(reverse=True, bold=True)
        elif buffer.highlight:
            style = Style(color="magenta", bold=True)
        elif buffer.unread:
            style = Style(bold=True)
        elif not buffer.active:
            style = Style(dim=True, strike=True)
        else:
            style = Style(dim=True)
        text.append(f" {label} ", style=style)
    return text


def render_key_banner(users: list[str]) -> Text:
    """The banner that stays on screen while a key change is undecided."""
    text = Text()
    text.append(" \u26a0 IDENTITY KEY CHANGED: ", style=WARNING_STYLE)
    text.append(", ".join(sanitize(u) for u in users), style=WARNING_STYLE)
    first = users[0] if users else "USER"
    text.append(
        f"  sending to them is blocked. /verify {first} to compare safety numbers,"
        f" /trust {first} to accept the new key, /reject {first} to keep the old one ",
        style=WARNING_STYLE,
    )
    return text
