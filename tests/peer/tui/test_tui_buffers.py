"""Buffers: unread counting, switching by number, name and direction, closing."""

from __future__ import annotations

from peer.tui.model.buffers import (
    STATUS,
    BufferList,
    Line,
    LineKind,
    private_buffer,
    room_buffer,
)


def msg(sender: str, text: str = "hi") -> Line:
    return Line(0.0, LineKind.MESSAGE, text, sender)


def notice(text: str) -> Line:
    return Line(0.0, LineKind.NOTICE, text)


def test_status_buffer_is_first_and_shown() -> None:
    buffers = BufferList()
    assert buffers.current.id == STATUS
    assert buffers.number_of(STATUS) == 1


def test_hidden_buffer_counts_messages_but_not_notices() -> None:
    buffers = BufferList()
    lobby = room_buffer("lobby")
    buffers.switch_to(lobby)
    bob = private_buffer("bob")
    assert buffers.append(lobby, msg("alice")) is True
    assert buffers.append(bob, msg("bob"), highlight=True) is False
    assert buffers.append(bob, msg("bob")) is False
    assert buffers.append(bob, notice("bob's channel opened")) is False
    assert buffers.get(bob) is not None
    assert buffers.get(bob).unread == 2  # type: ignore[union-attr]
    assert buffers.get(bob).highlight is True  # type: ignore[union-attr]
    assert buffers.current.unread == 0
    buffers.switch_to(bob)
    assert buffers.get(bob).unread == 0  # type: ignore[union-attr]
    assert buffers.get(bob).highlight is False  # type: ignore[union-attr]
    buffers.append(lobby, msg("carol"))
    buffers.append(lobby, msg("carol"))
    assert buffers.get(lobby).unread == 2  # type: ignore[union-attr]
    buffers.switch_index(2)
    assert buffers.current.id == lobby
    assert buffers.current.unread == 0


def test_own_lines_never_count_as_unread() -> None:
    buffers = BufferList()
    lobby = room_buffer("lobby")
    buffers.append(lobby, Line(0.0, LineKind.OWN, "me", "alice"))
    assert buffers.get(lobby).unread == 0  # type: ignore[union-attr]


def test_switch_by_number_and_direction_wraps() -> None:
    buffers = BufferList()
    buffers.ensure(room_buffer("lobby"))
    buffers.ensure(private_buffer("bob"))
    assert buffers.switch_index(4) is None
    assert buffers.switch_index(0) is None
    assert buffers.switch_index(3).id == private_buffer("bob")  # type: ignore[union-attr]
    assert buffers.switch_relative(+1).id == STATUS
    assert buffers.switch_relative(-1).id == private_buffer("bob")


def test_resolve_prefers_labels_then_rooms() -> None:
    buffers = BufferList()
    buffers.ensure(private_buffer("bob"))
    buffers.ensure(room_buffer("bob"))
    assert buffers.resolve("@bob") == private_buffer("bob")
    assert buffers.resolve("#bob") == room_buffer("bob")
    assert buffers.resolve("bob") == room_buffer("bob")
    assert buffers.resolve("2") == room_buffer("bob")  # rooms come right after the status
    assert buffers.resolve("status") == STATUS
    assert buffers.resolve("9") is None
    assert buffers.resolve("nobody") is None


def test_next_unread_prefers_highlights() -> None:
    buffers = BufferList()
    buffers.append(room_buffer("lobby"), msg("carol"))
    buffers.append(private_buffer("bob"), msg("bob"), highlight=True)
    assert buffers.next_unread().id == private_buffer("bob")  # type: ignore[union-attr]
    assert buffers.next_unread().id == room_buffer("lobby")  # type: ignore[union-attr]
    assert buffers.next_unread() is None


def test_close_keeps_status_and_falls_back_left() -> None:
    buffers = BufferList()
    lobby, bob = room_buffer("lobby"), private_buffer("bob")
    buffers.ensure(lobby)
    buffers.switch_to(bob)
    assert buffers.close(STATUS) is False
    assert buffers.close(bob) is True
    assert buffers.current.id == lobby
    assert bob not in buffers
    assert buffers.close(bob) is False
    buffers.ensure(bob)
    assert buffers.close(lobby) is True
    assert buffers.current.id == STATUS


def test_scrollback_is_bounded() -> None:
    buffers = BufferList()
    for i in range(5000):
        buffers.append(STATUS, notice(str(i)))
    assert len(buffers.current.lines) == 2000
    assert buffers.current.lines[-1].text == "4999"
