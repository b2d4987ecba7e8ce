"""The peer's side of the tracker: TLS link, wire codec, typed replies and pushes, reconnect.

Also the tracker pins, the login memory and the credentials a session logs in with.
"""
