"""Events as WebSocket text frames: the header of RFC 6455 §5.2, one frame an event."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode

from tcpchat.core.events import Event
from tcpchat.core.frames import text_frame
from tcpchat.core.hub import Peer, Room
from tcpchat.core.render import Rendering, encode
from tests.support.fakes import FakeTransport
from tests.support.samples import SAMPLES


def reference_frame(payload: bytes) -> bytes:
    """The frame websockets writes for ``payload``, as a server (unmasked)."""
    return Frame(Opcode.TEXT, payload).serialize(mask=False)


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65_535, 65_536, 100_000])
def test_a_text_frame_is_what_websockets_writes(length: int) -> None:
    """Each length form (7, 16 and 64 bits, at their edges) matches websockets' own framing."""
    payload = b"x" * length
    assert text_frame(payload) == reference_frame(payload)


@pytest.mark.parametrize("event", [event for event, _ in SAMPLES])
def test_every_event_is_one_frame_of_its_json_line(event: Event) -> None:
    """In the WebSocket rendering an event is one text frame holding its JSON object."""
    line = encode(event, Rendering.JSON)
    assert encode(event, Rendering.WEBSOCKET) == reference_frame(line.removesuffix(b"\n"))


@pytest.mark.parametrize("framed_first", [True, False])
def test_a_connection_that_frames_json_is_written_frames(framed_first: bool) -> None:
    """A WebSocket's peer is written WEBSOCKET, in one room or several, and its choice
    stays JSON, whichever of the two its door sets first."""
    peer = Peer(FakeTransport())
    if framed_first:
        peer.json_only = True
        peer.rendering = Rendering.JSON
    else:
        peer.rendering = Rendering.JSON
        peer.json_only = True
    peer.rooms = {Room("#a"): None, Room("#b"): None}
    peer.rooms_changed()
    assert (peer.rendering, peer.wire_rendering) == (Rendering.JSON, Rendering.WEBSOCKET)
