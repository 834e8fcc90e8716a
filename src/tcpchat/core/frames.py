"""WebSocket text frames as a server writes them (RFC 6455 §5.2); no I/O.

A browser member gets each event as one text frame holding one JSON object
(docs/web.md). A frame from a server is not masked, so an event's frame is the
same bytes for every reader: the hub makes it once per event, in the
:data:`~tcpchat.core.render.Rendering.WEBSOCKET` rendering, and hands the same
frames to every browser in the room, exactly as it hands the same JSON lines
to every ``tcpchat connect``.

The header is two bytes and, for a longer payload, its length::

    0x81            FIN set, opcode 1 (text)
    0x00-0x7d       the payload's length, up to 125 bytes; no mask bit
    0x7e + 2 bytes  a length up to 65,535, big-endian
    0x7f + 8 bytes  any longer length, big-endian

Everything else the web door sends (the handshake's answer, pongs, the close
frame) is websockets' to write; this module makes only the frames of events.
"""

from __future__ import annotations

#: The first byte of every event's frame: FIN (the whole message) and opcode 1, text.
FIN_TEXT = 0x81
#: Longest payload whose length fits in the second byte.
MAX_SHORT_LENGTH = 125
#: Longest payload whose length fits in the two bytes after the marker 126.
MAX_MEDIUM_LENGTH = 0xFFFF
#: The second byte's markers for a 16-bit and a 64-bit length that follows.
MEDIUM_LENGTH = 126
LONG_LENGTH = 127


def text_frame(payload: bytes) -> bytes:
    """``payload`` (UTF-8 text) as one unmasked, unfragmented WebSocket text frame."""
    length = len(payload)
    if length <= MAX_SHORT_LENGTH:
        header = bytes((FIN_TEXT, length))
    elif length <= MAX_MEDIUM_LENGTH:
        header = bytes((FIN_TEXT, MEDIUM_LENGTH)) + length.to_bytes(2, "big")
    else:
        header = bytes((FIN_TEXT, LONG_LENGTH)) + length.to_bytes(8, "big")
    return header + payload
