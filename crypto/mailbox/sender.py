"""The sending side of one contact's mailbox: the grant it was given and its session.

One :class:`MailboxSender` per recipient. The first :meth:`MailboxSender.seal` opens a
session with a prekey of the grant (a one-time one while any is left, each used once and
dropped; then the last-resort one until it expires), later ones are chained messages.

**State and key reuse.** :meth:`MailboxSender.seal` advances the chain before it returns
the envelope, and :meth:`MailboxSender.to_bytes` holds only the *next* chain key and the
prekeys not yet used. The caller must store the new state (sealed, replacing the old
one atomically) **before** it hands the envelope to the network: then a crash never
seals two messages under one key, and a state that is restored holds no key already
used. Restoring an *older* copy would bring used keys back; the state cannot prevent
that by itself, so the peer must never keep one (``generation`` grows by one per seal,
so a store can refuse to go backwards).
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from commons.codec import decode_object, encode_object
from commons.errors import P2PChatError
from commons.models import validate_username
from crypto.errors import GrantError, MailboxStateError
from crypto.identity import IdentityKey
from crypto.mailbox.opening import (
    MAX_COUNTER,
    SESSION_ID_LEN,
    chain_step,
    message_header,
    opening_body_ad,
    seal_body,
    write_opening,
)
from crypto.mailbox.prekeys import Grant, PrekeyPublic
from crypto.primitives import DHLEN, HASHLEN

STATE_VERSION = 1
_STATE_FIELDS = frozenset({"v", "recipient", "recipient_key", "grant", "session", "generation"})


class MailboxSender:
    """Seals messages for one recipient, who handed this user ``grant``.

    ``recipient_static`` is the recipient's pinned identity key (the one the grant came
    over the live channel from). ``repr`` never shows key material.
    """

    __slots__ = (
        "_chain",
        "_grant",
        "_identity",
        "_n",
        "_session_id",
        "generation",
        "recipient",
        "recipient_static",
    )

    def __init__(
        self, identity: IdentityKey, recipient: str, recipient_static: bytes, grant: Grant
    ) -> None:
        if len(recipient_static) != DHLEN:
            raise ValueError("an identity key is 32 bytes")
        self._identity = identity
        self.recipient = validate_username(recipient)
        self.recipient_static = recipient_static
        self._grant = grant
        self._session_id: bytes | None = None
        self._chain: bytes | None = None
        self._n = 0
        self.generation = 0

    @property
    def grant(self) -> Grant:
        """The grant with only the one-time prekeys not yet used."""
        return self._grant

    @property
    def session_id(self) -> bytes | None:
        return self._session_id

    @property
    def next_counter(self) -> int:
        return self._n

    def replace_grant(self, grant: Grant) -> None:
        """A new grant from the recipient (a refill, or a new token): the next message
        opens a new session with it, which replaces the old one at the recipient."""
        self._grant = grant
        self._session_id = None
        self._chain = None
        self._n = 0

    def seal(self, plaintext: bytes, now: int) -> bytes:
        """The envelope for ``plaintext``: an opening if no session is open, else the next
        chained message. Store :meth:`to_bytes` before sending it (see the module).

        Raises :class:`~crypto.errors.GrantError` when a session must be opened and the
        grant has no one-time prekey left and its last-resort prekey expired by ``now``;
        :class:`~crypto.errors.EnvelopeError` for a plaintext above 64 KiB.
        """
        if self._chain is None or self._session_id is None or self._n >= MAX_COUNTER:
            return self._open(plaintext, now)
        next_chain, message_key = chain_step(self._chain)
        header = message_header(self._session_id, self._n)
        envelope = header + seal_body(message_key, header, plaintext)
        self._chain, self._n = next_chain, self._n + 1
        self.generation += 1
        return envelope

    def _open(self, plaintext: bytes, now: int) -> bytes:
        grant = self._grant
        rest: tuple[PrekeyPublic, ...]
        if grant.one_time:
            prekey, rest = grant.one_time[0], grant.one_time[1:]
        elif now < grant.expires:
            prekey, rest = grant.last_resort, ()
        else:
            raise GrantError("the grant is spent: no one-time prekey left, last resort expired")
        session_id = secrets.token_bytes(SESSION_ID_LEN)
        head, root = write_opening(
            self._identity.private_key,
            self.recipient,
            self.recipient_static,
            prekey,
            grant.token_hash,
            session_id,
        )
        next_chain, message_key = chain_step(root)
        body = seal_body(message_key, opening_body_ad(head[:10], session_id), plaintext)
        self._grant = Grant(grant.token, rest, grant.last_resort, grant.expires)
        self._session_id, self._chain, self._n = session_id, next_chain, 1
        self.generation += 1
        return head + body

    def to_bytes(self) -> bytes:
        """The state, for the caller to keep sealed; the identity key is not in it."""
        session = None
        if self._session_id is not None and self._chain is not None:
            session = {"id": _b64(self._session_id), "chain": _b64(self._chain), "n": self._n}
        return encode_object(
            {
                "v": STATE_VERSION,
                "recipient": self.recipient,
                "recipient_key": _b64(self.recipient_static),
                "grant": self._grant.to_dict(),
                "session": session,
                "generation": self.generation,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes, identity: IdentityKey) -> MailboxSender:
        """Raises :class:`~crypto.errors.MailboxStateError` for anything malformed."""
        try:
            obj = decode_object(data)
            if obj.keys() != _STATE_FIELDS or obj["v"] != STATE_VERSION:
                raise MailboxStateError("not a version 1 mailbox sender state")
            sender = cls(
                identity,
                obj["recipient"],
                _unb64(obj["recipient_key"]),
                Grant.from_dict(obj["grant"]),
            )
            sender.generation = _int(obj["generation"])
            session = obj["session"]
            if session is not None:
                session_id, chain = _unb64(session["id"]), _unb64(session["chain"])
                if len(session_id) != SESSION_ID_LEN or len(chain) != HASHLEN:
                    raise MailboxStateError("bad session in mailbox sender state")
                sender._session_id, sender._chain = session_id, chain
                sender._n = _int(session["n"])
        except MailboxStateError:
            raise
        except (P2PChatError, KeyError, TypeError, ValueError, AttributeError):
            raise MailboxStateError("corrupt mailbox sender state") from None
        return sender

    def __repr__(self) -> str:
        return f"MailboxSender(recipient={self.recipient!r}, n={self._n})"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise MailboxStateError("a state field is not base64")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except ValueError:
        raise MailboxStateError("a state field is not base64") from None


def _int(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise MailboxStateError("a state field is not a counter")
    return value
