"""Records of the room-control and directory replies and pushes, shared by both ends.

The tracker builds these frames with ``to_wire`` and a client reads them with
``from_wire`` (which validates every field like :mod:`commons.models` does), so each
JSON shape is written down once: the ``KICKED`` and ``INVITED`` pushes, the ``removed``
field of ``ROOM_UPDATE``, the ``ROOM_ACCESS`` reply, and the paging fields of
``LIST_PEERS``/``LIST_ROOMS`` replies.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from commons.errors import ValidationError
from commons.models import validate_room_name, validate_username


class KickReason(StrEnum):
    KICKED = "kicked"
    BANNED = "banned"


class Departure(StrEnum):
    """Why a member left a room on purpose (``ROOM_UPDATE``'s ``removed.reason``).

    A member whose session merely ended (a dropped connection, heartbeat expiry, a
    replaced session) is not a departure: the update carries no ``removed`` and the
    members' clients keep a live channel to them for a while (a tracker hiccup is not
    a goodbye). A departure is final at once, channel or not.
    """

    LEFT = "left"
    KICKED = "kicked"
    BANNED = "banned"


@dataclass(frozen=True, slots=True)
class Removed:
    """``ROOM_UPDATE``'s ``removed``: who this update takes out of the room, and why."""

    username: str
    reason: Departure

    def to_wire(self) -> dict[str, Any]:
        return {"username": self.username, "reason": str(self.reason)}

    @classmethod
    def from_wire(cls, obj: Any) -> Removed:
        body = _object(obj, "field 'removed'")
        try:
            reason = Departure(str(body.get("reason")))
        except ValueError:
            raise ValidationError("field 'removed.reason' is not a known reason") from None
        return cls(validate_username(body.get("username")), reason)


def _object(obj: Any, what: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ValidationError(f"{what} must be an object")
    return obj


def _names(obj: dict[str, Any], field: str) -> tuple[str, ...]:
    raw = obj.get(field)
    if not isinstance(raw, list):
        raise ValidationError(f"field '{field}' must be a list")
    return tuple(validate_username(name) for name in raw)


def _bool(obj: dict[str, Any], field: str) -> bool:
    value = obj.get(field)
    if not isinstance(value, bool):
        raise ValidationError(f"field '{field}' must be a boolean")
    return value


@dataclass(frozen=True, slots=True)
class Kicked:
    """``KICKED``: the owner ``by`` removed us from ``room`` (and banned us, if so)."""

    room: str
    by: str
    reason: KickReason

    def to_wire(self) -> dict[str, Any]:
        return {"room": self.room, "by": self.by, "reason": str(self.reason)}

    @classmethod
    def from_wire(cls, obj: Any) -> Kicked:
        body = _object(obj, "KICKED")
        try:
            reason = KickReason(str(body.get("reason")))
        except ValueError:
            raise ValidationError("field 'reason' must be 'kicked' or 'banned'") from None
        return cls(validate_room_name(body.get("room")), validate_username(body.get("by")), reason)


@dataclass(frozen=True, slots=True)
class Invited:
    """``INVITED``: the owner ``by`` invited us to ``room``."""

    room: str
    by: str

    def to_wire(self) -> dict[str, Any]:
        return {"room": self.room, "by": self.by}

    @classmethod
    def from_wire(cls, obj: Any) -> Invited:
        body = _object(obj, "INVITED")
        return cls(validate_room_name(body.get("room")), validate_username(body.get("by")))


@dataclass(frozen=True, slots=True)
class RoomAccess:
    """The ``ROOM_ACCESS`` reply: a room's mode and access lists (sorted names)."""

    room: str
    invite_only: bool
    invited: tuple[str, ...]
    banned: tuple[str, ...]

    def to_wire(self) -> dict[str, Any]:
        return {
            "room": self.room,
            "invite_only": self.invite_only,
            "invited": list(self.invited),
            "banned": list(self.banned),
        }

    @classmethod
    def from_wire(cls, obj: Any) -> RoomAccess:
        body = _object(obj, "ROOM_ACCESS reply")
        return cls(
            validate_room_name(body.get("room")),
            _bool(body, "invite_only"),
            _names(body, "invited"),
            _names(body, "banned"),
        )


@dataclass(frozen=True, slots=True)
class Page:
    """The paging fields of a ``LIST_PEERS``/``LIST_ROOMS`` reply.

    ``next_cursor`` goes back as ``cursor`` for the next page; ``None`` on the last.
    """

    total: int
    next_cursor: str | None

    @property
    def truncated(self) -> bool:
        return self.next_cursor is not None

    def to_wire(self) -> dict[str, Any]:
        return {"total": self.total, "truncated": self.truncated, "next": self.next_cursor}

    @classmethod
    def from_wire(cls, obj: Any) -> Page:
        """Read the fields; a tracker without paging (no ``next``) gives ``None``."""
        body = _object(obj, "list reply")
        total = body.get("total")
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise ValidationError("field 'total' must be a non-negative integer")
        cursor = body.get("next")
        return cls(total, None if cursor is None else validate_room_name(cursor, "next"))
