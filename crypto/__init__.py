"""p2pchat crypto package: identity keys and the end-to-end encrypted channel, sans-I/O.

``identity`` (the X25519 key pair), ``keystore`` (the key encrypted at rest),
``fingerprint`` (fingerprints, safety numbers), ``pinning`` (trust on first use),
``authorization`` (the accept/refuse policy for a remote identity), ``primitives`` (the
Noise cipher suite and ML-KEM-768 over ``cryptography``), ``noise`` (the Noise framework,
with the hybrid XXhfs pattern and the mailbox's one-way XEKhfs),
``channel`` (what the peer uses) and ``mailbox`` (the sealed mailbox's prekeys, grants and
sessions, issue 22, in progress). See docs/SECURITY.md, "End-to-end channel".
"""
