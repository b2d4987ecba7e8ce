"""The client's keys and trust decisions: fingerprints, safety numbers, /trust, /verify,
/reject. A part of the :class:`peer.client.chat_client.ChatClient` facade; the rules are the
:class:`peer.client.trust_gate.TrustGate`'s and the pin store's (:mod:`crypto.pinning`).
"""

from __future__ import annotations

from commons.models import validate_username
from crypto.pinning import TrustState
from peer.client.client_base import ClientBase


class TrustCommands(ClientBase):
    def _listed(self, username: str | None) -> bytes | None:
        return None if username is None else self._require()[0].listed_key(username)

    def fingerprint(self, username: str | None = None, key: bytes | None = None) -> str:
        """Your key's fingerprint, or ``key``'s, or the one of the key to show for
        ``username`` (the newest undecided key, else the pinned one, else the listed one)."""
        return self._require()[1].fingerprint(username, key, self._listed(username))

    def safety_number(self, username: str, key: bytes | None = None) -> str:
        """The 60-digit number to compare with ``username`` out of band, for ``key``
        (default: the key :meth:`fingerprint` shows for them)."""
        return self._require()[1].safety_number(username, key, self._listed(username))

    def trust_state(self, username: str) -> TrustState | None:
        return self._require()[1].state(username)

    def pinned_key(self, username: str) -> bytes | None:
        return self._require()[1].pinned_key(username)

    def pending_keys(self, username: str) -> tuple[bytes, ...]:
        """``username``'s keys waiting for a decision, oldest first."""
        return self._require()[1].pending_keys(username)

    def key_to_trust(self, username: str, typed_fingerprint: str | None = None) -> bytes:
        """The key ``/trust USER [FINGERPRINT]`` names (see :meth:`PinStore.key_to_trust`)."""
        return self._require()[1].key_to_trust(username, typed_fingerprint)

    def key_to_verify(self, username: str, typed_fingerprint: str | None = None) -> bytes:
        """The key ``/verify USER [FINGERPRINT]`` names (see :meth:`PinStore.key_to_verify`)."""
        listed = self._listed(validate_username(username))
        return self._require()[1].key_to_verify(username, typed_fingerprint, listed)

    async def trust(self, username: str, key: bytes) -> None:
        """Accept ``key``, the exact key the user was shown, as ``username``'s; reconnect.
        ``KeyNotPendingError`` (nothing changed) if it is no longer waiting for a decision."""
        driver, trust = self._require()
        await trust.trust(username, key)
        driver.apply(driver.core.trust_restored(validate_username(username)))

    async def verify(self, username: str, key: bytes) -> None:
        """Safety numbers were compared for exactly ``key``: the pinned key is marked
        verified; an undecided key is accepted and marked verified. A verified contact
        may now get our address over a relayed channel (``--direct-private verified``)."""
        driver, trust = self._require()
        username = validate_username(username)
        if await trust.verify(username, key):
            driver.apply(driver.core.trust_restored(username))
        driver.offer_endpoint(username)

    async def reject(self, username: str) -> tuple[bytes, ...]:
        """Keep the pinned key, refuse every undecided one (returned), and reconnect."""
        driver, trust = self._require()
        refused = await trust.reject(username)
        driver.apply(driver.core.trust_restored(validate_username(username)))
        return refused
