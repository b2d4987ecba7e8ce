"""The receiving side: the prekeys this user handed out, and the sessions opened with them.

One :class:`MailboxReceiver` per account. :meth:`MailboxReceiver.issue_grant` makes a
grant for one contact and keeps its private halves; :meth:`MailboxReceiver.open` opens
one envelope at a time, in the order the tracker delivers them, and changes the state
only when the envelope authenticated and is new:

- an opening whose session id is already open is refused (ids are in clear in chained
  headers, so a contact reading them off the tracker cannot take a session over);
- an opening deletes its one-time prekey (a replay then names an unknown prekey), or
  adds its session id to its last-resort prekey's set (a replay is refused by it);
  it replaces any session from the same sender key;
- a chained message must carry a counter at or after the session's next one; the chain
  steps over at most :data:`MAX_SKIP` missing messages, reported in
  :attr:`Opened.missing`, and their keys are dropped, never kept: a message that
  arrives after a later one is refused (a reorder, or a replay).

**State and key reuse.** :meth:`MailboxReceiver.to_bytes` holds only prekeys not yet
used, each session's *next* chain key and counter, and the last-resort session sets:
nothing that opens a message already opened. The caller stores the new state (sealed,
replacing the old one atomically) before it shows the message; a restored older copy
would bring deleted keys back, which only the peer's store can refuse
(``generation`` grows with every change).
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from typing import Any

from commons.codec import decode_object, encode_object
from commons.errors import P2PChatError
from commons.models import validate_username
from crypto.errors import (
    GrantError,
    MailboxGapError,
    MailboxReplayError,
    MailboxStateError,
    UnknownPrekeyError,
    UnknownSessionError,
)
from crypto.identity import IdentityKey
from crypto.mailbox.opening import (
    KIND_OPENING,
    SESSION_ID_LEN,
    chain_step,
    envelope_kind,
    open_body,
    opening_body_ad,
    parse_message,
    parse_opening,
    read_opening,
)
from crypto.mailbox.prekeys import (
    MAX_ONE_TIME,
    Grant,
    Prekey,
    PrekeyKind,
    new_token,
)
from crypto.primitives import DHLEN, HASHLEN

STATE_VERSION = 1
MAX_SKIP = 1000
#: Sessions a last-resort prekey remembers; beyond, it opens no more (refill first).
MAX_LAST_RESORT_SESSIONS = 4096
DEFAULT_LIFETIME = 30 * 24 * 3600
_STATE_FIELDS = frozenset({"v", "username", "grants", "sessions", "generation"})


@dataclass(frozen=True, slots=True)
class Opened:
    """One opened envelope.

    ``sender_static`` is the identity key the sender proved: the peer compares it with
    the pin of ``contact`` (the one the grant was handed to); a stolen token used by
    another account shows its own key here. ``missing`` counts messages of this session
    skipped before this one. ``new_session`` is true for an opening.
    """

    contact: str
    sender_static: bytes
    session_id: bytes
    n: int
    plaintext: bytes = field(repr=False)
    missing: int = 0
    new_session: bool = False


@dataclass(slots=True)
class _GrantKeys:
    contact: str
    token_hash: bytes
    one_time: dict[bytes, Prekey]
    last_resort: Prekey
    seen: set[bytes]


@dataclass(slots=True)
class _Session:
    contact: str
    sender_static: bytes
    chain: bytes = field(repr=False)
    n: int


class MailboxReceiver:
    """The mailbox keys of ``username``, whose identity key is ``identity``."""

    __slots__ = ("_grants", "_identity", "_sessions", "generation", "username")

    def __init__(self, identity: IdentityKey, username: str) -> None:
        self._identity = identity
        self.username = validate_username(username)
        self._grants: dict[bytes, _GrantKeys] = {}
        self._sessions: dict[bytes, _Session] = {}
        self.generation = 0

    def issue_grant(
        self,
        contact: str,
        now: int,
        one_time: int = MAX_ONE_TIME,
        lifetime: int = DEFAULT_LIFETIME,
    ) -> Grant:
        """A new grant for ``contact``, to be sent over the live channel to them only."""
        if not 0 <= one_time <= MAX_ONE_TIME or lifetime <= 0:
            raise ValueError("bad grant parameters")
        expires = now + lifetime
        keys = [Prekey.generate(PrekeyKind.ONE_TIME) for _ in range(one_time)]
        last = Prekey.generate(PrekeyKind.LAST_RESORT, expires)
        grant = Grant(new_token(), tuple(k.public() for k in keys), last.public(), expires)
        self._grants[grant.token_hash] = _GrantKeys(
            validate_username(contact), grant.token_hash, {k.id: k for k in keys}, last, set()
        )
        self.generation += 1
        return grant

    def revoke(self, contact: str) -> None:
        """Forget every grant and session of ``contact`` (``/forget``, block)."""
        self._grants = {h: g for h, g in self._grants.items() if g.contact != contact}
        self._sessions = {i: s for i, s in self._sessions.items() if s.contact != contact}
        self.generation += 1

    def prune(self, now: int) -> None:
        """Delete grants whose last-resort prekey expired by ``now`` (and their keys)."""
        expired = {h for h, g in self._grants.items() if (g.last_resort.expires or 0) <= now}
        for digest in expired:
            del self._grants[digest]
        self.generation += 1

    def one_time_left(self, contact: str) -> int:
        return sum(len(g.one_time) for g in self._grants.values() if g.contact == contact)

    def token_hashes(self) -> dict[bytes, str]:
        """``SHA-256(token)`` of every live grant and its contact (for the tracker)."""
        return {digest: g.contact for digest, g in self._grants.items()}

    def open(self, envelope: bytes) -> Opened:
        """The plaintext of ``envelope``; see the module for what it changes and refuses."""
        if envelope_kind(envelope) == KIND_OPENING:
            return self._open_session(envelope)
        return self._open_message(envelope)

    def _find_prekey(self, prekey_id: bytes) -> tuple[_GrantKeys, Prekey]:
        for keys in self._grants.values():
            if prekey_id in keys.one_time:
                return keys, keys.one_time[prekey_id]
            if secrets.compare_digest(prekey_id, keys.last_resort.id):
                return keys, keys.last_resort
        raise UnknownPrekeyError("the opening names a prekey this user does not hold")

    def _open_session(self, envelope: bytes) -> Opened:
        parsed = parse_opening(envelope)
        keys, prekey = self._find_prekey(parsed.prekey_id)
        sender, session_id, root = read_opening(
            self._identity.private_key, self.username, prekey, keys.token_hash, parsed.handshake
        )
        next_chain, message_key = chain_step(root)
        ad = opening_body_ad(parsed.header, session_id)
        plaintext = open_body(message_key, ad, parsed.body)
        if session_id in self._sessions:
            # Session ids travel in clear in chained headers: another contact who read one
            # off the tracker must not take over (or reset) that session.
            raise MailboxReplayError("a session with this id is already open")
        if prekey.kind is PrekeyKind.LAST_RESORT:
            if session_id in keys.seen:
                raise MailboxReplayError("this session was already opened")
            if len(keys.seen) >= MAX_LAST_RESORT_SESSIONS:
                raise GrantError("the last-resort prekey opened too many sessions")
            keys.seen.add(session_id)
        else:
            del keys.one_time[prekey.id]
        self._sessions = {
            i: s
            for i, s in self._sessions.items()
            if not secrets.compare_digest(s.sender_static, sender)
        }
        self._sessions[session_id] = _Session(keys.contact, sender, next_chain, 1)
        self.generation += 1
        return Opened(keys.contact, sender, session_id, 0, plaintext, 0, True)

    def _open_message(self, envelope: bytes) -> Opened:
        parsed = parse_message(envelope)
        session = self._sessions.get(parsed.session_id)
        if session is None:
            raise UnknownSessionError("no open session has this id")
        if parsed.n < session.n:
            raise MailboxReplayError("this message was already opened or skipped")
        missing = parsed.n - session.n
        if missing > MAX_SKIP:
            raise MailboxGapError(f"more than {MAX_SKIP} messages missing")
        chain = session.chain
        for _ in range(missing):
            chain, _skipped = chain_step(chain)
        next_chain, message_key = chain_step(chain)
        plaintext = open_body(message_key, parsed.header, parsed.body)
        session.chain, session.n = next_chain, parsed.n + 1
        self.generation += 1
        return Opened(
            session.contact,
            session.sender_static,
            parsed.session_id,
            parsed.n,
            plaintext,
            missing,
        )

    def to_bytes(self) -> bytes:
        """The state, for the caller to keep sealed; the identity key is not in it."""
        grants = [
            {
                "contact": g.contact,
                "token_hash": _b64(g.token_hash),
                "one_time": [k.to_dict() for k in g.one_time.values()],
                "last_resort": g.last_resort.to_dict(),
                "seen": sorted(_b64(i) for i in g.seen),
            }
            for g in self._grants.values()
        ]
        sessions = [
            {
                "id": _b64(i),
                "contact": s.contact,
                "sender": _b64(s.sender_static),
                "chain": _b64(s.chain),
                "n": s.n,
            }
            for i, s in self._sessions.items()
        ]
        return encode_object(
            {
                "v": STATE_VERSION,
                "username": self.username,
                "grants": grants,
                "sessions": sessions,
                "generation": self.generation,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes, identity: IdentityKey) -> MailboxReceiver:
        """Raises :class:`~crypto.errors.MailboxStateError` for anything malformed."""
        try:
            obj = decode_object(data)
            if obj.keys() != _STATE_FIELDS or obj["v"] != STATE_VERSION:
                raise MailboxStateError("not a version 1 mailbox receiver state")
            receiver = cls(identity, obj["username"])
            receiver.generation = _int(obj["generation"])
            for g in obj["grants"]:
                keys = _GrantKeys(
                    validate_username(g["contact"]),
                    _sized(g["token_hash"], HASHLEN),
                    {k.id: k for k in map(Prekey.from_dict, g["one_time"])},
                    Prekey.from_dict(g["last_resort"]),
                    {_sized(i, SESSION_ID_LEN) for i in g["seen"]},
                )
                if keys.last_resort.kind is not PrekeyKind.LAST_RESORT or any(
                    k.kind is not PrekeyKind.ONE_TIME for k in keys.one_time.values()
                ):
                    raise MailboxStateError("prekey of the wrong kind in receiver state")
                receiver._grants[keys.token_hash] = keys
            for s in obj["sessions"]:
                receiver._sessions[_sized(s["id"], SESSION_ID_LEN)] = _Session(
                    validate_username(s["contact"]),
                    _sized(s["sender"], DHLEN),
                    _sized(s["chain"], HASHLEN),
                    _int(s["n"]),
                )
        except MailboxStateError:
            raise
        except (P2PChatError, KeyError, TypeError, ValueError, AttributeError):
            raise MailboxStateError("corrupt mailbox receiver state") from None
        return receiver

    def __repr__(self) -> str:
        return f"MailboxReceiver(username={self.username!r}, sessions={len(self._sessions)})"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _sized(value: Any, size: int) -> bytes:
    if not isinstance(value, str):
        raise MailboxStateError("a state field is not base64")
    try:
        data = base64.b64decode(value.encode("ascii"), validate=True)
    except ValueError:
        raise MailboxStateError("a state field is not base64") from None
    if len(data) != size:
        raise MailboxStateError("a state field has the wrong size")
    return data


def _int(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise MailboxStateError("a state field is not a counter")
    return value
