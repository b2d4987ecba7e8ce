"""The mailbox's cryptographic core (issue 22, in progress), sans-I/O.

``prekeys`` (prekeys and the :class:`Grant` a recipient hands one contact), ``opening``
(the one-way hybrid Noise ``XEKhfs`` opening, the chained messages, padding, the wire
formats), ``sender`` (:class:`MailboxSender`, one per recipient) and ``receiver``
(:class:`MailboxReceiver`, one per account). See docs/SECURITY.md, *Mailbox cryptography
(issue 22, in progress)*, and docs/PROTOCOL.md, *Mailbox (in progress)*.
"""

from crypto.mailbox.opening import BUCKETS, MAX_PLAINTEXT, PROTOCOL_NAME
from crypto.mailbox.prekeys import (
    MAX_GRANT_BYTES,
    MAX_ONE_TIME,
    Grant,
    Prekey,
    PrekeyKind,
    PrekeyPublic,
    token_hash,
)
from crypto.mailbox.receiver import MAX_SKIP, MailboxReceiver, Opened
from crypto.mailbox.sender import MailboxSender

__all__ = [
    "BUCKETS",
    "MAX_GRANT_BYTES",
    "MAX_ONE_TIME",
    "MAX_PLAINTEXT",
    "MAX_SKIP",
    "PROTOCOL_NAME",
    "Grant",
    "MailboxReceiver",
    "MailboxSender",
    "Opened",
    "Prekey",
    "PrekeyKind",
    "PrekeyPublic",
    "token_hash",
]
