"""Benchmark of the crypto channel: handshakes per second and transport throughput.

Measures, in one run so the figures are comparable on a noisy shared machine:

* handshakes per second, side by side: the classical ``Noise_XX_25519_AESGCM_SHA256``
  and the hybrid ``Noise_XXhfs_25519+MLKEM768_AESGCM_SHA256`` driven the same way
  (:class:`HandshakeState` pairs, the channel's identity payloads, variants alternating
  within each repeat), and the hybrid through :class:`SecureChannel` (authorize
  included), which is what peers run; plus the bytes each handshake puts on the wire;
* encrypt + decrypt throughput through ``SecureChannel`` for 200-byte and 16 KiB
  messages, next to the raw ``AESGCM`` primitive doing the same encrypt + decrypt, and
  the ratio between the two (the channel's overhead);
* unlocking the identity key file (Argon2id with the default cost), for reference;
* the time for a 16th member to join a room of 15 (``bench/p2p.py``'s measurement), now
  with hybrid handshakes: 15 channels opened by the joiner.

Each figure is the median of ``--repeats`` timed runs. Run from the repository root:
``python3 bench/crypto_channel.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cryptography
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bench.p2p import bench_join
from commons.framing import HEADER_SIZE
from crypto.channel import PATTERN, PROLOGUE, SecureChannel, encode_identity_payload
from crypto.identity import IdentityKey
from crypto.keystore import DEFAULT_KDF_PARAMS, open_identity, seal_identity
from crypto.noise import HandshakeState

CLASSICAL_PROLOGUE = b"p2pchat/1 Noise_XX_25519_AESGCM_SHA256"

ALICE = IdentityKey.generate()
BOB = IdentityKey.generate()


def _accept(_username: str, _key: bytes) -> None:
    return None


def _pair() -> tuple[SecureChannel, SecureChannel]:
    alice = SecureChannel(initiator=True, identity=ALICE, username="alice", authorize=_accept)
    bob = SecureChannel(initiator=False, identity=BOB, username="bob", authorize=_accept)
    out3 = alice.receive(bob.receive(alice.start()).send[0])
    bob.receive(out3.send[0])
    return alice, bob


def _median_rate(run: Callable[[], int], repeats: int) -> float:
    """Median of ``units / seconds`` over ``repeats`` runs of ``run`` (returns units)."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        units = run()
        rates.append(units / (time.perf_counter() - start))
    return statistics.median(rates)


def handshake_messages(pattern: str, prologue: bytes) -> list[bytes]:
    """One complete handshake between two :class:`HandshakeState` objects; its messages."""
    initiator = HandshakeState(pattern, True, prologue, s=ALICE.private_key)
    responder = HandshakeState(pattern, False, prologue, s=BOB.private_key)
    msg1 = initiator.write_message(b"")
    responder.read_message(msg1)
    msg2 = responder.write_message(encode_identity_payload("bob"))
    initiator.read_message(msg2)
    msg3 = initiator.write_message(encode_identity_payload("alice"))
    responder.read_message(msg3)
    return [msg1, msg2, msg3]


VARIANTS: dict[str, Callable[[], object]] = {
    "classical XX (HandshakeState)": lambda: handshake_messages("XX", CLASSICAL_PROLOGUE),
    "hybrid XXhfs (HandshakeState)": lambda: handshake_messages(PATTERN, PROLOGUE),
    "hybrid SecureChannel (peers)": _pair,
}


def bench_handshakes(count: int, repeats: int) -> dict[str, float]:
    """Handshakes/s per variant; the variants alternate within each repeat."""
    rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(repeats):
        for name, run_one in VARIANTS.items():
            start = time.perf_counter()
            for _ in range(count):
                run_one()
            rates[name].append(count / (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in rates.items()}


def wire_bytes(messages: list[bytes]) -> str:
    framed = sum(len(m) + HEADER_SIZE for m in messages)
    sizes = " + ".join(str(len(m)) for m in messages)
    return f"{sizes} = {sum(len(m) for m in messages)} B ({framed} B framed)"


def bench_channel(size: int, count: int, repeats: int) -> float:
    """MiB/s of plaintext through encrypt + decrypt on an established channel."""
    payload = os.urandom(size)
    pairs = [_pair() for _ in range(repeats)]

    def run() -> int:
        alice, bob = pairs.pop()
        for _ in range(count):
            bob.receive(alice.encrypt(payload))
        return size * count

    return _median_rate(run, repeats) / 2**20


def bench_raw_aesgcm(size: int, count: int, repeats: int) -> float:
    """MiB/s of plaintext through AESGCM encrypt + decrypt with counter nonces."""
    payload = os.urandom(size)
    aead = AESGCM(os.urandom(32))
    prefix = bytes(4)

    def run() -> int:
        for n in range(count):
            nonce = prefix + n.to_bytes(8, "big")
            aead.decrypt(nonce, aead.encrypt(nonce, payload, b""), b"")
        return size * count

    return _median_rate(run, repeats) / 2**20


def bench_key_unlock(repeats: int) -> float:
    """Median seconds to open an identity key file with the default Argon2id cost."""
    sealed = seal_identity(ALICE, "alice", "benchmark password", DEFAULT_KDF_PARAMS)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        open_identity(sealed, "alice", "benchmark password")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--handshakes", type=int, default=300)
    parser.add_argument("--small-messages", type=int, default=50000)
    parser.add_argument("--large-messages", type=int, default=5000)
    parser.add_argument("--join-repeats", type=int, default=5)
    args = parser.parse_args()

    print(
        f"python {platform.python_version()}, cryptography {cryptography.__version__}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}; median of {args.repeats} runs"
    )
    rates = bench_handshakes(args.handshakes, args.repeats)
    for name, rate in rates.items():
        print(f"{name:<31} {rate:8.0f} handshakes/s ({1000 / rate:.2f} ms, both sides)")
    classical, hybrid = (
        rates["classical XX (HandshakeState)"],
        rates["hybrid XXhfs (HandshakeState)"],
    )
    print(f"hybrid / classical handshake rate: {hybrid / classical:.2f}")
    print(f"wire, classical: {wire_bytes(handshake_messages('XX', CLASSICAL_PROLOGUE))}")
    print(f"wire, hybrid:    {wire_bytes(handshake_messages(PATTERN, PROLOGUE))}")
    for label, size, count in (
        ("200 B", 200, args.small_messages),
        ("16 KiB", 16 * 1024, args.large_messages),
    ):
        channel = bench_channel(size, count, args.repeats)
        raw = bench_raw_aesgcm(size, count, args.repeats)
        msgs = channel * 2**20 / size
        print(
            f"{label:>6} encrypt+decrypt: channel {channel:8.1f} MiB/s ({msgs:8.0f} msg/s), "
            f"raw AESGCM {raw:8.1f} MiB/s, channel/raw = {channel / raw:.2f}"
        )
    unlock = bench_key_unlock(args.repeats)
    print(f"identity key unlock (Argon2id {DEFAULT_KDF_PARAMS}): {unlock * 1000:.0f} ms")
    asyncio.run(bench_join(args.join_repeats))


if __name__ == "__main__":
    main()
