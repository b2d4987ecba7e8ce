"""How the arguments of each command are read (the parsers :mod:`peer.commands.table`' table
names). Each takes the command's usage and the rest of the line and returns a typed
command (:mod:`peer.commands.values`) or raises :class:`CommandError` with the usage.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import assert_never

from commons.errors import ErrorCode, ValidationError
from commons.models import MAX_ROOM_NAME_CHARS, validate_room_name, validate_username
from crypto.fingerprint import parse_fingerprint
from peer.commands.values import (
    Aimed,
    AimVerb,
    ControlUser,
    CreateRoom,
    EditMessage,
    Help,
    JoinRoom,
    LeaveRoom,
    Login,
    OwnerAction,
    React,
    Register,
    Reply,
    Search,
    SendAction,
    SendPrivate,
    SendRoom,
    SetInviteOnly,
    SetSetting,
    SetTyping,
    ShowFingerprint,
    Switch,
    UserCommand,
)


class CommandError(ValidationError):
    """The line is not a valid command; the message shows the usage."""

    code = ErrorCode.BAD_REQUEST


Parser = Callable[[str, str], UserCommand]  # (usage, rest of the line) -> command


def bare(make: Callable[[], UserCommand]) -> Parser:
    def parse(usage: str, rest: str) -> UserCommand:
        if rest.split():
            raise CommandError(f"usage: {usage}")
        return make()

    return parse


def one(make: Callable[[str], UserCommand], check: Callable[[str], str] = str) -> Parser:
    def parse(usage: str, rest: str) -> UserCommand:
        args = rest.split()
        if len(args) != 1:
            raise CommandError(f"usage: {usage}")
        return make(check(args[0]))

    return parse


def credentials(login: bool) -> Parser:
    def parse(usage: str, rest: str) -> UserCommand:
        args = rest.split()
        if login and len(args) == 3 and args[2] == "--replace-key":
            return Login(validate_username(args[0]), args[1], replace_key=True)
        if len(args) != 2:
            raise CommandError(f"usage: {usage}")
        user = validate_username(args[0])
        return Login(user, args[1]) if login else Register(user, args[1])

    return parse


def msg(usage: str, rest: str) -> UserCommand:
    user, _, text = rest.lstrip().partition(" ")
    if not user or not text.strip():
        raise CommandError(f"usage: {usage}")
    return SendPrivate(validate_username(user), text)


def _id_and_text(usage: str, rest: str) -> tuple[str, str]:
    """``MSGID TEXT``: the text kept exactly as typed after one space."""
    msg_id, _, text = rest.lstrip().partition(" ")
    if not msg_id or not text.strip():
        raise CommandError(f"usage: {usage}")
    return msg_id, text


def reply(usage: str, rest: str) -> UserCommand:
    return Reply(*_id_and_text(usage, rest))


def edit_message(usage: str, rest: str) -> UserCommand:
    return EditMessage(*_id_and_text(usage, rest))


def send_action(usage: str, rest: str) -> UserCommand:
    if not rest.strip():
        raise CommandError(f"usage: {usage}")
    return SendAction(rest)


def aimed(verb: AimVerb) -> Parser:
    """The terminal chat's ``/reply TEXT``, ``/edit TEXT`` (text), ``/react EMOJI``,
    ``/unreact EMOJI`` (one word) and ``/unsend`` (nothing)."""

    def parse(usage: str, rest: str) -> UserCommand:
        match verb:
            case AimVerb.REPLY | AimVerb.EDIT:
                if not rest.strip():
                    raise CommandError(f"usage: {usage}")
                return Aimed(verb, rest)
            case AimVerb.REACT | AimVerb.UNREACT:
                args = rest.split()
                if len(args) != 1:
                    raise CommandError(f"usage: {usage}")
                return Aimed(verb, args[0])
            case AimVerb.UNSEND:
                if rest.strip():
                    raise CommandError(f"usage: {usage}")
                return Aimed(verb)
            case _:
                assert_never(verb)

    return parse


def react(on: bool) -> Parser:
    def parse(usage: str, rest: str) -> UserCommand:
        args = rest.split()
        if len(args) != 2:
            raise CommandError(f"usage: {usage}")
        return React(args[0], args[1], on)

    return parse


def typing(usage: str, rest: str) -> UserCommand:
    args = rest.split()
    if not 1 <= len(args) <= 2 or args[0] not in ("on", "off"):
        raise CommandError(f"usage: {usage}")
    return SetTyping(args[0] == "on", validate_username(args[1]) if len(args) == 2 else None)


def say(usage: str, rest: str) -> UserCommand:
    """``ROOM TEXT``: a message to that room, whatever the current one."""
    room, _, text = rest.lstrip().partition(" ")
    if not room or not text.strip():
        raise CommandError(f"usage: {usage}")
    return SendRoom(text, room_name(usage, room))


def leave(usage: str, rest: str) -> UserCommand:
    """``[ROOM]``: the room to leave (default: the current one)."""
    args = rest.split()
    if len(args) > 1:
        raise CommandError(f"usage: {usage}")
    return LeaveRoom(room_name(usage, args[0]) if args else None)


def fingerprint(usage: str, rest: str) -> UserCommand:
    args = rest.split()
    if len(args) > 1:
        raise CommandError(f"usage: {usage}")
    return ShowFingerprint(validate_username(args[0]) if args else None)


def key_choice(make: Callable[[str, str | None], UserCommand]) -> Parser:
    """``USER [FINGERPRINT]``, the fingerprint possibly typed in spaced groups."""

    def parse(usage: str, rest: str) -> UserCommand:
        args = rest.split()
        if not args:
            raise CommandError(f"usage: {usage}")
        typed = parse_fingerprint(" ".join(args[1:])) if len(args) > 1 else None
        return make(validate_username(args[0]), typed)

    return parse


def room(make: Callable[[str], UserCommand]) -> Parser:
    """``ROOM``: one name; anything else says what a room name is, not just the usage."""

    def parse(usage: str, rest: str) -> UserCommand:
        args = rest.split()
        if not args:
            raise CommandError(f"usage: {usage}")
        return make(room_name(usage, args[0] if len(args) == 1 else rest.strip()))

    return parse


def help_topic(usage: str, rest: str) -> UserCommand:
    args = rest.split()
    if len(args) > 1:
        raise CommandError(f"usage: {usage}")
    return Help(args[0][:33] if args else None)


def search(usage: str, rest: str) -> UserCommand:
    first, _, more = rest.strip().partition(" ")
    if first.lower() in ("-all", "--all"):
        return Search(more.strip(), all_buffers=True)
    return Search(rest.strip())


def setting(usage: str, rest: str) -> UserCommand:
    name, _, value = rest.strip().partition(" ")
    return SetSetting(name or None, value.strip() or None)


def switch(usage: str, rest: str) -> UserCommand:
    if not rest.strip():
        raise CommandError(f"usage: {usage}")
    return Switch(rest.strip())


def page(make: Callable[[str | None], UserCommand]) -> Parser:
    """``[FROM]``: where a listing starts (the ``next`` cursor a page ended with)."""

    def parse(usage: str, rest: str) -> UserCommand:
        args = rest.split()
        if len(args) > 1:
            raise CommandError(f"usage: {usage}")
        return make(validate_room_name(args[0], "cursor") if args else None)

    return parse


def _room_and_flags(usage: str, rest: str, allowed: frozenset[str]) -> tuple[str, set[str]]:
    """``ROOM`` followed by any of the ``allowed`` flags, each at most once; other words
    after the name say what a room name is (as :func:`room` does)."""
    args = rest.split()
    if not args:
        raise CommandError(f"usage: {usage}")
    flags = args[1:]
    if flags and set(flags) <= allowed and len(set(flags)) == len(flags):
        return room_name(usage, args[0]), set(flags)
    if any(flag.startswith("--") for flag in flags):
        raise CommandError(f"usage: {usage}")
    return room_name(usage, args[0] if len(args) == 1 else rest.strip()), set()


_INVITE_ONLY, _RELAY_ONLY = "--invite-only", "--relay-only"


def create(usage: str, rest: str) -> UserCommand:
    """``ROOM [--invite-only] [--relay-only]``."""
    name, flags = _room_and_flags(usage, rest, frozenset({_INVITE_ONLY, _RELAY_ONLY}))
    return CreateRoom(name, invite_only=_INVITE_ONLY in flags, relay_only=_RELAY_ONLY in flags)


def join(usage: str, rest: str) -> UserCommand:
    """``ROOM [--relay-only]``."""
    name, flags = _room_and_flags(usage, rest, frozenset({_RELAY_ONLY}))
    return JoinRoom(name, relay_only=_RELAY_ONLY in flags)


def room_name(usage: str, text: str) -> str:
    """``text`` as a room name in canonical form (NFC), or an error that says what a
    room name is. One leading ``#`` is how IRC users write a room (``/join #lobby``)
    and is not part of the name."""
    name = text[1:] if text.startswith("#") else text
    try:
        return validate_room_name(name)
    except ValidationError:
        raise CommandError(
            f"{text[:40]!r} is not a room name: one word of 1-{MAX_ROOM_NAME_CHARS} letters,"
            f" digits, '_', '.' or '-', an optional '#' before it (usage: {usage})"
        ) from None


def control(action: OwnerAction) -> Parser:
    """``USER [ROOM]``."""

    def parse(usage: str, rest: str) -> UserCommand:
        args = rest.split()
        if not 1 <= len(args) <= 2:
            raise CommandError(f"usage: {usage}")
        room = room_name(usage, args[1]) if len(args) == 2 else None
        return ControlUser(action, validate_username(args[0]), room)

    return parse


def invite_only(usage: str, rest: str) -> UserCommand:
    args = rest.split()
    if not 1 <= len(args) <= 2 or args[0].lower() not in ("on", "off"):
        raise CommandError(f"usage: {usage}")
    room = room_name(usage, args[1]) if len(args) == 2 else None
    return SetInviteOnly(args[0].lower() == "on", room)


def optional_room(make: Callable[[str | None], UserCommand]) -> Parser:
    def parse(usage: str, rest: str) -> UserCommand:
        args = rest.split()
        if len(args) > 1:
            raise CommandError(f"usage: {usage}")
        return make(room_name(usage, args[0]) if args else None)

    return parse
