"""Sockets before the protocol: listener, per-source admission, TLS context and certificate.

Also the file-descriptor limit.
"""
