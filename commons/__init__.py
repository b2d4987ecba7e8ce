"""Code shared by the tracker and the peer: framing, JSON codec, models, errors."""
