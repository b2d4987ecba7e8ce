"""Notifications: when to ring and notify, and that no message text can escape its sequence."""

from __future__ import annotations

from peer.tui.model.notifications import (
    BEL,
    BELL_INTERVAL,
    DESKTOP_INTERVAL,
    ESC,
    MAX_NOTE_CHARS,
    DesktopMethod,
    DesktopNote,
    NotificationPolicy,
    clean,
    notify_send_args,
    osc_9,
    osc_777,
    osc_title,
    pick_desktop_method,
)


def message(policy: NotificationPolicy, **changes: object) -> object:
    fields: dict[str, object] = {
        "sender": "bob",
        "room": None,
        "text": "psst",
        "own": False,
        "mention": False,
        "reading": False,
        "now": 100.0,
    }
    fields.update(changes)
    return policy.on_message(**fields)  # type: ignore[arg-type]


def test_private_messages_and_mentions_signal_nothing_else_does() -> None:
    signals = message(NotificationPolicy())
    assert signals.bell and signals.desktop is not None  # type: ignore[attr-defined]
    assert "private message from bob" in signals.desktop.title  # type: ignore[attr-defined]
    mention = message(NotificationPolicy(), room="lobby", mention=True)
    assert mention.bell and "mentioned you in #lobby" in mention.desktop.title  # type: ignore[attr-defined]
    for quiet in (
        {"room": "lobby"},  # room chatter without a mention
        {"own": True},  # our own message
        {"reading": True},  # the buffer being read
    ):
        signals = message(NotificationPolicy(), **quiet)
        assert not signals.bell and signals.desktop is None, quiet  # type: ignore[attr-defined]


def test_each_signal_can_be_turned_off() -> None:
    assert not message(NotificationPolicy(bell=False)).bell  # type: ignore[attr-defined]
    assert message(NotificationPolicy(desktop=False)).desktop is None  # type: ignore[attr-defined]


def test_a_flood_rings_and_notifies_at_a_bounded_rate() -> None:
    policy = NotificationPolicy()
    signals = [message(policy, now=100.0 + i * 0.01) for i in range(1000)]  # 10 s of flood
    bells = sum(1 for s in signals if s.bell)  # type: ignore[attr-defined]
    notes = sum(1 for s in signals if s.desktop is not None)  # type: ignore[attr-defined]
    assert bells <= 10 / BELL_INTERVAL + 1
    assert notes <= 10 / DESKTOP_INTERVAL + 1


def test_preview_only_when_asked() -> None:
    hidden = message(NotificationPolicy(), text="the vault code is 4711")
    assert "4711" not in hidden.desktop.title + hidden.desktop.body  # type: ignore[attr-defined]
    shown = message(NotificationPolicy(preview=True), text="the vault code is 4711")
    assert "4711" in shown.desktop.body  # type: ignore[attr-defined]


def test_window_title_counts_unread() -> None:
    assert NotificationPolicy.window_title("alice", 0) == "p2pchat - alice"
    assert NotificationPolicy.window_title("alice", 3) == "(3) p2pchat - alice"


HOSTILE = f"hi{BEL}{ESC}]2;pwned{BEL}{ESC}[2J\x9b31m\r\nline;two\u202e" + "x" * 500


def test_no_text_escapes_its_escape_sequence() -> None:
    note = DesktopNote(f"p2pchat: {HOSTILE}", HOSTILE)
    for sequence, terminator in (
        (osc_777(note), ESC + "\\"),
        (osc_9(note), ESC + "\\"),
        (osc_title(HOSTILE), BEL),
    ):
        body = sequence[: -len(terminator)]
        assert body.count(ESC) == 1 and body.startswith(ESC + "]")  # only the introducer
        assert BEL not in body and "\x9b" not in body and "\r" not in body and "\n" not in body
        assert "\u202e" not in body
        assert len(body) < 3 * MAX_NOTE_CHARS
    fields = osc_777(note)[len(ESC + "]") : -2].split(";")
    assert fields[:2] == ["777", "notify"] and len(fields) == 4  # no ';' smuggled in
    assert clean("a\x00b\x1bc") == "a b c"


def test_notify_send_gets_plain_arguments_with_markup_escaped() -> None:
    args = notify_send_args(DesktopNote("p2pchat: bob", '<a href="x">click</a> & more'))
    assert args[0] == "notify-send"
    assert args[-1] == '&lt;a href="x"&gt;click&lt;/a&gt; &amp; more'


def test_desktop_method_follows_the_terminal() -> None:
    pick = pick_desktop_method
    assert pick({"TERM_PROGRAM": "iTerm.app"}, notify_send=True) is DesktopMethod.OSC_9
    assert pick({"TERM": "xterm-kitty"}, notify_send=False) is DesktopMethod.OSC_9
    assert pick({"TERM": "foot"}, notify_send=True) is DesktopMethod.OSC_777
    assert pick({"VTE_VERSION": "7600"}, notify_send=True) is DesktopMethod.OSC_777
    # Inside tmux the outer terminal is unknown: notify-send in a graphical session.
    tmux = {"TMUX": "/tmp/tmux-0/default,1,0", "TERM": "tmux-256color", "VTE_VERSION": "1"}
    assert pick({**tmux, "DISPLAY": ":0"}, notify_send=True) is DesktopMethod.NOTIFY_SEND
    assert pick(tmux, notify_send=True) is None
    assert pick({"TERM": "xterm"}, notify_send=False) is None
