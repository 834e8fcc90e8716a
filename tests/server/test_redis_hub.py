"""The cluster hub's pure helpers: how an event travels on a room's stream (no Redis)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from tcpchat.core.events import Event
from tcpchat.core.render import to_json
from tcpchat.irc.render import ChannelNotice
from tcpchat.server.redis_hub import _stream_document, _with_id
from tests.support.samples import SAMPLES


@pytest.mark.parametrize("event", [event for event, _ in SAMPLES], ids=lambda e: type(e).__name__)
def test_an_event_read_back_takes_its_id_as_replace_would_give_it(event: Event) -> None:
    """Every event type, given the cluster's id, equals dataclasses.replace(event, id=...)."""
    assert _with_id(event, 4_242) == dataclasses.replace(event, id=4_242)


def test_an_irc_channel_notice_read_back_takes_its_id_and_stays_a_notice() -> None:
    """A front door's own kind of event (IRC's NOTICE #room) comes back with its id, as the
    same kind: reading it must not stop the node's reader."""
    notice = ChannelNotice(0, SAMPLES[0][0].ts, "bob", "build is green", "#dev")
    assert _with_id(notice, 7) == ChannelNotice(7, notice.ts, "bob", "build is green", "#dev")


@pytest.mark.parametrize("event", [event for event, _ in SAMPLES], ids=lambda e: type(e).__name__)
def test_a_stream_document_is_the_json_rendering_with_id_zero(event: Event) -> None:
    """A room stream carries each event as the JSON rendering gives it, with id 0."""
    document = _stream_document(event)
    assert json.loads(document) == to_json(dataclasses.replace(event, id=0))
