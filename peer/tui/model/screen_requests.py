"""What the controller asks of the chat screen: the requests a command returns when it
needs the screen (a dialog, a changed setting, quitting), as plain values.

Trust decisions pass the exact key the user was shown: a :class:`VerifyRequest` carries
the keys behind the numbers on screen and the undecided keys at that moment, and
:meth:`peer.tui.model.controller.ChatController.confirm_verify` refuses (nothing is marked) if
another key arrived since.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KeyCandidate:
    """One key of a contact as the verify panel shows it."""

    key: bytes
    fingerprint: str
    safety_number: str


@dataclass(frozen=True, slots=True)
class VerifyRequest:
    """Show fingerprints and safety numbers; confirm one with ``confirm_verify``.

    ``candidates``: the keys on screen (one, or every undecided key when more than one
    new key has been seen). ``accept_new_key``: they are new keys, and confirming one
    accepts it before marking it verified. ``pending``: the undecided keys when the
    panel was built; if they differ at confirmation time, nothing is marked.
    """

    username: str
    own_fingerprint: str
    candidates: tuple[KeyCandidate, ...]
    pending: tuple[bytes, ...]
    accept_new_key: bool = False


@dataclass(frozen=True, slots=True)
class QuitRequest:
    """The user asked to leave: the app closes the client and exits."""


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """Open the search dialog with ``query`` over the buffer shown, or all of them."""

    query: str
    all_buffers: bool


@dataclass(frozen=True, slots=True)
class SettingChanged:
    """``/set`` changed ``key`` for this session: the screen applies it."""

    key: str


ScreenRequest = VerifyRequest | QuitRequest | SearchRequest | SettingChanged
