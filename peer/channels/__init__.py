"""End-to-end channels: the shell, the dialer, the Noise link over TCP or the relay, the listener.

Also the write watch, the inbound limits and the dial policy the shell applies.
"""
