"""The hub of a cluster: many tcpchat servers, one chat, through Redis (``docs/scaling.md``).

:class:`RedisHub` is a :class:`~tcpchat.server.local_hub.LocalHub` whose rooms
span every node. A node keeps its own members and fans out to them with the
local hub's coalesced writes; Redis carries each room event once per node:

- **Publishing** puts the event on this node's outbox (O(1), no I/O). The sender
  sends what a pass published in one Lua script: it takes the events' ids from
  the cluster's counter and appends each to its room's Stream, atomically, so
  that no node can slip an id in between and each room's stream order is its id
  order. Up to ``SCRIPTS_IN_FLIGHT`` passes' scripts are on their way at once, on
  a connection of their own (Redis runs them in the order sent), and a room this
  node has read up to just before a script's events hears them as it is
  answered. (Redis Cluster would need the counter and the rooms in one slot, or
  ids taken first and appends refused when a later id landed: ``docs/scaling.md``
  says why one script won, measured.)
- **Reading**: one ``XREAD BLOCK`` over the streams of the rooms this node's
  members are in, the node's inbox (``/msg``) and the presence feed, each from
  the last id read, so that a node that loses Redis and gets it back resumes
  where it was. What comes off a room's stream goes to the local hub's room log,
  the node's own events included: every member on every node sees the room in
  the stream's order. A member's own replies wait for what it said to come back
  first, so that nothing overtakes it.
- **Names and views**: a nickname is held cluster-wide by ``SET NX`` on its
  lookalike key, with a TTL that the node's heartbeat refreshes. The node's
  members are described in its presence hash and on the presence feed, which
  every node mirrors (:mod:`tcpchat.server.cluster_view`): ``/users``,
  ``/rooms``, ``/whois`` and ``/msg`` are answered from the mirror at once.
- **Faults**: a node whose heartbeat key expires is swept by exactly one other
  node (the one whose ``SREM`` removes it), which announces its users as gone and
  frees their nicknames. While Redis is away the node pauses (one notice to each
  member; input is refused with ``cluster_unavailable``), and when it comes back
  the node resumes, re-registering everything if Redis came back empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import os
import secrets
import socket
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import (
    NoPermissionError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    ResponseError,
)

from tcpchat.config import DEFAULT_ROOM_STREAM_MAX
from tcpchat.core.errors import (
    ClusterUnavailable,
    CommandError,
    NickTaken,
    RemoteProtocolError,
    StoreError,
)
from tcpchat.core.events import (
    AIAnswer,
    AIDelta,
    Error,
    Event,
    EventClock,
    Join,
    Kick,
    Leave,
    ModeChange,
    NickChange,
    Notice,
    Part,
    PrivateMessage,
    SearchFailed,
    SearchStarted,
)
from tcpchat.core.hub import DEFAULT_MAX_QUEUE_BYTES, Peer, Room, kept_quiet
from tcpchat.core.moderation import Ban
from tcpchat.core.nicks import nick_key, nick_skeleton
from tcpchat.core.render import Encoder, Rendering, encode, to_json
from tcpchat.core.rooms import RoomRules, room_key
from tcpchat.server import cluster_scripts as lua
from tcpchat.server.cluster_moderation import (
    HOLD_FULL,
    SAID,
    ClusterModeration,
    HeldLine,
    HeldReply,
)
from tcpchat.server.cluster_reading import ErrorReply, ReplyReader
from tcpchat.server.cluster_view import (
    ClusterRoom,
    Presence,
    RemotePeer,
    comings_owed,
    presence_of,
)
from tcpchat.server.cluster_wire import (
    Entries,
    bulk_strings,
    client_fields,
    command,
    event_arguments,
    id_number,
    parse_stream_document,
    stream_document,
    with_id,
    xread_entries,
)
from tcpchat.server.history import RoomHistory, leave_record, said_record
from tcpchat.server.local_hub import LocalHub, _check_free
from tcpchat.store.base import StoredEvent
from tcpchat.store.redis import (
    CONNECT_TIMEOUT,
    DEFAULT_PREFIX,
    MIN_REDIS_VERSION,
    REPLY_TIMEOUT,
    RedisKeys,
    ban_from_json,
    ban_json,
    history_fields,
    redact_url,
    version_of,
)

log = logging.getLogger("tcpchat.cluster")

#: Entries each room's event stream keeps (``MAXLEN ~``): how far a node may fall behind
#: before it skips, and all that Redis holds for a node that is away.
STREAM_CAP = DEFAULT_ROOM_STREAM_MAX
#: Entries a node's inbox and the presence feed keep.
FEED_CAP = 10_000
#: How long a sweep's mark waits for its node to come back and register its members again
#: (a node away for longer, its process still running, would not know it was swept): a week.
SWEPT_MARK_SECONDS = 7 * 24 * 3600
#: Events a node reads back, as it starts reading a room, for the comings and goings that
#: members who joined before were not answered with: far more than land between a join's
#: answer and its script in any room (ClusterRoom.owe).
LOOKED_BACK = 500
#: Entries one XREAD takes from each stream: what a lagging node holds in memory at once.
READ_COUNT = 1_000
#: Milliseconds one XREAD waits for news before it is sent again.
BLOCK_MS = 5_000
#: Multi-room announcements (a leaving, a nick change) remembered, to tell each member once.
ANNOUNCED_REMEMBERED = 1_000
#: Seconds between attempts to reach Redis again while it is away.
RECONNECT_INTERVAL = 0.5
#: Operations kept for Redis while it is away (leavings, presence) or far behind; past
#: that, the oldest go (their authors are told).
MAX_OUTBOX = 10_000
#: Append scripts sent and not yet answered, at most. A busy node sends each pass's
#: events while the last pass's are on their way (Redis runs a connection's commands in
#: the order sent, so ids keep the order of the passes): a line waits for the next pass,
#: not for the last one's round trip as well.
SCRIPTS_IN_FLIGHT = 4
#: What a member may have waiting behind its answer (replies, news, what it hears): past
#: this, what it hears goes out at once, out of its place, rather than grow without bound.
MAX_WAITING_BEHIND = 1_000

PAUSED = (
    "the chat is paused: this server has lost its connection to Redis, which links it to "
    "the other servers; what you send is refused until it is back"
)
#: The same, when Redis answers but refuses the node's writes (at its maxmemory with
#: noeviction, a read-only replica): its operator finds the reason in the server's log.
PAUSED_REFUSED = (
    "the chat is paused: Redis, which links this server to the other servers, answers but "
    "refuses its writes; what you send is refused until it takes them again"
)
RESUMED = "the chat is back: this server reaches Redis again"
REFUSED = "the chat is paused (this server cannot use Redis); this was not sent"
#: Said, once the node is back, to a member whose line (or /join, /nick...) was on its way
#: as Redis was lost and is not in its room's stream: Redis never ran it.
NOT_HEARD = "what you sent as this server lost Redis did not reach the chat; it was not sent"
#: Said to a member whose line a node, too far behind Redis, had no room left to keep.
OVERLOADED = "this server is too far behind to send that; it was not sent"
REDIS_UNREACHABLE = "the cluster's Redis is unreachable"
LOST_RACE = "nickname taken on another server at the same moment"
#: How many of the latest entries of its inbox a node remembers by name, to tell an entry
#: written twice once (redis-py sends a pipeline again if its connection went after Redis
#: ran it): far more than can be on their way at once.
INBOX_REMEMBERED = 10_000
#: Said to the sender of a private message whose recipient its node no longer had.
NOT_DELIVERED = (
    "{nick} left or changed nickname as your message was on its way; it was not delivered"
)
#: At most this many such notices wait for Redis (_tell_undelivered); past it, more are
#: dropped: each waits one round trip, so only a node far behind Redis comes near it.
UNDELIVERED_KEPT = 1_000
#: How many members that lost a race for a nickname a node remembers (_race_lost): such
#: races take two registrations in the same moment, so a handful a day at most.
RACES_REMEMBERED = 1_000
NODE_LOST = "server lost"
#: Told to a member who was an operator of ``room`` (str.format) when its server, back
#: from being counted dead, finds that the others took its powers there as it "left".
POWERS_LOST = (
    "you are no longer an operator of {room}: the other servers lost this one for a while "
    "and saw you leave"
)
SHUTTING_DOWN = "server shutting down"


class ClusterKeys(RedisKeys):
    """The history store's keys, and the cluster's (``docs/scaling.md`` lays them out)."""

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        super().__init__(prefix)
        self.nodes = f"{prefix}:nodes"
        self.presence = f"{prefix}:presence"
        self.topics = f"{prefix}:topics"
        self.epoch = f"{prefix}:epoch"

    def events(self, room_key: str) -> str:
        return f"{self.prefix}:{{{room_key}}}:events"

    def count(self, room_key: str) -> str:
        return f"{self.prefix}:{{{room_key}}}:count"

    def modes(self, room_key: str) -> str:
        return f"{self.prefix}:{{{room_key}}}:modes"

    def node(self, node: str) -> str:
        return f"{self.prefix}:node:{node}"

    def users(self, node: str) -> str:
        return f"{self.prefix}:node:{node}:users"

    def inbox(self, node: str) -> str:
        return f"{self.prefix}:node:{node}:inbox"

    def swept(self, node: str) -> str:
        return f"{self.prefix}:node:{node}:swept"

    def owner(self, nick: str) -> str:
        return f"{self.prefix}:nick:{{{nick_skeleton(nick)}}}:owner"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ClusterClock(EventClock):
    """The ids of the events a node makes for one member alone (replies, notices).

    Room events get their ids from the cluster's counter when they are sent; this
    clock stays above every id the node has seen, so that a reply never carries an
    id below the room events before it.

    Times are whole milliseconds, as the streams carry them: an event's time is the
    same on every node, its own included. Every event of one millisecond shares one
    datetime, whose text a busy room's stream documents then write once (json_time).
    """

    def __init__(self) -> None:
        super().__init__()
        self._last = 0
        self._millisecond = 0
        self._time = _EPOCH

    def seen(self, event_id: int) -> None:
        if event_id > self._last:
            self._last = event_id

    @property
    def latest(self) -> int:
        """The last id this node has made or seen: every id it makes from now is above."""
        return self._last

    def stamp(self) -> tuple[int, datetime]:
        self._last += 1
        millisecond = time.time_ns() // 1_000_000
        if millisecond != self._millisecond:
            self._millisecond = millisecond
            self._time = _EPOCH + timedelta(milliseconds=millisecond)
        return self._last, self._time


# -- what the sender sends ----------------------------------------------------------


@dataclass(slots=True)
class RoomEvent:
    """An event for a room's stream. ``token`` names an announcement sent to several rooms."""

    event: Event
    room_key: str
    exclude: Peer | None
    author: Peer | None
    seq: int
    token: str = ""
    sent: Event | None = None  # as it went to Redis (id 0, the cluster's search id)
    record: StoredEvent | None = None  # its line for the room's history (id 0), if kept
    put_at: float = 0.0  # when it was published (the hub's monotonic clock)
    made: bool = False  # the join that made the room (marked 'c' in its entry)
    elsewhere: bool = False  # told to the other nodes only (_announce_back)
    resent: bool = False  # refused once by Redis, and sent again (_failed_batch)
    # For a room this node does not read (a sweeper's leaving, an AI answer's pieces once
    # its asker left): nothing comes back here, so nothing here waits for it (_in_flight).
    unread: bool = False
    event_id: int = 0  # its id, once its script is answered
    # A sweeper's leaving: the dead node's nicknames are freed once every one of its
    # leavings has its place in its room, or will never have one (_leaving_settled).
    then_free: FreeNicknames | None = None


@dataclass(slots=True, eq=False)
class _OwedNews:
    """News a joiner is owed as its node starts reading a room (``room_key``), waiting for
    the node's other rooms to be read up to that moment (_start_reading): ``owed`` (each
    joiner, the event, its announcement token), then the operators' changes for those
    answered before (``changes``). ``held``: it waits behind an event that waits (_tell),
    and so do the room's events."""

    room_key: str
    owed: list[tuple[Peer, Event, str]]
    answered: list[Peer]
    changes: list[ModeChange]
    held: bool = False


#: A room's entry read, not yet told: what _deliver takes (its id, the room's key, the
#: event, this node's own RoomEvent if it is one, its announcement token, 'made').
_Read = tuple[int, str, Event, RoomEvent | None, str, bool]


@dataclass(slots=True, eq=False)
class _Sent:
    """A pass's append script on its way: its events, each room's slot in it, and when it
    was written (loop time)."""

    events: list[RoomEvent]
    slots: dict[str, int]
    at: float
    first: int = 0  # the first id its answer handed out


@dataclass(frozen=True, slots=True)
class _KnownConnection:
    """A connection as Redis knows it: the run of Redis it is in (``run_id``), and the
    client's id and address there (``CLIENT INFO``)."""

    run_id: str
    client_id: str
    addr: str


@dataclass(slots=True)
class Claim:
    """Take ``nick`` for ``peer`` across the cluster (SET NX)."""

    peer: Peer
    nick: str


@dataclass(slots=True)
class Release:
    """Give back a nickname this node held as ``value``."""

    nick: str
    value: str


@dataclass(slots=True)
class FreeNicknames:
    """A swept node's members gone and their nicknames freed (cluster_scripts.FREE), put
    once their leavings have their places in their rooms (RoomEvent.then_free)."""

    node: str
    keys: list[str]
    nicks: list[str]
    leavings: int = 0  # how many are still to have theirs


@dataclass(slots=True)
class Describe:
    """Write a member's presence record (None: it has left) and tell the feed."""

    key: str
    presence: Presence | None
    node: str = ""
    peer: Peer | None = None  # the member described, when it is this node's


@dataclass(slots=True)
class SetTopic:
    """A room's topic changed: keep it for nodes that are not in the room."""

    room_key: str
    name: str
    text: str
    by: str


@dataclass(slots=True)
class Direct:
    """An event for one user on another node: its inbox."""

    node: str
    key: str
    event: Event
    author: Peer | None


@dataclass(slots=True)
class ShareBan:
    """A ban made or lifted here: the other nodes hold it (or drop it) at once."""

    ban: Ban
    lifted: bool


Operation = RoomEvent | Claim | Release | FreeNicknames | Describe | SetTopic | Direct | ShareBan


class _Waiting(NamedTuple):
    """One of a member's replies, or what it hears, waiting in order (_Held.events)."""

    after: int  # the sequence number of the event of its own it follows
    # When it was made: a reply, the last event id made or seen then; news owed, or another
    # node's event, its id in the stream; an event of this node's, the id it was made with.
    when: int
    item: Event | bytes
    # A coming or going in a room it joins that its answer did not show (_tell_joiner):
    # how the room stood at ``when``, in the stream's order.
    owed: bool = False
    # Whose coming or going it tells (nick keys): news, or what this node's own members
    # did, placed among the replies (_after_news).
    about: frozenset[str] = frozenset()


@dataclass(slots=True)
class _Held:
    """A member's own replies, waiting for what it said to come back from Redis first:
    events, or bytes already in its rendering (an IRC member's replies)."""

    awaiting: int = 0  # the sequence number of its last event still on its way
    events: list[_Waiting] = field(default_factory=list)
    arrived: int = 0  # the highest sequence number of its events told so far
    # Where its answer to a join, the news of the room (_tell_joiner) and the replies made
    # since end in ``events``: what the others say meanwhile goes there (_divert).
    news_end: int = 0


@dataclass(slots=True, eq=False)
class _AnswerAtJoin:
    """A member's answer to a join of a room this node does not read yet, or reads while
    another room of the joiner's is read only so far (_heard_only_so_far). It names the
    other nodes' members as presence, or the room's stream, has them, which can run ahead
    of the joiner's other rooms: a nick change of one of them, in a room the joiner is
    in, may still be on its way to it. So the answer waits for its join's place in the
    stream, and what this node reads from before that place is told first (_divert), as
    a single server tells it.
    ``start``: where its replies begin in the member's _Held.events; ``join``: the join,
    once put; ``first`` and ``last``: the answer's first reply (news of rooms joined
    before goes ahead of it) and last (the room's history follows it)."""

    room_key: str
    start: int
    join: RoomEvent | None = None
    first: _Waiting | None = None
    last: _Waiting | None = None


def new_node_id() -> str:
    """A name for this node that no other will have: host, process and a random part."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class RedisHub(LocalHub):
    """A node's hub in a cluster on Redis (the module's docstring has the design).

    ``start()`` connects (StoreError, the URL's password hidden, if Redis cannot
    be used) and starts the sender, the reader and the heartbeat; ``close()``
    stops them and takes the node off the cluster. With ``history`` (the server's
    :class:`~tcpchat.server.history.RoomHistory`, on the Redis store), each line
    said goes to its room's history stream in the script that appends its event,
    capped at the retention's rows; the other records (leavings, topics,
    sightings) go to ``history`` once their ids are known; and every node replays
    a room's ring to its members who join, as their join comes back.
    ``on_ban`` is told of the bans other nodes make and lift, off the presence feed, and
    ``on_feed_skipped(emptied=...)`` when the node starts that feed again at its newest
    entry (back from being counted dead, or Redis back empty). ``modes`` keeps each room's
    moderation in Redis with the events that change it, loads it as the node starts
    reading a room, and is told of each such event read off a room's stream, once
    delivered here, so that it holds on this node's members.
    """

    def __init__(
        self,
        url: str,
        *,
        node_timeout: float,
        max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES,
        on_drop: Callable[[Peer, str], None] | None = None,
        rules: RoomRules | None = None,
        prefix: str = DEFAULT_PREFIX,
        history: RoomHistory | None = None,
        stream_cap: int = STREAM_CAP,
        node: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        encode: Encoder = encode,
    ) -> None:
        super().__init__(
            max_queue_bytes, on_drop, rules=rules, keeps_room=self._has_remote, encode=encode
        )
        self.url = url
        self.shown_url = redact_url(url)
        self.node = node or new_node_id()
        self.node_timeout = node_timeout
        self.keys = ClusterKeys(prefix)
        self.clock = ClusterClock()
        self.history = history
        self.history_rows = history.settings.history_max_rows if history is not None else 0
        self.on_ban: Callable[[Ban, bool], None] | None = None
        self.on_feed_skipped: Callable[..., None] | None = None
        self.modes: ClusterModeration | None = None
        self.stream_cap = stream_cap
        self._monotonic = monotonic
        self._client: aioredis.Redis | None = None
        # The hot path's two connections, made by a client of their own (see start()).
        self._stream_client: aioredis.Redis | None = None
        self._reading: Any = None  # the connection (redis-py's) that reads the streams
        self._streams_reader: ReplyReader | None = None  # reading it now (None: not)
        self._read_due: float | None = None  # (loop time) an XREAD's reply is due by then
        self._read_timer: asyncio.TimerHandle | None = None
        self._scripts: dict[str, str] = {}
        self._outbox: list[Operation] = []
        self._outbox_ready = asyncio.Event()
        # The append scripts on their way, in the order sent, on one connection of their own.
        self._unanswered: deque[_Sent] = deque()
        self._all_answered = asyncio.Event()
        self._all_answered.set()
        self._scripts_out = 0  # sent and not yet acted on (at most SCRIPTS_IN_FLIGHT)
        self._script_room = asyncio.Event()  # set as each is (room for another)
        self._appender: Any = None  # the connection (redis-py's) that carries them
        # Who Redis says that connection is: closed on Redis's side once the node lost it.
        self._appender_known: _KnownConnection | None = None
        self._cannot_close = False  # Redis refused to say or close (an ACL, a proxy)
        self._answers_reader: ReplyReader | None = None  # reading it now (None: not)
        self._answer_timer: asyncio.TimerHandle | None = None  # for the oldest unanswered
        # Answers that wait for the one before them, which starts reading a room (I/O).
        self._answers: deque[tuple[_Sent, Any]] = deque()
        self._acting: asyncio.Task[None] | None = None  # acts on those, in order
        self._running = asyncio.Event()  # set while Redis answers
        self._tasks: list[asyncio.Task[None]] = []
        self._sender: asyncio.Task[None] | None = None  # one of _tasks: close() lets it finish
        self._sending = False  # the sender is handing a pass to Redis
        self._pass_called = False  # _send_pass is called soon
        self._unsent: list[Operation] = []  # of that pass, what Redis has not taken yet
        self._pass_sent = asyncio.Event()  # set as the sender finishes each pass
        self._recovery: asyncio.Task[None] | None = None
        # A sweep on its way: close() lets it finish (a sweep cut off after its script
        # would leave the dead node's members listed, and their nicknames held).
        self._sweeping: asyncio.Task[None] | None = None
        self._recoveries = 0  # outages the node came back from
        # The rooms each of the other nodes' members was an operator of, by nick key, as
        # the mirror was last taken anew: its powers wait for it to be shown again there.
        self._operators_again: dict[str, set[Room]] = {}
        # Members that lost the race for a nickname (the latest RACES_REMEMBERED): its
        # nick key. Kept past their going: a line of theirs held for a room's moderation
        # may be released after it, and must not go either.
        self._race_lost: dict[Peer, str] = {}
        self._sweep_after = 0.0  # (monotonic) no sweep before it: back from an outage
        self._epoch = ""
        self._closing = False  # the server is shutting down (begin_close)
        self._closed = False  # close() has begun
        self._highest = 0  # the highest event id this node has seen: the id counter's floor
        self._seq = 0
        self._held: dict[Peer, _Held] = {}
        # Joiners whose answers wait until this node's events made before them are told,
        # each with the last sequence number of those (_fence).
        self._fences: dict[Peer, int] = {}
        # Members whose answer to a join waits for their events (with the news of the room
        # they are joining behind it): what the others say meanwhile waits behind (_divert).
        self._diverting: set[Peer] = set()
        # Members whose answers to joins wait for their joins' places (_AnswerAtJoin).
        self._join_answers: dict[Peer, list[_AnswerAtJoin]] = {}
        # The rooms each member of this node is joining: its join is on its way to Redis.
        self._joining: dict[Peer, list[Room]] = {}
        # What the others were last told of each member: its away message, last activity,
        # and whether it is a server operator (_standing).
        self._described: dict[Peer, tuple[str | None, float, bool]] = {}
        self._search_ids: dict[int, int] = {}  # this node's search ids -> the cluster's
        self._announced: OrderedDict[str, set[Peer]] = OrderedDict()
        # Of those told an announcement (_announced), the joiners whose telling waits
        # behind their answer for the room: not told yet where they are full members.
        self._announced_later: dict[str, set[Peer]] = {}
        # Of those told an announcement, those told behind every reply waiting for them,
        # with the latest event id then: an answer made before that is renamed by it.
        self._announced_after: dict[str, dict[Peer, int]] = {}
        # Of those, the rooms whose answers waiting for their joins' places it went ahead
        # of (_ahead_of_answers): there, it is not behind the answer (_told_after_answer).
        self._told_ahead: dict[str, dict[Peer, set[str]]] = {}
        # This node's room events not yet read back, by room key and sequence number:
        # whom each leaves out, and whose replies wait for it.
        self._in_flight: dict[tuple[str, int], RoomEvent] = {}
        # Those whose script was on its way as Redis was lost: it may have run them, and
        # only its answer was lost. Still on their way until the node is back and has
        # looked for them in their rooms' streams (_settle_in_doubt).
        self._in_doubt: list[RoomEvent] = []
        # The others counted this node dead; its members are not yet announced back.
        self._swept = False
        # Where the reader is in each stream: room streams by room key (None: not yet
        # known, until this node's first event in it lands), the inbox and the feed.
        self._positions: dict[str, str | None] = {}
        self._inbox_position = "0-0"
        self._directs = 0  # entries this node wrote to other nodes' inboxes
        # The latest entries read from the inbox, by their own names: one written twice
        # is told once.
        self._inbox_read: OrderedDict[str, None] = OrderedDict()
        # Notices for other nodes' senders whose private message found no one here
        # (node, fields), and the task writing them, apart from the outbox.
        self._undelivered: deque[tuple[str, dict[Any, Any]]] = deque()
        self._telling_undelivered: asyncio.Task[None] | None = None
        self._undelivered_dropped = 0  # since the last log line that counted them
        # Members here who sent a private message to another node, by the name its entry
        # gives them ("f"): a notice that it was not delivered finds its sender by that
        # name, renamed or not, and never someone who took its nickname since.
        self._pm_senders: dict[Peer, str] = {}
        self._pm_senders_by_name: dict[str, Peer] = {}
        self._presence_position = "0-0"
        self._counts: dict[str, int] = {}  # per room: the count of the last entry read
        # Read, not yet told, by room: a coming or going that a member here could hear
        # before something earlier in another of its rooms, and what follows it (_tell).
        self._waiting: dict[str, list[_Read]] = {}
        # Rooms read only up to a known id: started from the one before this node's first
        # event there, cut short by XREAD's count, or left out of a blocked XREAD's reply
        # (_read_rooms). A reply to an XREAD that asked for them has them read up to its
        # moment (_asked: those the one on its way asks for).
        self._read_to: dict[str, int] = {}
        self._asked: tuple[str, ...] = ()
        self._blocking = False  # the XREAD on its way waits for news (BLOCK)
        # Whether Redis answers a blocked XREAD with every stream that has news (7.2 and
        # later), not only the one whose news woke it; taken from its version on connect.
        self._woken_whole = False
        # Rooms being started: this node's first event in each, as its script answered.
        self._first_ids: dict[str, int] = {}
        self._retell_called = False  # _tell_waiting is called soon
        # News owed to joiners of rooms this node started reading, told in id order among
        # what the next whole reply brings of the node's other rooms (_start_reading).
        self._owed_later: list[_OwedNews] = []
        self._remote: dict[str, RemotePeer] = {}  # nick key -> a user on another node
        # Users of other nodes that a room this node reads shows, with no presence: their
        # join was read before their presence, or their presence is gone before their going.
        self._unlisted: dict[str, RemotePeer] = {}
        self._remote_lookalikes: dict[str, RemotePeer] = {}  # nick skeleton -> the same
        #: Counters for operators and tests.
        self.sent_batches = 0
        self.told_on_answer = 0  # room events told as the script answered, not read back
        self.skipped_notices = 0

    # -- starting and stopping ------------------------------------------------------

    async def start(self) -> None:
        """Connect, load the cluster's view, join it, and start the node's tasks."""
        self._client = self._connect(REPLY_TIMEOUT, "")
        # Two connections of their own carry every event: one reads the streams, one takes
        # the append scripts. They speak RESP packed by cluster_wire and hand back what
        # hiredis parsed (redis-py's callbacks rebuild every XREAD entry twice), and they
        # have no socket time-out: with one, redis-py runs each send in a task of its own
        # (asyncio.wait_for), a loop pass more on every crossing. The node times them.
        self._stream_client = self._connect(None, "-streams")
        try:
            info = await self._client.info("server")
            version = version_of(str(info["redis_version"]))
            if version < MIN_REDIS_VERSION:
                raise StoreError(
                    f"{self.shown_url}: Redis {info['redis_version']} is too old "
                    f"(tcpchat needs {'.'.join(map(str, MIN_REDIS_VERSION))} or later)"
                )
            # Its connections first: a node that cannot have them (Redis at maxclients,
            # say) never joins, where joined it would be swept as dead a time-out later.
            self._appender = await self._stream_connection()
            await self._learn_appender()
            self._reading = await self._stream_connection()
            await self._join_cluster(fresh=True)
        except (RedisError, OSError, ValueError) as exc:
            await self._disconnect()
            raise StoreError(f"{self.shown_url}: cannot use Redis ({_said(exc)})") from None
        except BaseException:
            await self._disconnect()
            raise
        self._running.set()
        self._sender = asyncio.create_task(self._send_forever(), name="cluster sender")
        self._tasks = [
            self._sender,
            asyncio.create_task(self._beat_forever(), name="cluster heartbeat"),
        ]
        self._read_answers()
        self._read_streams()
        log.info("node %s joined the cluster on %s", self.node, self.shown_url)

    def begin_close(self) -> None:
        """The server is shutting down: its members leave the other nodes' rooms with a reason."""
        self._closing = True

    async def close(self, timeout: float = 2.0) -> None:
        """Send what is waiting (within ``timeout``), leave the cluster, disconnect. Once:
        a second call returns at once."""
        if self._closed:
            return
        self._closed = self._closing = True
        self._stop_reading_streams()
        tasks, self._tasks = self._tasks, []
        sender, self._sender = self._sender, None
        others = [task for task in tasks if task is not sender]
        if self._recovery is not None:
            others.append(self._recovery)
        await _cancel(others)
        # Lines in doubt since Redis was lost: no verdict can come now.
        doubtful, self._in_doubt = self._in_doubt, []
        self._failed_batch(list(doubtful))
        sweeping, self._sweeping = self._sweeping, None
        if sweeping is not None and not self._running.is_set():
            with contextlib.suppress(RedisError, OSError):  # (it failed as Redis went)
                await _cancel([sweeping])  # its leavings could not be sent
            sweeping = None
        if self._client is not None and self._running.is_set():
            try:
                async with asyncio.timeout(timeout):
                    if sweeping is not None:
                        await self._finish_sweep(sweeping)  # its leavings go below
                    # Until nothing moves: an answer can put lines in the outbox (those a
                    # room's moderation held while it loaded), which the sender then sends.
                    while True:
                        if sender is not None:
                            await self._drained(sender)
                        await self._send(self._take_outbox())  # what a stopped sender left
                        await self._all_answered.wait()
                        if not self._outbox and not self._sending:
                            break
                    await self._client.srem(self.keys.nodes, self.node)
                    await self._client.delete(
                        self.keys.node(self.node),
                        self.keys.users(self.node),
                        self.keys.inbox(self.node),
                    )
            except (RedisError, OSError, TimeoutError) as exc:
                log.warning("node %s left the cluster uncleanly: %s", self.node, _said(exc))
        elif self._client is not None:
            # Paused: its members' leavings cannot be sent. The others count it dead
            # (--node-timeout) and announce them gone.
            log.warning(
                "node %s left the cluster uncleanly: it was not reaching Redis; the other "
                "nodes announce its members gone once they count it dead",
                self.node,
            )
        if sender is not None:
            await _cancel([sender])
        self._stop_reading_answers()
        if self._acting is not None:
            await _cancel([self._acting])
        if self._telling_undelivered is not None:
            await _cancel([self._telling_undelivered])
        await self._disconnect()

    async def _finish_sweep(self, sweeping: asyncio.Task[None]) -> None:
        """Wait for the sweep on its way as the node closes; a failure of it is logged, and
        the node leaves the cluster all the same."""
        try:
            await sweeping
        except (RedisError, OSError) as exc:
            log.warning("node %s: its sweep failed as it closed: %s", self.node, _said(exc))

    async def _drained(self, sender: asyncio.Task[None]) -> None:
        """Wait until the sender has handed Redis every pass waiting, the one it is sending
        included. (Cancelled in the middle of a pass, it would leave that pass neither sent
        nor refused: waiting for room on the scripts' connection, or in its claims.)"""
        while (self._outbox or self._sending) and not sender.done():
            self._pass_sent.clear()
            await self._pass_sent.wait()

    def _connect(self, reply_timeout: float | None, role: str) -> aioredis.Redis:
        try:
            client = aioredis.Redis.from_url(
                self.url,
                decode_responses=True,
                encoding_errors="replace",  # (a value no node wrote: read, not a failure)
                socket_connect_timeout=CONNECT_TIMEOUT,
                socket_timeout=reply_timeout,
                retry=Retry(NoBackoff(), 1),
                client_name=f"tcpchat-{self.node}{role}",
            )
        except ValueError as exc:
            raise StoreError(f"{self.shown_url}: not a Redis URL ({exc})") from None
        if reply_timeout is None:
            # Not even one from the URL (?socket_timeout=...), which redis-py lets win: the
            # reader's XREAD blocks for BLOCK_MS, and the node times these connections.
            client.connection_pool.connection_kwargs["socket_timeout"] = None
        return client

    async def _stream_connection(self) -> Any:
        """A connection of the ``-streams`` client's own, connected (theirs is the only
        pool without a socket time-out: this is the one bound on its handshake)."""
        assert self._stream_client is not None
        async with asyncio.timeout(CONNECT_TIMEOUT + REPLY_TIMEOUT):
            pool = self._stream_client.connection_pool
            return await pool.get_connection()  # type: ignore[no-untyped-call]

    async def _disconnect(self) -> None:
        """Close every connection. Nothing here stops the rest: a disconnect can fail (a
        TLS close that a hung Redis never answers), and the server still closes."""
        connections = [c for c in (self._appender, self._reading) if c is not None]
        self._appender = self._reading = None
        for connection in connections:
            with contextlib.suppress(RedisError, OSError):
                # (nowait: redis-py no longer reads the streams' one, and would wait for
                # its own reader to see the end until its connect time-out.)
                await connection.disconnect(nowait=True)
        for client in (self._client, self._stream_client):
            if client is not None:
                with contextlib.suppress(RedisError, OSError):
                    await client.aclose()
        self._client = self._stream_client = None

    async def _join_cluster(self, *, fresh: bool, gone: bool = False) -> bool:
        """Load the scripts and the others' view, and describe this node's members; say
        whether Redis came back empty.

        ``fresh``: this node has not been in the cluster yet. Otherwise it is back
        after an outage. If Redis came back empty (the epoch changed), everything
        this node holds is registered again and every stream is read from its start.
        If Redis kept its data but the others counted this node dead meanwhile (a sweep
        left its mark, which the heartbeat reads), its members are registered again, and
        reading resumes where it was: the rooms' streams are the same, and reading them from
        the start would tell its members their old events a second time (its inbox,
        which the sweeper deletes, starts again with ids past the last one read, as
        stream ids follow the clock). Otherwise reading simply resumes. ``gone``: the
        heartbeat found the sweep's mark.
        """
        client = self._connected()
        for name, body in (
            ("append", lua.APPEND),
            ("release", lua.RELEASE),
            ("sweep", lua.SWEEP),
            ("free", lua.FREE),
            ("expire", lua.EXPIRE),
            ("describe", lua.DESCRIBE),
            ("direct", lua.DIRECT),
        ):
            self._scripts[name] = str(await client.script_load(body))
        self._woken_whole = answers_woken_reads_whole(await redis_version(client))
        await client.set(self.keys.epoch, secrets.token_hex(8), nx=True)
        epoch = str(await client.get(self.keys.epoch))
        # Whether a sweep ran on this node (its mark), asked by a heartbeat: once its key
        # is back, no sweep can run. (Off the node set is not enough: a sweeper that finds
        # the node back stops after taking it off.)
        known = not gone and not self._swept and not await self._beat(client)
        emptied = epoch != self._epoch
        if fresh or emptied or not known:
            if not fresh:
                log.warning(
                    "node %s: Redis lost this node's registration (%s); registering its "
                    "%d members again",
                    self.node,
                    "restarted empty" if emptied else "counted this node dead",
                    len(self._peers),
                )
            await self._load_view(client)
            if not fresh and self.on_feed_skipped is not None:
                # The presence feed starts again at its newest entry: the bans made and
                # lifted meanwhile are read from where they are kept (or, Redis back
                # empty, written back there).
                self.on_feed_skipped(emptied=emptied)
            if not fresh and not emptied:
                self._swept = True  # until its members are announced back (_announce_back)
            await self._register_everything(client, emptied=emptied)
            if emptied:
                self._inbox_position = "0-0"
                self._counts.clear()
                self._read_to.clear()
                self._first_ids.clear()
                for key in self._positions:
                    self._positions[key] = "0-0"
                self._lost_unread()
            # Last: a try that fails before this still finds Redis emptied next time.
            self._epoch = epoch
        await self._beat(client)
        return emptied

    async def _moderation_again(self, client: aioredis.Redis) -> None:
        """Back from being counted dead, Redis having kept its data: each room this node
        reads takes its moderation from its modes hash again, where the sweeper's leaving
        took this node's members' powers, as on the other nodes, and where the changes
        made meanwhile are. (Before, this node went on with its own view, its members
        operators here and nowhere else.) A member here who loses its powers is told."""
        if self.modes is None:
            return
        moderation = self.modes.moderation
        for key, position in list(self._positions.items()):
            room = self._rooms.get(key)
            if position is None or room is None:
                continue
            powers = [p for p in room.members.values() if moderation.is_room_operator(p, room)]
            while True:
                # The reader goes on meanwhile: a change it acts on while the hash is on
                # its way may be newer than what comes back, which would undo it.
                heard = self.modes.heard_at(key)
                await self._load_modes(client, room)
                if self.modes.heard_at(key) == heard:
                    break
            self._powers_lost(room, powers)

    def _powers_lost(self, room: Room, powers: Iterable[Peer]) -> None:
        """Of ``powers``, members here who were operators of ``room``, those who are no
        more are told (not a server operator, who may still moderate it)."""
        assert self.modes is not None
        moderation = self.modes.moderation
        for peer in powers:
            if not moderation.is_operator(peer, room):
                event_id, ts = self.clock.stamp()
                text = POWERS_LOST.format(room=room.name)
                LocalHub.send(self, peer, Notice(event_id, ts, text))

    def _announce_back(self) -> None:
        """If the others counted this node dead (and told its members' rooms that they
        left, server lost): each room hears each of them join again, told to the other
        nodes' members only (no one here saw them leave). Not where a member's join is
        still to be sent (it comes after the leaving), and not for a member who lost the
        race for its nickname meanwhile. Its powers are not given back: the sweeper's
        leaving took them on the other nodes and in the modes hash, and this node has
        taken the hash's view again (_moderation_again)."""
        if not self._swept:
            return
        self._swept = False
        unsent = [op for op in self._outbox if isinstance(op, RoomEvent)]
        coming = {(op.author, op.room_key) for op in unsent if type(op.event) is Join}
        for peer in list(self._peers.values()):
            if peer.drop_reason is not None:
                continue
            for room in list(peer.rooms):
                if self._positions.get(room.key) is None or (peer, room.key) in coming:
                    continue
                event_id, ts = self.clock.stamp()
                join = Join(event_id, ts, peer.nick or "", room.name)
                self._seq += 1  # its member's replies do not wait for it
                self._put_event(RoomEvent(join, room.key, None, peer, self._seq, elsewhere=True))

    async def _load_view(self, client: aioredis.Redis) -> None:
        """Mirror everyone else's members and the rooms' topics, from the presence hashes."""
        newest = _entries(await client.xrevrange(self.keys.presence, "+", "-", count=1))
        self._presence_position = newest[0][0] if newest else "0-0"
        self._operators_again = self._remote_operators()
        for key in list(self._remote):
            self._forget_remote(key, everywhere=True)
        for node in sorted(_strings(await client.smembers(self.keys.nodes))):
            if node == self.node:
                continue
            for key, value in _hash(await client.hgetall(self.keys.users(node))).items():
                self._apply_presence(node, key, value)
        # Where a room this node reads missed comings and goings, its presence says best.
        for room in list(self._rooms.values()):
            if isinstance(room, ClusterRoom):
                self._show_listed(room)
        for key, value in _hash(await client.hgetall(self.keys.topics)).items():
            self._apply_topic(key, value)

    async def _register_everything(self, client: aioredis.Redis, *, emptied: bool) -> None:
        """Take every member's nickname again and describe them all (after Redis lost them).
        ``emptied``: Redis lost everything, the rooms' modes too, which this node then
        writes back as it holds them (where Redis kept them, they are newer than that)."""
        now, wall = self._monotonic(), time.time()
        pipe = client.pipeline(transaction=False)
        # In this order, against _load_view's (feed position, node set, hashes): a node
        # loading its view meanwhile either reads these hashes or reads the feed after.
        # The heartbeat before the node set: no sweeper may find this node without one.
        pipe.set(self.keys.node(self.node), str(time.time()), ex=self._ttl)
        pipe.sadd(self.keys.nodes, self.node)
        peers = list(self._peers.values())
        values = [self._owner_value(peer.nick or "") for peer in peers]
        for peer, value in zip(peers, values, strict=True):
            owner = self.keys.owner(peer.nick or "")
            pipe.set(owner, value, nx=True, ex=self._owner_ttl)
            pipe.get(owner)
        holders = (await pipe.execute())[3::2]
        # The nicknames first, then the records: one taken by another node meanwhile is the
        # winner's, and no record of this node's may name it.
        held = dict(zip(peers, values, strict=True))
        lost = {peer for peer, holder in zip(peers, holders, strict=True) if holder != held[peer]}
        for peer in lost:
            self._lose_race(peer, held=True)
        # The members as they are now, less the losers: one that left meanwhile, written
        # back, would stay listed for the others. One that came in or renamed meanwhile
        # has its nickname claimed in a pass of its own, not checked here: it is described
        # after this, by the sender, behind that claim.
        current = [peer for peer in self._peers.values() if peer not in lost]
        peers = [p for p in current if held.get(p) == self._owner_value(p.nick or "")]
        written = set(peers)
        users = {nick_key(p.nick or ""): self._presence_of(p, now, wall).encode() for p in peers}
        pipe = client.pipeline(transaction=False)
        pipe.delete(self.keys.users(self.node), self.keys.swept(self.node))
        if users:
            pipe.hset(self.keys.users(self.node), mapping=dict[Any, Any](users))
            for key, value in users.items():
                self._feed(pipe, "user", key, value)
        for room in self._rooms.values():
            if room.topic:
                value = _topic_value(room.name, room.topic, room.topic_by)
                pipe.hset(self.keys.topics, room.key, value)
            if emptied and self.modes is not None and room.key in self._positions:
                modes = self.modes.fields(room)
                if modes:
                    pipe.hset(self.keys.modes(room.key), mapping=dict[Any, Any](modes))
        await pipe.execute()
        for peer in current:
            if peer not in written and peer.nick is not None:
                self.describe(peer)  # (its record, if the sender wrote it, was deleted)

    @property
    def _ttl(self) -> int:
        """The heartbeat's lifetime: past it, a node is counted dead."""
        return max(math.ceil(self.node_timeout), 1)

    @property
    def _owner_ttl(self) -> int:
        """A nickname's lifetime: twice the heartbeat's, so that a dead node's nicknames
        are still held when a sweeper finds it (within a heartbeat's interval), and freed
        by that sweeper after its members' leavings (FreeNicknames). Should no node sweep
        it, they lapse on their own."""
        return 2 * self._ttl

    def _owner_value(self, nick: str) -> str:
        return f"{self.node} {nick}"

    def _connected(self) -> aioredis.Redis:
        if self._client is None:
            raise ClusterUnavailable(REFUSED)
        return self._client

    # -- nicknames -----------------------------------------------------------------

    def register(self, peer: Peer, nick: str) -> None:
        self._refuse_while_paused()
        _check_free(nick, self._remote_lookalikes.get(nick_skeleton(nick)), peer)
        super().register(peer, nick)
        self._put(Claim(peer, nick))
        self.describe(peer)

    def rename(self, peer: Peer, nick: str) -> None:
        self._refuse_while_paused()
        _check_free(nick, self._remote_lookalikes.get(nick_skeleton(nick)), peer)
        old = peer.nick or ""
        super().rename(peer, nick)
        if nick_skeleton(old) != nick_skeleton(nick):
            self._put(Claim(peer, nick))
            self._put(Release(old, self._owner_value(old)))
        else:
            self._put(Claim(peer, nick))  # the same key: its value now names the new nick
        if nick_key(old) != nick_key(nick):
            self._put(Describe(nick_key(old), None))
        self.describe(peer)

    def set_away(self, peer: Peer, message: str | None) -> None:
        changed = message != peer.away
        super().set_away(peer, message)
        if changed:  # at once, not at the next heartbeat: someone may /msg or /whois it now
            self.describe(peer)

    def leave(self, peer: Peer) -> bool:
        nick = peer.nick or ""
        rooms = list(peer.rooms)
        self._member_now(peer, rooms)
        self._release_replies(peer, leaving=True)  # its last words (an IRC ERROR, a goodbye)
        if not super().leave(peer):
            return False
        self._described.pop(peer, None)
        name = self._pm_senders.pop(peer, None)
        if name is not None:
            del self._pm_senders_by_name[name]
        if self.history is not None:
            for room in rooms:
                self.history.forget(peer, room)
        if self._closing and rooms:
            # Everyone here is being disconnected; the other nodes' members are told why,
            # after the lines this member said that wait for a room's moderation.
            # (It has left this hub: as an author, it only holds the leaving back.)
            event_id, ts = self.clock.stamp()
            self._announce_unless_held(Leave(event_id, ts, nick, SHUTTING_DOWN), rooms, None, peer)
        for room in rooms:
            self._unwatch_if_empty(room.key)
        self._put(Release(nick, self._owner_value(nick)))
        self._put(Describe(nick_key(nick), None, peer=peer))  # (not if it lost that nick)
        return True

    def find(self, nick: str) -> Peer | None:
        return super().find(nick) or self._remote.get(nick_key(nick))

    def nicks(self) -> tuple[str, ...]:
        if not self._remote:
            return super().nicks()
        everyone: dict[str, Peer] = {**self._remote, **self._peers}
        return tuple(everyone[key].nick or "" for key in sorted(everyone))

    # -- rooms -----------------------------------------------------------------------

    def join_room(self, peer: Peer, name: str) -> Room:
        self._refuse_while_paused()
        key = room_key(name)
        made = False
        if key not in self._rooms and len(self._rooms) < self.rules.max_rooms:
            self._rooms[key] = ClusterRoom(name, peer.nick or "", self._holds_lines)
            made = True
        try:
            room = super().join_room(peer, name)
        except BaseException:
            if made:
                del self._rooms[key]
            raise
        if key not in self._positions:
            self._positions[key] = None  # read from this node's first event in it
        if isinstance(room, ClusterRoom) and peer.nick is not None:
            # Not reading the room yet, this node answers with the other nodes' members
            # it knows of; who came or went before its first event there, and after, is owed.
            told = None
            if self._positions[key] is None and not self.rules.is_quiet(len(room)):
                told = frozenset(room.remote)
            room.wait_for_join(nick_key(peer.nick), self.clock.latest, told)
            if self._holds_lines(peer):
                room.held_joins.add(nick_key(peer.nick))  # its join waits behind its lines
            elif told or self._heard_only_so_far(peer, room):
                held = self._held.get(peer)
                start = len(held.events) if held is not None else 0
                self._join_answers.setdefault(peer, []).append(_AnswerAtJoin(key, start))
            self._joining.setdefault(peer, []).append(room)
            self._fence(peer, room)
        self.describe(peer)
        return room

    def _heard_only_so_far(self, peer: Peer, room: ClusterRoom) -> bool:
        """Whether ``peer``, joining ``room``, which this node reads, is answered with the
        other nodes' members as the room's stream has them, while a room it is in is read
        only so far (_read_to), or what it said waits (_waiting): a nick change said there
        before this moment may still be on its way to ``peer``. Told after the answer, it
        would rename the member in the list the answer gave, shown under its new name
        already: the answer waits for the join's place, as one from presence does."""
        if not room.remote or self.rules.is_quiet(len(room)):
            return False
        if not self._read_to and not self._waiting:
            return False  # nearly always: every room read up to the last reply's moment
        return any(
            other.key in self._read_to or other.key in self._waiting
            for other in self._rooms_heard(peer)
            if other is not room
        )

    def _holds_lines(self, peer: Peer) -> bool:
        """Whether ``peer`` has lines held for a room's moderation (LineHold)."""
        return self.modes is not None and self.modes.hold.holds(peer)

    def _tell_left_out(self, joiner: Peer, room: Room | None) -> None:
        """``joiner``'s join of ``room``, held, never reaches the stream (Redis failed it
        or was lost), yet this node keeps it a member: tell it to the members here that
        were answered without it (ClusterRoom.left_out), as the stream would have."""
        if not isinstance(room, ClusterRoom) or not room.left_out or joiner.nick is None:
            return
        told = room.left_out.pop(nick_key(joiner.nick), {})
        if self.rules.is_quiet(len(room)):
            return
        event_id, ts = self.clock.stamp()
        join = Join(event_id, ts, joiner.nick, room.name)
        for peer in told:
            if peer._hub is self and room in peer.rooms:
                self._reply(peer, join)

    def _fence(self, peer: Peer, room: Room) -> None:
        """What ``peer`` is answered from now (the names of ``room``, which it joins) waits
        until this node's events made before are told, where one of them reaches it
        through a room it is in already, from a member of ``room`` here. The answer shows
        that member as it is now; told after it, the event would be news to ``peer``: an
        IRC client renames, in the names it was just given, a member listed under its new
        name already. (What ``room`` itself owes a joiner is its news: _tell_joiner.)"""
        if not self._in_flight and not self._waiting:
            return  # nearly always: nothing of this node's is on its way
        heard = {other.key for other in self._rooms_heard(peer) if other is not room}
        if not heard:
            return
        ops = [op for (key, _), op in self._in_flight.items() if key in heard]
        ops += [item[3] for key in heard for item in self._waiting.get(key, ()) if item[3]]
        members = room.everyone() if isinstance(room, ClusterRoom) else room.members
        fence = max(
            (
                op.seq
                for op in ops
                if op.author is not None
                and op.author is not peer
                and members.get(nick_key(op.author.nick or "")) is op.author
            ),
            default=0,
        )
        if not fence:
            return
        held = self._held.get(peer)
        if held is None:
            held = self._held[peer] = _Held()
        held.awaiting = max(held.awaiting, fence)
        self._fences[peer] = max(self._fences.get(peer, 0), fence)

    def _pass_fences(self, upcoming: float = math.inf) -> None:
        """Answer the joiners whose fence no event on its way, waiting, or still to be told
        in the reply being told (the lowest sequence number of those: ``upcoming``) holds
        any more."""
        if not self._fences:
            return
        lowest = min(min((seq for _, seq in self._in_flight), default=math.inf), upcoming)
        for queue in self._waiting.values():
            for item in queue:
                if item[3] is not None:
                    lowest = min(lowest, item[3].seq)
        for peer, fence in list(self._fences.items()):
            if fence < lowest:
                del self._fences[peer]
                self._arrived(peer, fence)

    def part_room(self, peer: Peer, room: Room) -> None:
        was_in = room in peer.rooms
        self._member_now(peer, [room])
        super().part_room(peer, room)
        if was_in:
            if self.history is not None:
                self.history.forget(peer, room)
            self._unwatch_if_empty(room.key)
            self.describe(peer)

    def _rooms_heard(self, peer: Peer) -> Collection[Room]:
        """Its rooms but those it is still joining: what their log holds now was said before
        its join, or (a coming or going) was told it already (_deliver)."""
        joining = self._joining.get(peer)
        if joining is None:
            return peer.rooms  # nearly always: one dict lookup on the fan-out's path
        return {room: None for room in peer.rooms if room not in joining}

    def _member_now(self, peer: Peer, rooms: Iterable[Room]) -> None:
        """``peer`` is a full member of ``rooms`` here, its join back or not (it is leaving)."""
        if peer.nick is None:
            return
        key = nick_key(peer.nick)
        for room in rooms:
            if isinstance(room, ClusterRoom) and key in room.joining:
                self.settle(peer)  # what its other rooms owe it so far comes first
                room.joined(key)
                self._join_back(peer, room)

    def _join_is_back(self, join: RoomEvent, room: Room | None) -> None:
        """A member's ``join`` is told (or will never be): a member now, unless it waits for
        a later join of its own there."""
        author = join.author
        assert author is not None
        if isinstance(room, ClusterRoom) and not room.latest_join(
            nick_key(author.nick or ""), join.seq
        ):
            return
        self._member_now(author, [room] if room is not None else [])

    def _join_back(self, peer: Peer, room: Room) -> None:
        joining = self._joining.get(peer)
        if joining is not None and room in joining:
            joining.remove(room)
            if not joining:
                del self._joining[peer]

    def _unwatch_if_empty(self, key: str) -> None:
        """Stop reading a room that has no member here, once this node's events are back.
        (A member still joining counts: its join may wait behind its lines, LineHold, and
        not be on its way yet; what the room says meanwhile is its news.)"""
        room = self._rooms.get(key)
        if room is not None and (room.members or _has_joiners(room)):
            return
        if key in self._waiting or any(room_key == key for room_key, _ in self._in_flight):
            return
        if self._positions.pop(key, None) is not None and isinstance(room, ClusterRoom):
            self._show_listed(room)
        self._read_to.pop(key, None)
        self._first_ids.pop(key, None)
        self._counts.pop(key, None)  # read again from a new first event: no gap to tell of
        if self.history is not None:
            self.history.drop_ring(key)
        if self.modes is not None:
            self.modes.forget(key)

    def set_topic(self, room: Room, text: str, nick: str) -> None:
        super().set_topic(room, text, nick)
        self._put(SetTopic(room.key, room.name, text, nick))

    def lag(self) -> float:
        """Seconds the oldest of this node's room events still on its way has waited to
        come back from Redis (0 when none waits): how far the node is behind the backplane."""
        for oldest in self._in_flight.values():
            return max(self._monotonic() - oldest.put_at, 0.0)
        return 0.0

    def not_ready(self) -> str | None:
        """Why this node cannot serve (/readyz), or None: it reaches Redis."""
        return None if self._running.is_set() else REDIS_UNREACHABLE

    # (For /metrics: server/metrics.py's Backplane.)

    @property
    def outages(self) -> int:
        return self._recoveries

    @property
    def waiting_operations(self) -> int:
        return len(self._outbox)

    @property
    def scripts_unanswered(self) -> int:
        return len(self._unanswered)

    @property
    def remote_users(self) -> int:
        return len(self._remote)

    def share_ban(self, ban: Ban, *, lifted: bool) -> None:
        """Tell the other nodes of a ban made or lifted here (the shared store keeps it)."""
        self._put(ShareBan(ban, lifted))

    def _has_remote(self, room: Room) -> bool:
        return isinstance(room, ClusterRoom) and bool(room.remote or room.listed or room.joining)

    # -- delivery --------------------------------------------------------------------

    def publish(self, event: Event, *, room: Room, exclude: Peer | None = None) -> None:
        author = exclude if exclude is not None else self._author_of(event)
        if not self._running.is_set():
            self._refuse(author)
            return
        if type(event) is Join and isinstance(room, ClusterRoom):
            key = nick_key(event.nick)
            if key in room.joining:
                room.join_ids[key] = event.id  # its latest join (it may be held: LineHold)
        if self.modes is not None and self._held_back(event, (room,), exclude, author):
            return
        self._put_one_room(event, room.key, exclude, author)

    def announce(self, event: Event, *, about: Peer, exclude: Peer | None = None) -> None:
        rooms = list(about.rooms)
        if not rooms:
            if about is not exclude and about._hub is self:
                self.send(about, event)
            return
        if not self._running.is_set():
            return  # the node re-describes its members when Redis is back
        self._announce_unless_held(event, rooms, exclude, about if about._hub is self else None)

    def _announce_unless_held(
        self, event: Event, rooms: list[Room], exclude: Peer | None, author: Peer | None
    ) -> None:
        """:meth:`_announce_to`, unless ``event`` waits behind ``author``'s lines held for a
        room's moderation (then it goes after them)."""
        if self.modes is not None and self._held_back(event, tuple(rooms), exclude, author):
            return
        self._announce_to(event, rooms, exclude, author)

    def _announce_to(
        self,
        event: Event,
        rooms: list[Room],
        exclude: Peer | None,
        author: Peer | None,
        then_free: FreeNicknames | None = None,
    ) -> None:
        """Send ``event`` to each of ``rooms``; a member of several is told once.
        (``then_free``: a sweeper's leaving, which that freeing waits for.)"""
        seq = self._await(author)
        token = f"{self.node}:{seq}" if len(rooms) > 1 else ""
        for room in rooms:
            op = RoomEvent(event, room.key, exclude, author, seq, token, then_free=then_free)
            if then_free is not None:
                then_free.leavings += 1
            self._put_event(op)

    def _held_back(
        self, event: Event, rooms: tuple[Room, ...], exclude: Peer | None, author: Peer | None
    ) -> bool:
        """Whether ``event`` waits for a room's moderation (cluster_moderation.py, LineHold):
        a line ``author`` says in a room this node is loading, or any event behind one."""
        assert self.modes is not None
        hold = self.modes.hold
        if not hold and self._positions.get(rooms[0].key, "") is not None:
            return False  # what nearly every line finds: nothing held, the room loaded
        if hold.refused_answer(event):
            return True
        behind = hold.behind(author, event)
        judged = (
            isinstance(event, SAID)
            and len(rooms) == 1
            and author is not None
            and author._hub is self
            and self._loading(rooms[0].key)
        )
        if behind is None and not judged:
            return False
        waiting = behind if behind is not None else author
        assert waiting is not None
        line = HeldLine(event, rooms, exclude, judged, announced=len(rooms) > 1)
        if not hold.hold(waiting, line):
            self._refuse(author, HOLD_FULL)
        return True

    def _loading(self, key: str) -> bool:
        """Whether this node is loading the room's moderation: its first event there (a
        member's join) is on its way, and the hash is read when it lands. (With nothing on
        its way, a join Redis never took, no load is coming: the line goes as it is.)"""
        return self._positions.get(key, "") is None and any(
            room_key == key for room_key, _ in self._in_flight
        )

    def _release_held(self) -> None:
        """A room's moderation is loaded: the lines held for it are judged in order, then
        sent, or refused as a single server refuses them (a NOTICE, silently)."""
        assert self.modes is not None
        for verdict in self.modes.hold.release(self._loading):
            line, author = verdict.line, verdict.author
            if isinstance(line, HeldReply):
                self._reply_in_turn(author, line.reply)  # behind the events just sent
            elif verdict.dropped:
                continue
            elif verdict.refused is not None:
                if author._hub is self and type(line.event) in SAID:
                    event_id, ts = self.clock.stamp()
                    error = verdict.refused
                    self._reply_in_turn(author, Error(event_id, ts, error.code, str(error)))
            elif line.announced:
                self._announce_to(line.event, list(line.rooms), line.exclude, author)
            else:
                self._put_one_room(line.event, line.rooms[0].key, line.exclude, author)

    def _put_one_room(
        self, event: Event, key: str, exclude: Peer | None, author: Peer | None
    ) -> None:
        """An event for one room on its way to Redis; its author's replies wait for it."""
        self._put_event(RoomEvent(event, key, exclude, author, self._await(author)))

    def send(self, peer: Peer, event: Event) -> None:
        if isinstance(peer, RemotePeer):
            author = self._author_of(event)
            if not self._running.is_set():
                self._refuse(author)
                return
            self._put(Direct(peer.node, nick_key(peer.nick or ""), event, author))
            return
        self._reply(peer, event)

    def send_raw(self, peer: Peer, data: bytes) -> None:
        self._reply(peer, data)

    def _reply(self, peer: Peer, reply: Event | bytes) -> None:
        """What ``peer`` is told, after its own events: behind those a room's moderation
        holds (LineHold), and those on their way to Redis (_reply_in_turn)."""
        if (
            self.modes is not None
            and self.modes.hold
            and peer._hub is self  # (gone: nothing more it says is held)
            and self.modes.hold.hold_reply(peer, reply)
        ):
            return
        self._reply_in_turn(peer, reply)

    def _reply_in_turn(self, peer: Peer, reply: Event | bytes) -> None:
        """``reply`` behind ``peer``'s events on their way to Redis (an IRC member's JOIN
        after its NICK, say, in that order)."""
        held = self._held.get(peer)
        if held is None and self._join_answers and peer in self._join_answers:
            held = self._held[peer] = _Held()  # its answer, to wait for its join (below)
        if held is not None:
            held.events.append(_Waiting(held.awaiting, self.clock.latest, reply))
            if held.news_end:
                held.news_end = len(held.events)  # what it hears next: after this reply
            return
        self._send_held(peer, reply)

    def _send_held(self, peer: Peer, reply: Event | bytes) -> None:
        if isinstance(reply, bytes):
            super().send_raw(peer, reply)
        else:
            super().send(peer, reply)

    def flush(self, peer: Peer) -> None:
        self._release_replies(peer, leaving=True)
        super().flush(peer)

    def _release_replies(self, peer: Peer, *, leaving: bool = False) -> None:
        """Send ``peer`` the replies waiting for its events on their way, without waiting
        any longer; ``leaving``: those behind its lines a room's moderation holds too."""
        held = self._held.pop(peer, None)
        self._diverting.discard(peer)
        self._fences.pop(peer, None)
        self._join_answers.pop(peer, None)
        if held is not None:
            for waiting in held.events:
                self._send_held(peer, waiting.item)
        if leaving and self.modes is not None and self.modes.hold:
            for reply in self.modes.hold.take_replies(peer):
                self._send_held(peer, reply)

    def _author_of(self, event: Event) -> Peer | None:
        """The member of this node an event comes from, if any (for errors and ordering)."""
        nick = getattr(event, "nick", None)
        return super().find(nick) if isinstance(nick, str) else None

    def _await(self, author: Peer | None) -> int:
        """A sequence number for an event on its way; ``author``'s replies wait for it."""
        self._seq += 1
        if author is not None and author._hub is self:
            held = self._held.get(author)
            if held is None:
                held = self._held[author] = _Held()
            held.awaiting = self._seq
        return self._seq

    def _arrived(self, author: Peer | None, seq: int) -> None:
        """``author``'s event ``seq`` reached its members: its replies may follow, up to
        the highest of its events told so far, but not past one still waiting (_tell)."""
        if author is None:
            return
        held = self._held.get(author)
        if held is None:
            return
        if held.arrived < seq:
            held.arrived = seq
        told: float = held.arrived
        if self._waiting:  # one of its events before may wait (_tell): not past it
            told = min(told, self._first_waiting(author) - 1)
        if self._fences:  # nor past a fence (_fence): its own later events went first
            told = min(told, self._fences.get(author, math.inf) - 1)
        if held.awaiting <= told:
            del self._held[author]
            if self._join_answers:
                self._join_answers.pop(author, None)
        if not held.events:
            return  # nearly always: a member who speaks has nothing of its own waiting
        ready = [waiting.item for waiting in held.events if waiting.after <= told]
        held.events = [waiting for waiting in held.events if waiting.after > told]
        if held.news_end:
            held.news_end = max(held.news_end - len(ready), 0)
            if not held.news_end:
                self._diverting.discard(author)
        for reply in ready:
            self._send_held(author, reply)

    def _first_waiting(self, author: Peer) -> float:
        """The sequence number of ``author``'s first event waiting to be told (_waiting)."""
        return min(
            (
                origin.seq
                for queue in self._waiting.values()
                for _, _, _, origin, _, _ in queue
                if origin is not None and origin.author is author and not origin.elsewhere
            ),
            default=math.inf,
        )

    def _refuse(self, author: Peer | None, why: str = REFUSED) -> None:
        if author is not None and author._hub is self:
            # Its replies so far (a JOIN it was answered with, say) are not taken back.
            self._release_replies(author)
            event_id, ts = self.clock.stamp()
            error = Error(event_id, ts, ClusterUnavailable.code, why)
            if self.modes is None or not self.modes.hold.hold_reply(author, error):
                super().send(author, error)  # (with lines held: after them)

    def _refuse_while_paused(self) -> None:
        if not self._running.is_set():
            raise ClusterUnavailable(REFUSED)

    def describe(self, peer: Peer) -> None:
        """Tell the other nodes how ``peer``, a member here, stands now (its presence)."""
        if peer.nick is not None:
            presence = self._presence_of(peer, self._monotonic())
            self._described[peer] = self._standing(peer)
            self._put(Describe(nick_key(peer.nick), presence, peer=peer))

    def _presence_of(self, peer: Peer, now: float, wall: float | None = None) -> Presence:
        return presence_of(peer, now, wall, server_operator=self._is_server_operator(peer))

    def _standing(self, peer: Peer) -> tuple[str | None, float, bool]:
        """What a member's description says that can change: its away message, when it
        last spoke, and whether it is a server operator."""
        return peer.away, peer.active_at, self._is_server_operator(peer)

    def _is_server_operator(self, peer: Peer) -> bool:
        return self.modes is not None and self.modes.moderation.is_server_operator(peer)

    def _describe_changes(self) -> None:
        """Describe again the members whose away message changed, who spoke, or who became
        a server operator, since last."""
        for peer in list(self._peers.values()):
            if self._described.get(peer) != self._standing(peer):
                self.describe(peer)

    def _put(self, operation: Operation) -> None:
        if self._lost_race_by(operation):
            return  # (its going, say: _race_lost_in)
        self._outbox.append(operation)
        if len(self._outbox) > MAX_OUTBOX:
            over = len(self._outbox) - MAX_OUTBOX
            dropped = self._outbox[:over]
            del self._outbox[:over]
            self._forget_dropped(dropped)
        if self._pass_called:
            return
        self._pass_called = True
        asyncio.get_running_loop().call_soon(self._send_pass)
        if (
            len(self._outbox) == 1
            and type(operation) is RoomEvent
            and isinstance(operation.event, SAID)
            and not (self.pacer is not None and self.pacer.busy)
        ):
            # A quiet node's line (or action, or question), the first of its pass: sent
            # now, a turn of the loop sooner. What the rest of the pass puts waits for
            # _send_pass. (Only what is said: a leaving or a join comes with its member's
            # presence, put after it in the same pass and sent before it, so that whoever
            # reads the event has read the presence.)
            self._send_outbox()

    def _forget_dropped(self, dropped: list[Operation]) -> None:
        """Operations the outbox had no room for: their authors are told their words were
        not sent, and members whose description went are described again at the next beat."""
        for operation in dropped:
            if isinstance(operation, RoomEvent):
                self._never_back(operation)
                if operation.elsewhere:
                    continue  # its member did not ask for it: nothing to tell
            if isinstance(operation, RoomEvent | Direct):
                self._refuse(operation.author, OVERLOADED)
            elif isinstance(operation, Describe):
                self._described.clear()
            elif isinstance(operation, FreeNicknames):
                self._outbox.append(operation)  # a few bytes: else the members stay listed

    def _put_event(self, operation: RoomEvent) -> None:
        if self._lost_race_by(operation):
            return  # (its going, say: _race_lost_in)
        operation.put_at = self._monotonic()
        author = operation.author
        if (
            operation.room_key not in self._positions
            and author is not None
            and author._hub is self
            and not operation.elsewhere
        ):
            # A member's event in a room this node stopped reading meanwhile (a line held
            # for its moderation, sent once its author had left every room): read from
            # this event on, so that it comes back, and its author's replies with it.
            self._positions[operation.room_key] = None
        if operation.room_key in self._positions:
            # Known before it is sent: the reader may read it back before the sender hears
            # that Redis took it.
            self._in_flight[(operation.room_key, operation.seq)] = operation
        else:
            # Kept in flight, it would never come back: the room read for good, the
            # node's lag growing, a joiner's lines held for a load that never comes.
            operation.unread = True
        if type(operation.event) is Join and author is not None and author.nick is not None:
            room = self._rooms.get(operation.room_key)
            key = nick_key(author.nick)
            if isinstance(room, ClusterRoom) and room.join_ids.get(key) == operation.event.id:
                room.join_seqs[key] = operation.seq
                room.held_joins.discard(key)
                if self._join_answers and author in self._join_answers:
                    self._answer_waits_for(author, operation)
                held = self._held.get(author)
                if held is not None and held.events:
                    # Its answer waits for its events before: what it hears meanwhile
                    # comes after that answer, as a single server tells it (_divert); but
                    # ahead of an answer that waits for its join's place what was said
                    # before that place (_after_news), and news of a room joined before
                    # (_tell_joiner).
                    held.news_end = len(held.events)
                    self._diverting.add(author)
                for news in room.early_news.pop(key, ()):
                    self._tell_joiner(author, room, news)
        self._put(operation)

    def _answer_waits_for(self, author: Peer, join: RoomEvent) -> None:
        """``join`` is put: the answer ``author`` was given for it (_AnswerAtJoin), if any,
        waits for it, and what ``author`` is told after it too."""
        held = self._held.get(author)
        answers = self._join_answers[author]
        for answer in answers:
            if answer.room_key != join.room_key or answer.join is not None:
                continue
            if held is None or len(held.events) <= answer.start:
                answers.remove(answer)  # no answer made yet (told after its join anyway)
            else:
                events = held.events
                for at in range(answer.start, len(events)):
                    events[at] = events[at]._replace(after=max(events[at].after, join.seq))
                answer.join, answer.first, answer.last = join, events[answer.start], events[-1]
            break
        if not answers:
            del self._join_answers[author]

    def _answer_placed(self, join: RoomEvent) -> _AnswerAtJoin | None:
        """The answer (_AnswerAtJoin) that waited for ``join``, now told, if any."""
        author = join.author
        answers = self._join_answers.get(author) if author is not None else None
        if author is None or not answers:
            return None
        for answer in answers:
            if answer.join is join:
                answers.remove(answer)
                if not answers:
                    del self._join_answers[author]
                return answer
        return None

    def _answers_after(self, peer: Peer, join_seq: int, events: list[_Waiting]) -> int:
        """Where in ``events`` (``peer``'s _Held.events) the first answer that waits for a
        join of ``peer``'s later than ``join_seq`` begins (_AnswerAtJoin): news of the room
        joined then goes ahead of it. Past the end if none."""
        later = [
            answer
            for answer in self._join_answers.get(peer, ())
            if answer.join is not None and answer.join.seq > join_seq
        ]
        return min((i for i, _ in _where_answers_begin(events, later)), default=len(events))

    def _ahead_of_answers(self, peer: Peer, event_id: int, at: int, token: str) -> int:
        """Where another node's event ``event_id``, read now, goes among ``peer``'s waiting
        replies at the latest (``at``): ahead of each answer that waits for its join's place
        (_AnswerAtJoin) if it is from before that place (or the place is not known yet). An
        announcement (``token``) told so is noted (_told_ahead): the room's news, which
        shows the room at that place, may owe it there (a part and a join)."""
        held = self._held.get(peer)
        if held is None:
            return at
        placed_later = [
            answer
            for answer in self._join_answers.get(peer, ())
            if answer.join is not None
            and (not answer.join.event_id or event_id < answer.join.event_id)
        ]
        ahead = _where_answers_begin(held.events[:at], placed_later)
        if not ahead:
            return at
        if token:
            rooms = self._told_ahead.setdefault(token, {}).setdefault(peer, set())
            rooms.update(answer.room_key for _, answer in ahead)
        return min(i for i, _ in ahead)

    def _appended(self, operation: RoomEvent, event_id: int) -> None:
        """A room event of this node has its place in its room: ``event_id``."""
        operation.event_id = event_id
        if operation.then_free is not None:
            self._leaving_settled(operation)

    def _leaving_settled(self, operation: RoomEvent) -> None:
        """A sweeper's leaving has its place, or will never have one (the nicknames go
        free all the same): once all of them do, the dead node's nicknames are freed."""
        free, operation.then_free = operation.then_free, None
        assert free is not None
        self._one_leaving_less(free)

    def _one_leaving_less(self, free: FreeNicknames) -> None:
        """One of ``free``'s leavings is settled (or all are put, _sweep): at none left, the
        nicknames go free."""
        free.leavings -= 1
        if not free.leavings:
            self._put(free)

    def _never_back(self, operation: RoomEvent) -> None:
        """A room event of this node that Redis did not take: forget it, and its join."""
        self._in_flight.pop((operation.room_key, operation.seq), None)
        if operation.then_free is not None:
            self._leaving_settled(operation)
        if self._waiting and not self._retell_called:  # it may have waited for this one
            self._retell_called = True
            asyncio.get_running_loop().call_soon(self._tell_waiting)
        if operation.author is not None and type(operation.event) is Join:
            self._tell_left_out(operation.author, self._rooms.get(operation.room_key))
            self._join_is_back(operation, self._rooms.get(operation.room_key))
            if self.modes is not None and self.modes.hold:
                self._release_held()  # no load is coming for that room: what waits goes
        # (A room read for this event alone, perhaps; its joiner, a member now, keeps it.)
        self._unwatch_if_empty(operation.room_key)

    def _take_outbox(self) -> list[Operation]:
        batch, self._outbox = self._outbox, []
        self._outbox_ready.clear()
        return batch

    # -- the sender ------------------------------------------------------------------

    def _send_pass(self) -> None:
        """What this pass put in the outbox, sent as the loop turns."""
        self._pass_called = False
        self._send_outbox()

    def _send_outbox(self) -> None:
        """Room events alone in the outbox, nearly always, are written to Redis here, in one
        script, a task's wake-up sooner than the sender would. Any other operation, or a
        wait (for the sender's pass before them, for room for a script, for Redis), makes
        them the sender's."""
        if not self._outbox:
            return
        sender = self._sender
        events = [op for op in self._outbox if isinstance(op, RoomEvent)]
        if (
            len(events) < len(self._outbox)
            or self._sending
            or sender is None
            or sender.done()  # (ended: the next sender, or close(), sends what waits)
            or not self._running.is_set()
            or self._scripts_out >= SCRIPTS_IN_FLIGHT
        ):
            self._outbox_ready.set()
            return
        self._take_outbox()
        try:
            self._write_script(events)
        except Exception as exc:
            if not isinstance(exc, RedisError | OSError):
                log.exception("node %s: sending to Redis failed", self.node)
            self._failed_batch(list(events))
            self._lost(exc)
        else:
            self.sent_batches += 1
        self._pass_sent.set()

    async def _send_forever(self) -> None:
        while True:
            await self._outbox_ready.wait()
            await self._running.wait()
            batch = self._unsent = self._take_outbox()
            self._sending = True
            try:
                await self._send(batch)
            except Exception as exc:
                if not isinstance(exc, RedisError | OSError):
                    log.exception("node %s: sending to Redis failed", self.node)
                self._failed_batch(self._unsent)
                self._lost(exc)
                if self._closing:
                    return  # no recovery now: what is left is not sent (close() says so)
            finally:
                self._sending = False
                self._pass_sent.set()

    def _failed_batch(self, batch: list[Operation], why: str = REFUSED) -> None:
        """Redis failed mid-batch: tell authors their words were not sent (``why``); keep
        the rest.

        A room event no longer on its way was heard already (read back: Redis ran its
        script, and only the answer was lost) or failed already (by the sender, say, and
        then found missing as the node came back): its author is not told it was not sent."""
        kept: list[Operation] = []
        for operation in batch:
            if isinstance(operation, RoomEvent):
                if not operation.unread and (operation.room_key, operation.seq) not in (
                    self._in_flight
                ):
                    continue
                if operation.author is None and not operation.elsewhere:
                    # No one to tell (a sweeper's leaving, an AI answer's piece): sent
                    # again once, on its way still, so that its answer tells it here.
                    # Refused again (a count key another program broke, say), dropped:
                    # sent for ever, each refusal would pause the node.
                    if not operation.resent:
                        operation.resent = True
                        kept.append(operation)
                    else:
                        self._never_back(operation)
                    continue
                self._never_back(operation)
                if operation.elsewhere:
                    continue  # its member did not ask for it: nothing to tell
            if isinstance(operation, RoomEvent | Direct) and operation.author is not None:
                if operation.author._hub is self:
                    self._refuse(operation.author, why)
                continue
            kept.append(operation)
        self._outbox[:0] = kept
        if self._outbox:
            self._outbox_ready.set()
        self._pass_fences()  # (what a fence waited for may have failed)

    async def _send(self, batch: list[Operation]) -> None:
        """Send one pass's operations: claims first, then each room's events in one script."""
        if not batch:
            return
        client = self._connected()
        events = [op for op in batch if isinstance(op, RoomEvent)]
        if len(events) < len(batch):
            events = await self._send_others(client, batch, events)
            # Taken: if the script fails now, only its events are failed. (Sent again,
            # a topic could overwrite a newer one; a private message would be refused
            # though delivered.)
            self._unsent = list(events)
        # (A pass of room events alone, nearly every pass, goes straight to its script.)
        await self._append(events)
        self.sent_batches += 1

    async def _send_others(
        self, client: aioredis.Redis, batch: list[Operation], events: list[RoomEvent]
    ) -> list[RoomEvent]:
        """A pass's claims, presence and the rest, before its room events: those events,
        less any of a member who lost the race for its nickname."""
        # On other connections: after the last pass's events, as they went when one
        # script at a time was on its way (a node that reads a member's leaving has read
        # its join).
        await self._all_answered.wait()
        claims = [op for op in batch if isinstance(op, Claim)]
        lost = await self._claim(client, claims)
        if lost:
            events = self._race_lost_in(events, lost)
            batch = [op for op in batch if not self._lost_race_by(op)]
        # Presence first: a node that reads a join has read who joined.
        pipe = client.pipeline(transaction=False)
        described: list[Describe] = []  # a run of descriptions, sent as one command
        directs: list[tuple[int, Direct]] = []  # with the place of each one's answer
        for op in batch:
            if isinstance(op, Describe):
                described.append(op)
                continue
            self._describe_all(pipe, described)
            match op:
                case Release(nick=nick, value=value):
                    pipe.evalsha(self._scripts["release"], 1, self.keys.owner(nick), value)
                case FreeNicknames(node=node, keys=members, nicks=nicks):
                    keys = [self.keys.node(node), self.keys.presence]
                    keys += [self.keys.owner(nick) for nick in nicks]
                    args: list[str | int] = [node, FEED_CAP, *members]
                    pipe.evalsha(self._scripts["free"], len(keys), *keys, *args)
                case SetTopic(room_key=key, name=name, text=text, by=by):
                    value = _topic_value(name, text, by)
                    pipe.hset(self.keys.topics, key, value)
                    self._feed(pipe, "topic", key, value)
                case ShareBan(ban=ban, lifted=lifted):
                    self._feed(pipe, "unban" if lifted else "ban", ban.room_key, ban_json(ban))
                case Direct(node=node, key=key, event=event, author=author):
                    fields = self._inbox_entry(key, event)
                    if isinstance(event, PrivateMessage) and author and author._hub is self:
                        fields["f"] = self._sender_name(author)  # whom to tell if no one is there
                    directs.append((len(pipe), op))
                    self._write_direct(pipe, node, fields)
        self._describe_all(pipe, described)
        if len(pipe):
            answers = await pipe.execute()
            for place, direct in directs:
                if not answers[place]:
                    self._recipient_node_gone(direct)
        return events

    def _write_direct(self, client: Any, node: str, fields: dict[Any, Any]) -> Any:
        """Write an inbox entry for a member of ``node``, unless that node is gone: its
        inbox deleted, the entry would make it again for good (DIRECT)."""
        keys = (self.keys.node(node), self.keys.inbox(node))
        values = [value for pair in fields.items() for value in pair]
        return client.evalsha(self._scripts["direct"], len(keys), *keys, FEED_CAP, *values)

    def _sender_name(self, peer: Peer) -> str:
        """The name a private message's entry gives its sender, ``peer``, here ("f")."""
        name = self._pm_senders.get(peer)
        if name is None:
            self._directs += 1
            name = self._pm_senders[peer] = f"{self.node}:{self._directs}"
            self._pm_senders_by_name[name] = peer
        return name

    def _recipient_node_gone(self, direct: Direct) -> None:
        """``direct`` found its recipient's node gone (it left, or was counted dead, as
        the entry travelled): a private message's sender, who saw it as sent, is told."""
        author, event = direct.author, direct.event
        if isinstance(event, PrivateMessage) and author is not None and author._hub is self:
            self._reply(author, self._not_delivered_error(event))

    def _not_delivered_error(self, message: PrivateMessage) -> Error:
        """What the sender of ``message`` is told when it was not delivered."""
        event_id, ts = self.clock.stamp()
        return Error(event_id, ts, CommandError.code, NOT_DELIVERED.format(nick=message.recipient))

    def _describe_all(self, pipe: Any, described: list[Describe]) -> None:
        """Describe a run of members (then forget the run) in one command, in their order."""
        if not described:
            return
        keys = [self.keys.presence]
        args: list[str | int] = [FEED_CAP]
        for op in described:
            node = op.node or self.node
            keys.append(self.keys.users(node))
            args += [node, op.key, op.presence.encode() if op.presence is not None else ""]
        pipe.evalsha(self._scripts["describe"], len(keys), *keys, *args)
        described.clear()

    def _feed(self, pipe: Any, op: str, key: str, value: str) -> None:
        """Tell every node, on the presence feed, of ``op`` on ``key`` by this node."""
        pipe.xadd(
            self.keys.presence,
            {"node": self.node, "op": op, "key": key, "v": value},
            maxlen=FEED_CAP,
            approximate=True,
        )

    async def _claim(self, client: aioredis.Redis, claims: list[Claim]) -> set[Peer]:
        """Take the claimed nicknames; the members who lost a race for theirs are cut off."""
        if not claims:
            return set()
        pipe = client.pipeline(transaction=False)
        for claim in claims:
            owner = self.keys.owner(claim.nick)
            pipe.set(owner, self._owner_value(claim.nick), nx=True, ex=self._owner_ttl)
            pipe.get(owner)
        results = await pipe.execute()
        lost: set[Peer] = set()
        for claim, taken, holder in zip(claims, results[::2], results[1::2], strict=True):
            if taken:
                continue
            if isinstance(holder, str) and holder.startswith(self.node + " "):
                if holder != self._owner_value(claim.nick):  # renamed to a lookalike of itself
                    await client.set(
                        self.keys.owner(claim.nick),
                        self._owner_value(claim.nick),
                        ex=self._owner_ttl,
                    )
                continue
            if claim.peer.nick is not None and nick_key(claim.peer.nick) == nick_key(claim.nick):
                log.info("%s lost the nickname %s to another node", claim.peer.address, claim.nick)
                lost.add(claim.peer)
        for peer in lost:
            self._lose_race(peer)
        return lost

    def _race_lost_in(self, events: list[RoomEvent], lost: set[Peer]) -> list[RoomEvent]:
        """Members of this pass who lost the race for a nickname (_lose_race noted them:
        nothing of theirs goes to the cluster from now on, not even their going, as the
        nickname is the winner's). One who was renaming is known to the others by its old
        nickname: it leaves under that one. Returns the pass's room events less theirs."""
        renamed: dict[Peer, tuple[str, list[Room]]] = {}
        for event_op in events:
            author = event_op.author
            if author in lost:
                self._never_back(event_op)
                room = self._rooms.get(event_op.room_key)
                if isinstance(event_op.event, NickChange) and author is not None and room:
                    renamed.setdefault(author, (event_op.event.old, []))[1].append(room)
        for old, rooms in renamed.values():
            event_id, ts = self.clock.stamp()
            self._announce_to(Leave(event_id, ts, old, LOST_RACE), rooms, None, None)
        return [op for op in events if op.author not in lost]

    def _lost_race_by(self, operation: Operation) -> bool:
        """Whether ``operation`` is of a member that lost the race for its nickname."""
        return bool(self._race_lost) and _by(operation, self._race_lost)

    def _lose_race(self, peer: Peer, *, held: bool = False) -> None:
        """Another node took ``peer``'s nickname at the same moment (or as its key had
        lapsed: ``held``, the nickname it had here): say so, and cut it off. Nothing of it
        goes to the cluster from now on, not even its going: the nickname is the winner's
        (_race_lost). The members here who knew it (``held``) are told it left."""
        if peer.nick is not None:
            if held:
                self._tell_here_it_left(peer)
            self._race_lost.setdefault(peer, nick_key(peer.nick))
            while len(self._race_lost) > RACES_REMEMBERED:  # (gone long since: lines
                del self._race_lost[next(iter(self._race_lost))]  # held for a room too)
            for op in [op for op in self._outbox if self._lost_race_by(op)]:
                self._outbox.remove(op)
                if isinstance(op, RoomEvent):
                    self._never_back(op)
        self._held.pop(peer, None)
        self._diverting.discard(peer)
        if self.modes is not None:
            self.modes.hold.take_replies(peer)  # (nor those behind its held lines)
        event_id, ts = self.clock.stamp()
        text = (
            f"the nickname {peer.nick!r} was taken on another server at the same moment; "
            "connect again and choose another"
        )
        LocalHub.send(self, peer, Error(event_id, ts, NickTaken.code, text))
        LocalHub.flush(self, peer)
        self.drop(peer, LOST_RACE)

    def _tell_here_it_left(self, peer: Peer) -> None:
        """``peer`` lost the nickname it held: the members of this node who share a room
        with it are told it left (here only: to the others, the nickname is the winner's)."""
        event_id, ts = self.clock.stamp()
        leave = Leave(event_id, ts, peer.nick or "", LOST_RACE)
        told: set[Peer] = {peer}
        for room in peer.rooms:
            for member in list(room.members.values()):
                if member not in told:
                    told.add(member)
                    LocalHub.send(self, member, leave)

    async def _append(self, events: list[RoomEvent]) -> None:
        """The pass's room events to their streams, with their ids, in one script, once
        there is room for one more on its way."""
        if not events:
            return
        while self._scripts_out >= SCRIPTS_IN_FLIGHT:
            self._script_room.clear()
            await self._script_room.wait()
        self._write_script(events)

    def _write_script(self, events: list[RoomEvent]) -> None:
        """Write ``events``' append script to Redis, its answer awaited from now; or raise,
        nothing written, if the scripts' connection is gone.

        Written whole, never waited on: a Redis that stops reading (hung, cut off) holds
        at most SCRIPTS_IN_FLIGHT scripts in the socket's buffers, and the first answer
        overdue pauses the node (_answer_overdue)."""
        append, slots = self._append_script(events)
        reader = self._answers_reader
        # Never on a connection made again behind the node's back: what was on its way on
        # the last one is in doubt, and the recovery makes a new one.
        if not self._running.is_set() or reader is None or reader.ended:
            raise RedisConnectionError(REDIS_UNREACHABLE)
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._unanswered.append(_Sent(events, slots, now))
        self._scripts_out += 1
        self._all_answered.clear()
        reader.send(append)
        if self._answer_timer is None:
            self._answer_timer = loop.call_at(now + REPLY_TIMEOUT, self._answer_overdue)

    def _append_script(self, events: list[RoomEvent]) -> tuple[bytes, dict[str, int]]:
        """The append script's command for ``events`` (cluster_scripts.APPEND), packed, and
        the slot of each of their rooms in it."""
        slots: dict[str, int] = {}
        keys: list[str] = [self.keys.ids]
        per_slot: list[int] = []  # how many events each slot has
        packed: list[bytes] = []  # each event's arguments
        count = 0
        for op in events:
            slot = slots.get(op.room_key)
            if slot is None:
                slot = slots[op.room_key] = len(slots) + 1
                per_slot.append(0)
                key = op.room_key
                keys += [
                    self.keys.events(key),
                    self.keys.history(key),
                    self.keys.count(key),
                    self.keys.modes(key),
                ]
            per_slot[slot - 1] += 1
            event = op.sent = self._outgoing(op.event)
            more = self._event_args(op, event)
            packed.append(event_arguments(slot, op.seq, op.token, stream_document(event), more))
            count += 4 + len(more)
        head: list[str | int] = [
            "EVALSHA",
            self._scripts["append"],
            len(keys),
            *keys,
            self._highest,
            self.stream_cap,
            self.history_rows,
            len(events),
            self.node,
            *per_slot,
        ]
        return b"*%d\r\n%b%b" % (len(head) + count, bulk_strings(head), b"".join(packed)), slots

    # -- the scripts' answers ------------------------------------------------------

    def _read_answers(self) -> None:
        """Read the scripts' answers on the connection redis-py made for them, each acted on
        in the pass its bytes arrive in, with no task to wake and no redis-py underneath
        (docs/scaling-measured.md, "The scripts' connection")."""
        self._answers_reader = ReplyReader.take_over(
            self._appender, self._script_answered, self._answers_lost
        )

    def _stop_reading_answers(self) -> None:
        """Act on no answer more from that connection (Redis lost, or the node closed)."""
        self._answers_reader = None
        if self._answer_timer is not None:
            self._answer_timer.cancel()
            self._answer_timer = None

    def _script_answered(self, reader: ReplyReader, reply: Any) -> None:
        """A script's answer, in the order the scripts were written: acted on now, unless
        one before it still has I/O to do (it starts reading a room), or it has some."""
        if reader is not self._answers_reader:
            return  # on a connection given up: its scripts are in doubt already
        if not self._unanswered:  # failed meanwhile: the connection is not to be trusted
            self._scripts_lost(RedisConnectionError("an answer to no script"))
            return
        sent = self._unanswered.popleft()
        if self._acting is None and (isinstance(reply, ErrorReply) or self._reads_every_room(sent)):
            try:
                self._act_on(sent, reply)
            finally:
                self._answered_one()
            if not self._unanswered:  # the last answer awaited: no other in these bytes
                self._flush_now()
            return
        self._answers.append((sent, reply))
        if self._acting is None:
            self._acting = asyncio.create_task(self._act_on_answers(), name="cluster answers")

    def _act_on(self, sent: _Sent, reply: Any) -> bool:
        """The part of acting on an answer that needs no I/O; whether its events have their
        ids (not a refusal, nor a failure: the node pauses then)."""
        try:
            if isinstance(reply, ErrorReply):
                # A refusal (Redis at its maxmemory, say): that script did not run. Those
                # after it are in doubt.
                self._failed_batch(list(sent.events))
                self._scripts_lost(_reply_error(str(reply)))
                return False
            self._answered(sent, reply)
        except Exception as exc:
            self._not_acted_on(sent, exc)
            return False
        return True

    async def _act_on_answers(self) -> None:
        """Act on the answers waiting, in order: those that start reading a room, and those
        behind them. (The one being acted on as Redis is lost is finished all the same:
        Redis ran its script, and the recovery waits for it. Those behind it are in doubt
        from then on: _fail_unanswered.)"""
        try:
            while self._answers:
                sent, reply = self._answers[0]
                try:
                    if self._act_on(sent, reply):
                        rooms = self._new_rooms(sent)
                        self._first_ids.update(rooms)
                        await self._start_reading_rooms(rooms)
                except Exception as exc:
                    self._not_acted_on(sent, exc)
                finally:
                    self._answers.popleft()
                    self._answered_one()
        finally:
            self._acting = None

    def _not_acted_on(self, sent: _Sent, error: Exception) -> None:
        """Acting on an answer failed. Redis took those events: the ones not yet told are
        heard when the node, paused now, is back and reads their rooms (or, in a room it
        has not read yet, are failed then: _settle_in_doubt)."""
        if not isinstance(error, RedisError | OSError):
            log.exception("node %s: acting on Redis's answer failed", self.node)
        untold = [op for op in sent.events if (op.room_key, op.seq) in self._in_flight]
        self._doubt(untold)
        self._lost(error)

    def _answer_overdue(self) -> None:
        """One timer for the oldest script on its way: it fires at most once a time-out, and
        goes back to sleep until the answer now awaited is due."""
        self._answer_timer = None
        if self._answers_reader is None or not self._unanswered:
            return
        loop = asyncio.get_running_loop()
        due = self._unanswered[0].at + REPLY_TIMEOUT
        if loop.time() < due:
            self._answer_timer = loop.call_at(due, self._answer_overdue)
            return
        self._scripts_lost(TimeoutError())

    def _answers_lost(self, reader: ReplyReader, error: BaseException | None) -> None:
        if reader is self._answers_reader:
            self._scripts_lost(error or RedisConnectionError("Redis closed the connection"))

    def _scripts_lost(self, error: BaseException) -> None:
        """The scripts' connection is not to be trusted any more: what is on its way on it
        is in doubt, and the node pauses."""
        self._stop_reading_answers()
        self._fail_unanswered()
        self._lost(error)

    def _fail_unanswered(self) -> None:
        """Every script still on its way is lost with its connection. Redis may have run
        it, and only its answer is lost: its events are in doubt until the node is back
        (_settle_in_doubt). So are the events of answers waiting behind the one being
        acted on: acted on now, they could start reading a room past events of the one
        before them that are in doubt (its I/O failed), and those would not be found."""
        while len(self._answers) > 1:
            sent, _ = self._answers.pop()
            self._doubt([op for op in sent.events if (op.room_key, op.seq) in self._in_flight])
            self._answered_one()
        while self._unanswered:
            self._doubt(self._unanswered.popleft().events)
            self._answered_one()

    def _doubt(self, events: list[RoomEvent]) -> None:
        """``events`` may or may not be in their rooms' streams; closing, no verdict can
        come: their authors are told they were not sent."""
        if self._closing:
            self._failed_batch(list(events))
        else:
            self._in_doubt += events

    async def _settle_in_doubt(self, client: aioredis.Redis, *, emptied: bool) -> None:
        """Back after an outage: the events in doubt that are in their rooms' streams stay
        on their way, and the reader hears them there as it reads on (in a room this node
        was not reading yet, from the first of them, as if its script had been answered);
        the others, which Redis never ran, are failed, their authors told. In a Redis that
        came back empty, none is: all are failed."""
        doubtful = list(self._in_doubt)
        ran: dict[tuple[str, int], int] = {}  # their event ids
        for key in {op.room_key for op in doubtful} if not emptied else ():
            wanted = {op.seq for op in doubtful if op.room_key == key}
            position = self._positions.get(key)
            ran.update(await self._find_own(client, key, position or "-", wanted))
        for key in {key for key, _ in ran if self._positions.get(key, "") is None}:
            await self._start_reading(client, key, min(i for (k, _), i in ran.items() if k == key))
        # Nothing awaited from here: what an answer acted on puts in doubt meanwhile (a
        # script it was acting on) is settled next (_recover).
        settled = {id(op) for op in doubtful}
        self._in_doubt = [op for op in self._in_doubt if id(op) not in settled]
        for op in doubtful:
            event_id = ran.get((op.room_key, op.seq))
            if event_id is None:
                continue
            self._appended(op, event_id)  # (passed over should Redis trim it before it is read)
            self._highest = max(self._highest, event_id)
            if isinstance(op.event, SearchStarted):  # the cluster's search id, as answered
                self._search_ids[op.event.search_id] = event_id
        lost = [
            op
            for op in doubtful
            if (op.room_key, op.seq) not in ran
            and (op.unread or (op.room_key, op.seq) in self._in_flight)
        ]
        if not lost:
            return
        log.warning(
            "node %s: %d events on their way as Redis was lost never reached it",
            self.node,
            len(lost),
        )
        self._failed_batch(list(lost), NOT_HEARD)
        for key in {op.room_key for op in lost}:
            self._unwatch_if_empty(key)

    async def _find_own(
        self, client: aioredis.Redis, key: str, after: str, wanted: set[int]
    ) -> dict[tuple[str, int], int]:
        """Which of this node's events ``wanted`` (by sequence number) are in the room's
        stream after the entry ``after`` (``-``: from its start), and their ids; read a page
        at a time, until all are found."""
        found: dict[tuple[str, int], int] = {}
        stream, start = self.keys.events(key), after if after == "-" else f"({after}"
        while len(found) < len(wanted):
            entries = _entries(await client.xrange(stream, start, count=READ_COUNT))
            for entry_id, fields in entries:
                seq = self._own_seq(fields)
                if seq in wanted:
                    found[(key, seq)] = id_number(entry_id)
            if len(entries) < READ_COUNT:
                break
            start = f"({entries[-1][0]}"
        return found

    def _own_seq(self, fields: dict[str, str]) -> int | None:
        """This node's sequence number of a room stream's entry (its origin, NODE:SEQ), or
        None: another node's."""
        node, _, seq = fields.get("o", "").rpartition(":")
        return int(seq) if node == self.node and seq.isdigit() else None

    def _answered_one(self) -> None:
        """A script is answered (or will never be): room for another."""
        self._scripts_out -= 1
        self._script_room.set()
        if not self._scripts_out:
            self._all_answered.set()

    def _answered(self, sent: _Sent, reply: list[Any]) -> None:
        """A pass's events have their ids: tell whom it may."""
        events = sent.events
        first = sent.first = int(reply[0])
        self._highest = max(self._highest, first + len(events) - 1)
        for offset, op in enumerate(events):
            self._appended(op, first + offset)
            if isinstance(op.event, SearchStarted):  # the cluster's search id
                self._search_ids[op.event.search_id] = first + offset
            if op.unread and self.history is not None:
                # Read back nowhere here: kept now (a sweeper's leaving, for /seen).
                self._keep(op, with_id(op.event, first + offset), op.room_key)
        self._deliver_sent(events, first, sent.slots, reply)
        for op in events:
            position = self._positions.get(op.room_key)
            if (
                position is not None
                and (op.room_key, op.seq) in self._in_flight
                and id_number(position) >= op.event_id  # the reader is past it already
            ):
                self._passed_over(op)

    def _reads_every_room(self, sent: _Sent) -> bool:
        """Whether this node reads every room of ``sent`` already (its answer needs no I/O)."""
        positions = self._positions
        return all(positions.get(op.room_key, "") is not None for op in sent.events)

    def _new_rooms(self, sent: _Sent) -> dict[str, int]:
        """The rooms of an answered pass that this node does not read yet, each with the
        id of its first event in the pass (``sent.first``: the pass's first id)."""
        new: dict[str, int] = {}
        for offset, op in enumerate(sent.events):
            if self._positions.get(op.room_key, "") is None:
                new.setdefault(op.room_key, sent.first + offset)
        return new

    async def _start_reading_rooms(self, rooms: dict[str, int]) -> None:
        """Start reading ``rooms``, each from its event id, and wake the reader, which
        waits on the old set of streams."""
        if not rooms:
            return
        client = self._connected()
        for key, event_id in rooms.items():
            await self._start_reading(client, key, event_id)
        await client.xadd(self.keys.inbox(self.node), {"w": "1"}, maxlen=FEED_CAP)

    async def _start_reading(self, client: aioredis.Redis, key: str, event_id: int) -> None:
        """This node's first event in the room is ``event_id``: read the room from it on,
        and its history from before it (the script wrote both in one step, so the two meet
        exactly), before the reader can bring a joiner's join back. The same for its
        moderation (cluster_moderation.py)."""
        room = self._rooms.get(key)
        if self.history is not None:
            name = room.name if room is not None else key
            await self.history.load_ring(name, key, event_id)
        # Both read before either is acted on: the hash's operators are members the room
        # shows once it follows the comings before this node's first event there.
        fields = await self._modes_hash(client, key) if self.modes is not None else None
        before, tokens = await self._comings_before(client, key, event_id)
        room = self._rooms.get(key)
        operators_told: tuple[str, ...] = ()
        if self.modes is not None and room is not None:
            operators_told = self.modes.moderation.operators(room)  # as joiners were answered
        if isinstance(room, ClusterRoom):
            # From now on the room shows the other nodes' members as its stream tells
            # their comings and goings: first, as they stood just before this node's first
            # event there, where their presence is behind (or ahead of) it.
            for event in comings_owed(frozenset(room.remote), before, self._peers, room.name):
                self._follow(room, event, None)
            room.heard.update(
                key
                for event in before
                for key in _nick_keys(event)
                if key in room.remote or key in room.listed
            )
        if self.modes is not None and fields is not None and room is not None:
            self._apply_modes(room, fields)
        answered: list[Peer] = []
        owed: list[tuple[Peer, Event]] = []
        if isinstance(room, ClusterRoom):
            answered = [room.joining[k] for k in room.welcomed if k in room.joining]
            owed = room.owe(before, self._peers)
        self._positions[key] = f"{event_id - 1}-0"
        self._read_to[key] = event_id - 1
        self._first_ids.pop(key, None)
        # What the other rooms said before this node's first event here, and waited for
        # this room to start (_tell), goes first: the news owed here is how the room stood
        # just before that event, so a nick change told after it would rename wrongly.
        self._tell_waiting()
        if isinstance(room, ClusterRoom):
            changes: list[ModeChange] = []
            if self.modes is not None and answered:
                changes = self._operators_owed(room, operators_told)
            told = sorted(((p, e, tokens.get(e.id, "")) for p, e in owed), key=_owed_id)
            news = _OwedNews(key, told, answered, changes)
            others = [k for k, at in self._positions.items() if k != key and at is not None]
            if news.owed and others:
                # The news shows the room as its stream has it just before this node's
                # first event there; the node's other rooms may not be read that far yet,
                # and what they said before it (a nick change, say) goes first. They are
                # read again at once, and the news takes its place among what they bring.
                self._owed_later.append(news)
                self._read_so_far()
            else:
                self._tell_owed(news)
        if self.modes is not None:
            self._release_held()

    def _tell_owed(self, news: _OwedNews, upto: float = math.inf) -> bool:
        """Tell the news owed (_OwedNews) with ids below ``upto``; True once all of it,
        and the operators' changes after it, are told."""
        room = self._rooms.get(news.room_key)
        if not isinstance(room, ClusterRoom):
            news.owed.clear()
            return True  # read no more here: no joiner left to tell
        while news.owed and news.owed[0][1].id < upto:
            peer, event, token = news.owed.pop(0)
            if not _still_joining(room, peer):
                continue  # it left (or rejoined, answered afresh) as the news waited
            # (A nick change or leaving owed as a join or a part is this room's alone.)
            first = not token or type(event) not in _TOLD_ONCE or self._first_time(token, peer)
            self._tell_joiner_once(peer, room, event, first, token)
        if news.owed:
            return False
        for peer in news.answered:
            if _still_joining(room, peer):
                for change in news.changes:
                    self._tell_joiner(peer, room, change)
        return True

    def _take_owed(self, *, everything: bool = False) -> list[_OwedNews]:
        """The news owed (_owed_later) whose room is read up to a reply's moment since it
        started (no longer in _read_to), or no longer read here; ``everything``: all."""
        if not self._owed_later:
            return []
        taken = [
            news
            for news in self._owed_later
            if everything
            or news.room_key not in self._read_to
            or self._positions.get(news.room_key) is None
        ]
        self._owed_later = [news for news in self._owed_later if news not in taken]
        return taken

    def _operators_owed(self, room: Room, told: tuple[str, ...]) -> list[ModeChange]:
        """The room's operators as just loaded from Redis, against ``told``, those a joiner
        was answered with before (this node's view): each difference, as the server's own
        ``op`` or ``deop`` (an IRC client keeps its channel list by MODE lines)."""
        assert self.modes is not None
        now = self.modes.moderation.operators(room)
        told_keys, now_keys = {nick_key(n) for n in told}, {nick_key(n) for n in now}
        event_id, ts = self.clock.stamp()
        return [
            ModeChange(event_id, ts, "", room.name, "op", nick)
            for nick in now
            if nick_key(nick) not in told_keys
        ] + [
            ModeChange(event_id, ts, "", room.name, "deop", nick)
            for nick in told
            if nick_key(nick) not in now_keys and room.has_member(nick_key(nick))
        ]  # (not one told gone since: its going says enough)

    async def _comings_before(
        self, client: aioredis.Redis, key: str, event_id: int
    ) -> tuple[list[Event], dict[int, str]]:
        """The comings and goings among the room's last ``LOOKED_BACK`` events before
        ``event_id``, in order: what members answered before this node read the room may
        not have known of (ClusterRoom.owe); and the tokens of those announced to several
        rooms, by id."""
        stream = self.keys.events(key)
        entries = _entries(await client.xrevrange(stream, f"({event_id}-0", "-", count=LOOKED_BACK))
        comings: list[Event] = []
        tokens: dict[int, str] = {}
        for entry_id, fields in reversed(entries):
            document = fields.get("e", "")
            if document.startswith(_COMING_DOCUMENTS):
                event = _parse(document)
                if event is not None and not self._of_own_member(event, fields):
                    comings.append(with_id(event, id_number(entry_id)))
                    if fields.get("a"):
                        tokens[comings[-1].id] = fields["a"]
        return comings, tokens

    def _of_own_member(self, event: Event, fields: dict[str, str]) -> bool:
        """Whether a room's entry is a coming or going of a member of this node, perhaps
        under a nickname it has changed since (its own join, part, nick change or
        leaving): this node knows its own members; shown from it, an old nickname would
        stay in the room. (Not a kick, nor a sweeper's leaving: those are of others.)"""
        if self._own_seq(fields) is None:
            return False
        return type(event) in (Join, Part, NickChange) or (
            type(event) is Leave and event.reason != NODE_LOST
        )

    def _deliver_sent(
        self, events: list[RoomEvent], first: int, slots: dict[str, int], reply: list[Any]
    ) -> None:
        """This pass's events, answered with their ids: where this node has read its room up
        to the entry just before them (the count it read is the room's count before the pass),
        its members hear them now, in the stream's order, instead of a round trip later off
        the stream (the reader then passes over them). Elsewhere the reader brings them."""
        ready = {
            key
            for key, slot in slots.items()
            if self._positions.get(key) is not None
            and self._counts.get(key) == reply[slot]
            and key not in self._waiting
        }
        if not ready:
            return
        behind: dict[str, float] | None = None
        for offset, op in enumerate(events):
            key = op.room_key
            if key not in ready:
                continue
            event_id = first + offset
            if type(op.event) in _COMING_TYPES:
                if behind is None:
                    behind = self._rooms_behind()
                    self._left_behind(behind, ready)
                if behind and self._heard_before_its_turn(key, event_id, behind, op):
                    ready.discard(key)  # the reader tells it, in its turn (_tell)
                    behind[key] = min(behind.get(key, math.inf), event_id - 1)
                    continue
            if self._in_flight.pop((key, op.seq), None) is not None:
                self._positions[key] = f"{event_id}-0"
                self._counts[key] += 1
                assert op.sent is not None
                self._deliver(key, event_id, op.sent, op, op.token, op.made)
                self.told_on_answer += 1
                if self._fences:  # a joiner's answer before what follows (as in _tell)
                    self._pass_fences()
            else:
                ready.discard(key)  # not waited for here: the reader tells the rest
        for key in ready:
            self._unwatch_if_empty(key)

    def _left_behind(self, behind: dict[str, float], ready: Collection[str]) -> None:
        """Add to ``behind`` (_rooms_behind) the rooms where this node's events, answered
        already, are left for the reader to tell (their rooms not ``ready``): a coming or
        going told at once must not overtake one of them (its author's part of such a
        room, then its nick change, say)."""
        for (key, _), op in self._in_flight.items():
            if op.event_id and key not in ready:
                behind[key] = min(behind.get(key, math.inf), op.event_id - 1)

    async def _load_modes(self, client: aioredis.Redis, room: Room) -> None:
        """This node starts reading ``room``: its moderation as Redis holds it, then this
        node's own changes there still on their way."""
        self._apply_modes(room, await self._modes_hash(client, room.key))

    async def _modes_hash(self, client: aioredis.Redis, key: str) -> dict[str, str]:
        return _hash(await client.hgetall(self.keys.modes(key)))

    def _apply_modes(self, room: Room, fields: dict[str, str]) -> None:
        assert self.modes is not None
        pending = [op.event for (key, _), op in self._in_flight.items() if key == room.key]
        self.modes.loaded(room, fields, pending)

    def _event_args(self, op: RoomEvent, event: Event) -> list[str | int]:
        """What the append script does with ``event`` (``op``'s, as it goes to Redis) besides
        appending it (event_arguments's ``more``): a change to its room's modes, a line for
        its history, or nothing (0)."""
        if self.modes is not None and type(event) in _MODES_WRITTEN and not op.elsewhere:
            write = self.modes.write(event, self._rooms.get(op.room_key), op.author)
            if write is not None:
                op.made = write.made
                args: list[str | int] = ["c" if write.made else "m", len(write.changes)]
                for change in write.changes:
                    args += [change.action, change.field, change.value]
                return args
        if self.history is None:
            return [0]
        record = op.record = said_record(event, getattr(event, "room", ""), op.room_key)
        if record is None:
            return [0]
        fields = history_fields(record)
        return [1, *(str(fields[name]) for name in _HISTORY_FIELDS)]

    def _keep(self, origin: RoomEvent, event: Event, key: str) -> None:
        """This node's own ``event``, back with its id: the history store keeps, beside the
        line the script wrote, the line's topic and its speaker's sighting, or a leaving
        of the room (for /seen and /summary). Once per event in the cluster: here."""
        assert self.history is not None
        if origin.record is not None:
            self.history.keep((origin.record._replace(id=event.id),))
        elif isinstance(event, Part):
            self.history.keep((leave_record(event, event.room, key),))
        elif isinstance(event, Leave):
            room = self._rooms.get(key)
            self.history.keep((leave_record(event, room.name if room else key, key),))

    def _outgoing(self, event: Event) -> Event:
        """``event`` as it goes to Redis: an AI event's search id the cluster's (its
        question's event id). Its id stays this node's: the stream document says 0 (the
        stream entry's id is its id), and it takes its id as it comes back."""
        if isinstance(event, AIDelta | AIAnswer | SearchFailed):
            search_id = self._search_ids.get(event.search_id, event.search_id)
            if not isinstance(event, AIDelta):
                self._search_ids.pop(event.search_id, None)
            return dataclasses.replace(event, search_id=search_id)
        return event

    # -- the reader ------------------------------------------------------------------

    def _read_streams(self) -> None:
        """Start reading the streams, on the connection redis-py made for it."""
        self._streams_reader = ReplyReader.take_over(
            self._reading, self._xread_replied, self._reading_lost
        )
        self._send_xread(self._streams_reader)

    def _stop_reading_streams(self) -> None:
        """Read nothing more on that connection (Redis lost, or the node closing): what
        comes on it now is dropped, and the positions say where to read from next time."""
        self._streams_reader = None
        self._read_due = None
        self._asked = ()
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _send_xread(self, reader: ReplyReader) -> None:
        """The next XREAD, from where the node has read each stream. (One at a time: each
        is sent as the last one's reply is acted on.)"""
        if reader is not self._streams_reader:
            return  # a connection given up
        if self._read_to:
            self._asked = tuple(key for key in self._read_to if self._positions.get(key))
        # Rooms read only so far are read at once, without waiting for news: what waits
        # for them (_waiting) would otherwise wait for the next news, BLOCK_MS at worst.
        self._blocking = not self._asked
        block = ("BLOCK", BLOCK_MS) if self._blocking else ()
        reader.send(command("XREAD", "COUNT", READ_COUNT, *block, "STREAMS", *self._streams()))
        loop = asyncio.get_running_loop()
        self._read_due = loop.time() + (BLOCK_MS / 1000 if self._blocking else 0) + REPLY_TIMEOUT
        timer = self._read_timer
        if timer is None or self._read_due < timer.when():  # (a read without BLOCK: sooner)
            if timer is not None:
                timer.cancel()
            self._read_timer = loop.call_at(self._read_due, self._read_overdue)

    def _read_overdue(self) -> None:
        """One timer for all the XREADs: it fires at most once a block, and goes back to
        sleep until the reply now awaited is due."""
        self._read_timer = None
        due = self._read_due
        if due is None or self._streams_reader is None:
            return
        loop = asyncio.get_running_loop()
        if loop.time() < due:
            self._read_timer = loop.call_at(due, self._read_overdue)
            return
        self._reading_lost(self._streams_reader, TimeoutError())

    def _xread_replied(self, reader: ReplyReader, reply: Any) -> None:
        """An XREAD's reply, as it arrives: act on it, then read again."""
        if reader is not self._streams_reader:
            return  # sent before Redis was lost: the node reads again from where it was
        self._read_due = None
        if isinstance(reply, ErrorReply):
            self._reading_lost(reader, _reply_error(str(reply)))
            return
        try:
            rooms: list[tuple[str, Entries]] = []
            inbox: Entries = []
            streams = xread_entries(reply)
            for stream, entries in streams:
                if stream == self.keys.presence:
                    self._read_presence(entries)
                elif stream == self.keys.inbox(self.node):
                    inbox = entries
                else:
                    rooms.append((_room_key_of(stream), entries))
            # A blocked XREAD is answered, before Redis 7.2, with the one stream whose
            # news woke it: the others may have news of the same moment, left out.
            woken = self._blocking and len(streams) == 1 and not self._woken_whole
            self._read_rooms(rooms, whole=not woken)
            # After the rooms: a private message written after a line its sender said just
            # before it comes after that line, as on a single server.
            self._read_inbox(inbox)
        except Exception as exc:
            log.exception("node %s: acting on what it read from Redis failed", self.node)
            self._reading_lost(reader, exc)
            return
        self._flush_now()
        # Then at least a turn of the loop (_read_pause): on a busy node, the members'
        # writes these events queued go out before the next XREAD.
        loop = asyncio.get_running_loop()
        pause = self._read_pause()
        if pause:
            loop.call_later(pause, self._send_xread, reader)
        else:
            loop.call_soon(self._send_xread, reader)

    def _flush_now(self) -> None:
        """What a reply from Redis queued for this node's members, written as its bytes
        arrived rather than a turn of the loop later (LocalHub.flush_now, on a quiet node).
        A fault there is the fan-out's, not the connection's: logged, as the loop would."""
        self._pass_fences()  # (events given up on, or trimmed before they were read)
        try:
            self.flush_now()
        except Exception:
            log.exception("node %s: writing to its members failed", self.node)

    def _reading_lost(self, reader: ReplyReader, error: BaseException | None) -> None:
        if reader is self._streams_reader:  # (_lost stops reading it)
            self._lost(error or RedisConnectionError("Redis closed the connection"))

    def _read_pause(self) -> float:
        """How long the reader waits before its next XREAD. At least a turn of the loop
        (a quiet node has written what these events queued already, _flush_now). A busy
        node, whose hub spaces its passes (core/pacing.py), reads once a pass: each XREAD
        then carries a pass's worth of events for its fixed cost, in the node and in
        Redis."""
        pacer = self.pacer
        return pacer.window if pacer is not None and pacer.busy else 0.0

    def _streams(self) -> list[str]:
        """XREAD's streams and the last id read of each: every name, then every id."""
        names = [self.keys.presence, self.keys.inbox(self.node)]
        positions = [self._presence_position, self._inbox_position]
        for key, position in self._positions.items():
            if position is not None:
                names.append(self.keys.events(key))
                positions.append(position)
        return names + positions

    def _read_presence(self, entries: Entries) -> None:
        for entry_id, fields in entries:
            self._presence_position = entry_id
            node, op, key, value = fields["node"], fields["op"], fields["key"], fields["v"]
            if op == "topic":
                self._apply_topic(key, value)
            elif node == self.node:
                continue
            elif op in ("ban", "unban"):
                ban = ban_from_json(value)
                if ban is not None and self.on_ban is not None:
                    self.on_ban(ban, op == "unban")
            elif op == "user":
                self._apply_presence(node, key, value)
            elif op == "gone":
                remote = self._remote.get(key)
                if remote is not None and remote.node == node:
                    self._forget_remote(key)

    def _read_inbox(self, entries: Entries) -> None:
        for entry_id, fields in entries:
            self._inbox_position = entry_id
            if "e" not in fields:
                continue  # a wake-up: the rooms to read changed
            name = fields.get("u", "")
            if name:
                if name in self._inbox_read:
                    continue  # the same entry, written twice (redis-py sent it again)
                self._inbox_read[name] = None
                while len(self._inbox_read) > INBOX_REMEMBERED:
                    self._inbox_read.popitem(last=False)
            if "s" in fields:  # a notice for the sender of a private message, by its name
                peer = self._pm_senders_by_name.get(fields["k"])
            else:
                peer = self._peers.get(fields["k"])
            event = _parse(fields["e"])
            if event is None:
                continue
            if type(event) is Error:
                # A notice for one member: this node's to number, as its own replies. The
                # id of the node that made it can be above room events not read here yet,
                # and the replies made here after it would be numbered after them.
                event = dataclasses.replace(event, id=self.clock.stamp()[0])
            else:
                self.clock.seen(event.id)
            if peer is not None:
                self.send(peer, event)
            elif isinstance(event, PrivateMessage) and fields.get("f"):
                self._not_delivered(name.rpartition(":")[0], fields["f"], event)

    def _inbox_entry(self, key: str, event: Event) -> dict[Any, Any]:
        """An inbox entry for the member ``key``. "u" is the entry's own name, should
        redis-py send it again (its connection lost after Redis ran it)."""
        self._directs += 1
        document = json.dumps(to_json(event), ensure_ascii=False)
        return {"k": key, "e": document, "u": f"{self.node}:{self._directs}"}

    def _not_delivered(self, node: str, sender: str, message: PrivateMessage) -> None:
        """A private message came for a member who is here no more (it left, or renamed
        as the message travelled): its sender, who saw it as sent, is told it was not.

        The notice goes apart from the outbox, in a task of its own: it is in no room's
        order, and this node's own lines must not wait behind it."""
        if not node or node == self.node:
            return
        if len(self._undelivered) >= UNDELIVERED_KEPT:
            self._undelivered_dropped += 1  # (counted in the log once those before are sent)
            return
        entry = self._inbox_entry(sender, self._not_delivered_error(message))
        entry["s"] = "1"  # "k" is the sender's name on its node, not its nickname
        self._undelivered.append((node, entry))
        if self._telling_undelivered is None or self._telling_undelivered.done():
            self._telling_undelivered = asyncio.create_task(
                self._tell_undelivered(), name="cluster undelivered"
            )

    async def _tell_undelivered(self) -> None:
        while self._undelivered:
            node, entry = self._undelivered[0]
            try:
                await self._write_direct(self._connected(), node, entry)  # (gone: dropped)
            except Exception as exc:
                if not isinstance(exc, RedisError | OSError | ClusterUnavailable):
                    log.exception("node %s: telling a sender failed", self.node)
                self._undelivered_dropped += len(self._undelivered)
                self._undelivered.clear()
                why = _said(exc)
                break
            self._undelivered.popleft()
        else:
            why = f"more than {UNDELIVERED_KEPT} waited for Redis"
        if self._undelivered_dropped:
            log.warning(
                "node %s could not tell %d senders that their private message was not "
                "delivered: %s",
                self.node,
                self._undelivered_dropped,
                why,
            )
            self._undelivered_dropped = 0

    def _read_rooms(self, rooms: list[tuple[str, Entries]], *, whole: bool = True) -> None:
        """The rooms' entries an XREAD brought, with those waiting, told in id order
        (_tell). ``whole``: the reply has every stream read up to its moment; otherwise
        only those it brings, and the others are read only up to where they were, until
        the next reply (read at once) brings them up to its moment."""
        asked, self._asked = self._asked, ()
        if whole:
            for key in asked:
                self._read_to.pop(key, None)  # read up to this reply's moment now
        else:
            self._read_so_far()
        read: list[_Read] = []
        for key, entries in rooms:
            if not whole:
                self._read_to.pop(key, None)  # this one is read up to the reply's moment
            if len(entries) >= READ_COUNT:
                self._read_to[key] = id_number(entries[-1][0])  # more may come after
            self._read_room(key, entries, read)
        keys = [key for key, _ in rooms]
        in_turn = True
        if self._waiting:
            keys += self._waiting
            waited = self._take_waiting()
            # A room cut short reply after reply would hold the others' back for as long
            # as it lags: past a reply's worth, what waits is told as it is.
            in_turn = len(waited) <= READ_COUNT
            read += waited
            read.sort(key=_event_id_of)
        elif len(rooms) > 1:
            read.sort(key=_event_id_of)
        self._tell(read, in_turn=in_turn, owed=self._take_owed() if whole else ())
        for key in keys:
            self._unwatch_if_empty(key)

    def _read_so_far(self) -> None:
        """Every room this node reads counts as read only up to where it is (those marked
        already, as far as they were): the next XREAD asks for them, without BLOCK."""
        for key, position in self._positions.items():
            if position is not None:
                self._read_to.setdefault(key, id_number(position))

    def _take_waiting(self) -> list[_Read]:
        waited = [item for queue in self._waiting.values() for item in queue]
        self._waiting.clear()
        return waited

    def _tell_waiting(self, *, in_turn: bool = True) -> None:
        """Tell what waits, as far as it may go now (what it waited for is no longer on
        its way), without waiting for the next reply; all of it unless ``in_turn``."""
        self._retell_called = False
        if not self._running.is_set():
            return
        owed = self._take_owed(everything=not in_turn)
        if not self._waiting and not owed:
            return
        read = sorted(self._take_waiting(), key=_event_id_of)
        self._tell(read, in_turn=in_turn, owed=owed)
        for key in {item[1] for item in read}:
            self._unwatch_if_empty(key)
        self._flush_now()

    def _tell(
        self, read: list[_Read], *, in_turn: bool = True, owed: Collection[_OwedNews] = ()
    ) -> None:
        """Deliver what was read, in id order; but a coming or going that a member of its
        room here might hear before something earlier in another of its rooms (one this
        node is starting to read, or has read only so far), and what follows it in its
        room, waits (_waiting), unless not ``in_turn``. So a member who joins a room new
        to its node, parts it and changes nick hears the three in that order, as a single
        server tells them. News owed to joiners (``owed``) is told before the first event
        above its ids, but not past one that waits in a room its joiners hear: it waits
        too (_owed_later), and so does its room."""
        waiting = self._waiting
        behind: dict[str, float] | None = None
        # With a joiner's answer behind a fence: this node's events still to be told here.
        upcoming = _later_seqs(read) if self._fences else None
        owing = list(owed)  # each told in its turn, before the first event above its ids
        waited: list[tuple[int, str]] = []  # (nor past one its joiners hear that waits)
        for at, item in enumerate(read):
            event_id, key, event, origin, token, made = item
            if owing:
                owing = [
                    news
                    for news in owing
                    if not self._tell_owed(news, self._news_upto(news, event_id, waited))
                ]
            queue = waiting.get(key)
            if queue is not None:
                queue.append(item)
                continue
            # Its room's news waits (above), and what follows it; or it could overtake an
            # earlier coming or going in another room.
            waits = in_turn and bool(owing or self._owed_later) and self._news_waits(key, owing)
            if not waits and in_turn and type(event) in _COMING_TYPES and not _elsewhere(origin):
                if behind is None:
                    behind = self._rooms_behind()
                waits = bool(behind) and self._heard_before_its_turn(key, event_id, behind, origin)
            if waits:
                waiting[key] = [item]
                if behind is not None:
                    behind[key] = event_id - 1  # the others' comings wait for it in turn
                waited.append((event_id, key))
                continue
            self._deliver(key, event_id, event, origin, token, made)
            if upcoming is not None and origin is not None:
                self._pass_fences(upcoming[at])  # its answer before what follows
        for news in owing:
            if not self._tell_owed(news, self._news_upto(news, math.inf, waited)):
                news.held = True
                self._owed_later.append(news)  # told with what waits, in its turn

    def _news_upto(self, news: _OwedNews, upto: float, waited: list[tuple[int, str]]) -> float:
        """How far ``news`` may be told: below ``upto``, and below the first event that
        waits (``waited``: its id and room, in id order) in a room one of its joiners
        hears, which it would overtake."""
        for event_id, key in waited:
            if event_id >= upto:
                break
            room = self._rooms.get(key)
            if room is not None and any(
                nick_key(peer.nick or "") in _hearing(room) for peer, _, _ in news.owed
            ):
                return event_id
        return upto

    def _news_waits(self, key: str, owing: list[_OwedNews]) -> bool:
        """Whether news owed in room ``key`` (_OwedNews) is held behind an event that
        waits: its events, all after that news, wait for it. (News that only waits for
        the other rooms to be read is told among what the next whole reply brings.)"""
        return any(news.room_key == key for news in owing) or any(
            news.held and news.room_key == key for news in self._owed_later
        )

    def _rooms_behind(self) -> dict[str, float]:
        """The rooms this node is starting to read, has read only up to a known id, or
        holds events of (_waiting), each with the id it is told up to (-1: its first event
        here is on its way, its id not known yet). Usually none: every room is read up to
        the last reply's moment."""
        positions = self._positions
        behind: dict[str, float] = {
            key: known for key, known in self._read_to.items() if positions.get(key) is not None
        }
        for key, queue in self._waiting.items():
            behind[key] = min(behind.get(key, math.inf), queue[0][0] - 1)
        for key, _ in self._in_flight:
            if positions.get(key, "") is None:  # starting: read from its first event
                first = self._first_ids.get(key)
                behind[key] = min(behind.get(key, math.inf), first - 1 if first else -1)
        return behind

    def _heard_before_its_turn(
        self, key: str, event_id: int, behind: dict[str, float], origin: RoomEvent | None
    ) -> bool:
        """Whether a member of room ``key`` here (or the author of this node's own event,
        told its /part though gone) also hears a room told only up to before ``event_id``
        (is in it, or has events of it on their way or waiting): told now, the event
        could overtake one earlier there."""
        others = [other for other, told_to in behind.items() if told_to < event_id and other != key]
        if not others:
            return False
        room = self._rooms.get(key)
        hearing = _hearing(room) if room is not None else set()
        author = origin.author if origin is not None else None
        if author is not None and author.nick is not None:
            hearing.add(nick_key(author.nick))
        for other in others:
            there = self._rooms.get(other)
            if there is not None and not hearing.isdisjoint(_hearing(there)):
                return True
            if not hearing.isdisjoint(self._authors_on_the_way(other)):
                return True  # (it left the room since, and is told its own events there)
        return False

    def _authors_on_the_way(self, key: str) -> set[str]:
        """This node's members with events of room ``key`` on their way, or waiting to be
        told (nickname keys)."""
        ops = [op for (room_key, _), op in self._in_flight.items() if room_key == key]
        ops += [item[3] for item in self._waiting.get(key, ()) if item[3] is not None]
        return {
            nick_key(op.author.nick)
            for op in ops
            if op.author is not None
            and op.author._hub is self
            and op.author.nick is not None
            and not op.elsewhere
        }

    def _read_room(self, key: str, entries: Entries, read: list[_Read]) -> None:
        """Add a room's new entries to ``read``, each with its origin if it is this node's."""
        position = self._positions.get(key)
        if position is None:
            return  # no member here any more
        read_to, skip = id_number(position), 0
        while skip < len(entries) and id_number(entries[skip][0]) <= read_to:
            skip += 1  # heard already: this node's own, as the script answered (_deliver_sent)
        if skip:
            entries = entries[skip:]
        if entries:
            self._check_skipped(key, entries)
        for entry_id, fields in entries:
            self._positions[key] = entry_id
            origin = None
            seq = self._own_seq(fields)
            if seq is not None:
                origin = self._in_flight.pop((key, seq), None)
                if origin is not None and origin.then_free is not None:
                    # A sweeper's leaving read back has its place (its answer may be lost).
                    self._appended(origin, id_number(entry_id))
            # This node's own events are not parsed again: it has them.
            parsed = origin.sent if origin is not None else _parse(fields["e"])
            if parsed is None:
                continue
            token, made = fields.get("a", ""), fields.get("c") == "1"
            read.append((id_number(entry_id), key, parsed, origin, token, made))

    def _deliver(
        self,
        key: str,
        event_id: int,
        parsed: Event,
        origin: RoomEvent | None,
        token: str,
        made: bool,
    ) -> None:
        """A room's event, in the stream's order, to this node's members (``origin``: this
        node's own, as it was published; ``token``: an announcement to several rooms;
        ``made``: the join that made the room)."""
        if isinstance(parsed, SearchStarted):  # a search's id is its question's event id
            event: Event = dataclasses.replace(parsed, id=event_id, search_id=event_id)
        else:
            event = with_id(parsed, event_id)
        self.clock.seen(event_id)
        self._highest = max(self._highest, event_id)
        room = self._rooms.get(key)
        if origin is not None and origin.elsewhere:
            return  # for the other nodes: no one here saw its member leave
        if origin is None and isinstance(event, Leave) and self._swept_here(event, room):
            # Another node counted this one dead while it was cut off (or stalled) and
            # announced its members gone; they are here: no one here is told a leaving
            # that did not happen. The sweeper's script took the member's powers in the
            # room's modes hash, which the other nodes follow: here too, unless this node
            # loaded that hash since (_moderation_again).
            peer = self._peers.get(nick_key(event.nick))
            if (
                room is not None
                and peer is not None
                and self.modes is not None
                and event_id > self.modes.loaded_at(key)
                and self.modes.moderation.is_room_operator(peer, room)
            ):
                self.modes.moderation.deop(room, peer)
                self._powers_lost(room, [peer])
            return
        if type(event) in _COMING_TYPES and isinstance(room, ClusterRoom):
            self._follow(room, event, origin)
        if self.history is not None:
            if room is not None:
                self.history.heard(event, room)
            if origin is not None:
                self._keep(origin, event, key)
        if origin is not None and origin.author is not None and type(event) is Join:
            self._join_is_back(origin, room)
        if room is not None and token:
            self._deliver_once(event, room, token, origin)
        elif room is not None:
            exclude = origin.exclude if origin is not None else None
            diverted = self._divert(room, origin) if self._diverting else None
            LocalHub.publish(self, event, room=room, exclude=exclude)
            if diverted:
                self._after_news(diverted, origin, event_id)
            if origin is not None and type(event) is Join:
                answer = self._answer_placed(origin) if self._join_answers else None
                self._replay(origin.author, room, event_id, answer)
            if isinstance(room, ClusterRoom) and room.joining:
                for peer in self._joiners_told(room, event, origin):
                    self._tell_joiner(peer, room, event)
        if room is not None and self.modes is not None and type(event) in _MODES_WRITTEN:
            # Told to the room first: a kicked member hears its kick, then leaves.
            self.modes.heard(event, room, here=origin is not None, made=made)
        if origin is not None:
            author = origin.author
            if (
                author is not None
                and author is not origin.exclude
                and author._hub is self
                and (
                    self._first_time(token, author)
                    if token
                    else not self._reached(author, room, event, origin)
                )
            ):
                # Its own /part, told though gone; its own event in a room it has left
                # and joined again since, its join still on its way; a nick change told
                # to several rooms, once.
                if (
                    type(event) is Part
                    and author._rendering is Rendering.TEXT
                    and any(other.key != key for other in author.rooms)
                ):
                    # In that room and another as it parted: named, as a single server does.
                    LocalHub.send_raw(self, author, self._encode(event, Rendering.TEXT_ROOMS))
                else:
                    LocalHub.send(self, author, event)
            self._arrived(author, origin.seq)

    def _reached(self, author: Peer, room: Room | None, event: Event, origin: RoomEvent) -> bool:
        """Whether telling ``room`` its own ``event`` told ``author`` (a member of this
        node) too: it is a full member of the room, or a joiner shown it (_not_shown)."""
        if room is None or room not in author.rooms:
            return False
        joining = self._joining.get(author)
        if joining is None or room not in joining:
            return True  # nearly always: a full member, told with the others
        return isinstance(room, ClusterRoom) and author in self._joiners_told(room, event, origin)

    def _joiners_told(
        self, room: ClusterRoom, event: Event, origin: RoomEvent | None
    ) -> list[Peer]:
        """The members still joining ``room`` that are told ``event`` as it is read: a
        coming or going that their welcome did not show (_not_shown)."""
        if type(event) not in _COMING_TYPES or kept_quiet(event, room, self.rules):
            return []
        told = self._not_shown(room, origin)
        modes = self.modes
        if type(event) is Kick and told and modes is not None and modes.takes_nothing(event, room):
            # Not the kicked joiner itself: its join comes after the kick, which so takes
            # nothing from it.
            target = nick_key(event.target)
            told = [peer for peer in told if nick_key(peer.nick or "") != target]
        return told

    def _tell_joiner(self, peer: Peer, room: ClusterRoom, event: Event) -> bool:
        """Tell ``peer``, still joining ``room``, a coming or going there that its answer
        did not show: after that answer, which waits for its events before its join (in
        any room), and before what the room says after its join (its history replayed as
        the join is back comes first). True if told at once, False if it waits."""
        key = nick_key(peer.nick or "")
        join_seq = room.join_seqs.get(key)
        if join_seq is None:
            # Its join is not sent yet (held behind its lines, LineHold): when it is.
            room.early_news.setdefault(key, []).append(event)
            return False
        # Behind the replies that wait for no more than its join (its answer, and others
        # that may show whom it meant), and behind what it waits to hear already (news,
        # and every reply made meanwhile: news_end).
        held = self._held.get(peer)
        events = held.events if held is not None else []
        if held is None or not (held.news_end or (events and events[0].after <= join_seq)):
            LocalHub.send(self, peer, event)  # nearly always: its answer is out
            return True
        if len(events) >= MAX_WAITING_BEHIND:
            LocalHub.send(self, peer, event)  # out of its place, rather than grow the wait
            return True
        at = next((i for i, waiting in enumerate(events) if waiting.after > join_seq), len(events))
        at = max(at, held.news_end)
        if self._join_answers:  # not behind an answer that waits for a later join of its own
            at = min(at, self._answers_after(peer, join_seq, events))
            if at == 0:
                LocalHub.send(self, peer, event)  # nothing of its own waits before it
                return True
        after = max(join_seq, events[at - 1].after)
        events.insert(at, _Waiting(after, event.id, event, owed=True, about=_nick_keys(event)))
        held.news_end = at + 1 if at >= held.news_end else held.news_end + 1
        self._diverting.add(peer)
        return False

    def _tell_joiner_once(
        self, peer: Peer, room: ClusterRoom, event: Event, first: bool, token: str = ""
    ) -> None:
        """:meth:`_tell_joiner`, for a nick change or a leaving told to several rooms
        (``token``): if ``peer`` was told it already (``first`` False), through a room it
        is in, perhaps before its answer for this one, which may show the old name: here,
        as a part (and a join). Told first here but waiting behind that answer, it is
        still told where ``peer`` is a full member (_deliver_once), in that room's turn."""
        if first:
            told = self._tell_joiner(peer, room, event)
            if not told and token in self._announced and type(event) in _TOLD_ONCE:
                self._announced_later.setdefault(token, set()).add(peer)
        elif self._told_after_answer(peer, room, token):
            return  # its client renamed, or dropped, the member in this room's list too
        elif type(event) is NickChange:
            self._tell_joiner(peer, room, Part(event.id, event.ts, event.old, room.name, ""))
            self._tell_joiner(peer, room, Join(event.id, event.ts, event.new, room.name))
        elif type(event) is Leave:
            self._tell_joiner(peer, room, Part(event.id, event.ts, event.nick, room.name, ""))

    def _divert(self, room: Room, origin: RoomEvent | None) -> list[tuple[Peer, int]]:
        """The members of ``room`` that have news waiting (_diverting), to be told what the
        room says now after that news, each with where its pending bytes end: what the
        room log owed them before is theirs now (settled). Not a member's own event."""
        author = origin.author if origin is not None else None
        members = room.members
        if len(self._diverting) <= len(members):
            found = [p for p in self._diverting if members.get(nick_key(p.nick or "")) is p]
        else:
            found = [p for p in members.values() if p in self._diverting]
        diverted = []
        for peer in found:
            if peer is not author:
                self.settle(peer)
                diverted.append((peer, len(peer.pending)))
        return diverted

    def _after_news(
        self,
        diverted: list[tuple[Peer, int]],
        origin: RoomEvent | None,
        event_id: int,
        token: str = "",
    ) -> None:
        """What the room log owes ``diverted`` members now (``event_id``) goes after their
        news; an event of this node (``origin``), after the answers made before it only
        (those made since show it already), but never ahead of what waits of the same
        member from before it in the stream: news a joiner is owed, or this node's own
        earlier events (a joiner answered without a member of this node whose join was
        on its way hears that join, then its part). Another node's event goes ahead of an
        answer that waits for its join's place, if it is from before that place
        (_AnswerAtJoin); ``token``, if it is an announcement (noted: _told_ahead)."""
        made = origin.event.id if origin is not None else None
        about = _nick_keys(origin.event) if origin is not None else frozenset()
        for peer, mark in diverted:
            self.settle(peer)
            said = b"".join(peer.pending[mark:])
            del peer.pending[mark:]
            held = self._held.get(peer)
            if not said:
                continue
            if held is None or not held.news_end or len(held.events) >= MAX_WAITING_BEHIND:
                self._send_held(peer, said)  # its news went out meanwhile (or too much waits)
                continue
            events = held.events
            at = held.news_end
            if made is not None:
                # After what waits of the same member from before it in the stream (news
                # owed, or an event of this node's, read in turn), then before the first
                # answer made since it, or news owed from after it.
                start = max(
                    (
                        i + 1
                        for i, waiting in enumerate(events)
                        if (waiting.when < event_id or not waiting.owed)
                        and not about.isdisjoint(waiting.about)
                    ),
                    default=0,
                )
                at = next(
                    (
                        i
                        for i in range(start, len(events))
                        if (events[i].when > event_id if events[i].owed else events[i].when >= made)
                    ),
                    len(events),
                )
                if at == 0:
                    self._send_held(peer, said)  # every answer waiting shows it
                    continue
            elif self._join_answers:
                at = self._ahead_of_answers(peer, event_id, at, token)
                if at == 0:
                    self._send_held(peer, said)  # from before the place of every answer
                    continue
            when = event_id if made is None else made
            events.insert(at, _Waiting(events[at - 1].after, when, said, about=about))
            held.news_end = at + 1 if at >= held.news_end else held.news_end + 1

    def _lost_unread(self) -> None:
        """Redis came back empty: this node's events it had taken (their scripts answered)
        and this node had not read back yet went with it, as if trimmed (_passed_over).
        Nothing waits for them any more: their authors' replies go, a joiner is a member.
        (Those in doubt are settled apart, and those not sent yet are sent.)"""
        doubtful = {id(op) for op in self._in_doubt}
        for op in list(self._in_flight.values()):
            if op.event_id and id(op) not in doubtful:
                self._passed_over(op)

    def _passed_over(self, op: RoomEvent) -> None:
        """One of this node's events that Redis trimmed from its room before this node read
        it back (it fell behind): its members are told of the gap, not of it, and nothing
        here waits for it any more (its author's replies, its join)."""
        self._in_flight.pop((op.room_key, op.seq), None)
        if self.history is not None:
            self._keep(op, with_id(op.event, op.event_id), op.room_key)  # (for /seen)
        if op.author is not None and type(op.event) is Join:
            self._join_is_back(op, self._rooms.get(op.room_key))
        self._arrived(op.author, op.seq)

    def _swept_here(self, event: Leave, room: Room | None) -> bool:
        """Whether ``event`` is a sweeper's leaving of a member who is on this node now:
        this node was counted dead. (Not where the room shows another node's member by that
        nickname: the leaving is that one's, and a member here took the nickname since.)"""
        key = nick_key(event.nick)
        if event.reason != NODE_LOST or key not in self._peers:
            return False
        return not isinstance(room, ClusterRoom) or key not in room.remote

    def _replay(
        self, joiner: Peer | None, room: Room, join_id: int, answer: _AnswerAtJoin | None = None
    ) -> None:
        """``joiner``, a member here, is in ``room`` now that its join is back: send it the
        room's last lines and the end marker, right after its join (or its ``answer``,
        which waited for the join: _AnswerAtJoin), before its own replies (which wait for
        the join) and before any later line of the room."""
        if self.history is None or joiner is None or room not in joiner.rooms:
            return
        made = self.history.replay_for(joiner, room, join_id, self._encode)
        if made is None:
            return
        data, end = made
        held = self._held.get(joiner)
        if answer is not None and held is not None:
            at = next((i for i, w in enumerate(held.events) if w is answer.last), None)
            if at is not None:
                last = held.events[at]
                held.events[at + 1 : at + 1] = [last._replace(item=data), last._replace(item=end)]
                if held.news_end > at:
                    held.news_end += 2
                return
        LocalHub.send_raw(self, joiner, data)
        LocalHub.send(self, joiner, end)

    def _deliver_once(self, event: Event, room: Room, token: str, origin: RoomEvent | None) -> None:
        """An announcement sent to several rooms: each member here is told once."""
        if kept_quiet(event, room, self.rules):
            return  # a big room's quit: those who share another room with it hear it there
        exclude = origin.exclude if origin is not None else None
        diverted = self._divert(room, origin) if self._diverting else None
        for peer in list(room.members.values()):
            if peer is not exclude and (
                self._first_time(token, peer) or self._told_only_later(token, peer)
            ):
                # (Told twice, if its telling waits behind a joiner's answer: its client
                # renames, or drops, the member here now, and in the joined room there.)
                LocalHub.send(self, peer, event)
                if peer not in self._held or peer in self._diverting:  # behind its replies
                    self._announced_after.setdefault(token, {})[peer] = self.clock.latest
        if diverted:
            self._after_news(diverted, origin, event.id, token)
        if isinstance(room, ClusterRoom):
            for peer in self._not_shown(room, origin):
                if peer is not exclude:
                    first = self._first_time(token, peer)
                    self._tell_joiner_once(peer, room, event, first, token)

    def _first_time(self, token: str, peer: Peer) -> bool:
        """Whether ``peer`` is told the announcement ``token`` for the first time (noted)."""
        told = self._announced.get(token)
        if told is None:
            told = self._announced[token] = set()
            while len(self._announced) > ANNOUNCED_REMEMBERED:
                forgotten, _ = self._announced.popitem(last=False)
                self._announced_later.pop(forgotten, None)
                self._announced_after.pop(forgotten, None)
                self._told_ahead.pop(forgotten, None)
        if peer in told:
            return False
        told.add(peer)
        return True

    def _told_only_later(self, token: str, peer: Peer) -> bool:
        """Whether ``peer``'s telling of the announcement ``token`` waits behind its answer
        for a room it is joining (then it is told here too, and no more after)."""
        waiting = self._announced_later.get(token)
        if waiting is None or peer not in waiting:
            return False
        waiting.discard(peer)
        if not waiting:
            del self._announced_later[token]
        return True

    def _told_after_answer(self, peer: Peer, room: ClusterRoom, token: str) -> bool:
        """Whether ``peer`` was told the announcement ``token`` behind its replies, and
        after its answer for ``room`` was made: that answer's list took it in."""
        told_at = self._announced_after.get(token, {}).get(peer)
        join_id = room.join_ids.get(nick_key(peer.nick or ""))
        if self._told_ahead and room.key in self._told_ahead.get(token, {}).get(peer, ()):
            return False  # ahead of that answer (_ahead_of_answers)
        return told_at is not None and join_id is not None and told_at >= join_id

    @staticmethod
    def _not_shown(room: ClusterRoom, origin: RoomEvent | None) -> list[Peer]:
        """The members still joining ``room`` whose welcome did not show a coming or going
        read now (``origin``: this node's own, as it was published). A kick made here
        takes its target out only as it is read back: no welcome before that showed it."""
        if not room.joining:
            return []
        if origin is None or type(origin.event) is Kick:
            return room.not_shown(None, None)
        return room.not_shown(origin.event.id, origin.exclude)

    def _check_skipped(self, key: str, entries: Entries) -> None:
        """Tell this node's members of a room if Redis trimmed lines this node had not read.

        Each entry carries its room's running count, ``n``: a gap between the last
        one read and the next is what the stream's cap dropped while this node lagged.
        """
        last = self._counts.get(key)
        first = int(entries[0][1].get("n", 0))
        self._counts[key] = int(entries[-1][1].get("n", 0))
        if last is None or first <= last + 1:
            return
        room = self._rooms.get(key)
        if room is None:
            return
        skipped = first - last - 1
        first_id = id_number(entries[0][0])
        for (key_of, _), op in list(self._in_flight.items()):
            if key_of == key and 0 < op.event_id < first_id:
                self._passed_over(op)
        if isinstance(room, ClusterRoom):
            self._show_listed(room)  # the comings and goings skipped are not known
        self.skipped_notices += 1
        log.warning("node %s fell behind %s: %d events skipped", self.node, room.name, skipped)
        event_id, ts = self.clock.stamp()
        notice = Notice(
            event_id,
            ts,
            f"this server fell behind {room.name}: {skipped:,} events said there meanwhile "
            f"were skipped (Redis keeps the last {self.stream_cap:,} of each room)",
        )
        for peer in list(room.members.values()):
            LocalHub.send(self, peer, notice)

    # -- the mirror of the other nodes --------------------------------------------------

    def _apply_presence(self, node: str, key: str, value: str) -> None:
        try:
            presence = Presence.decode(value)
        except ValueError:
            log.warning("node %s wrote a presence record that cannot be read; ignored", node)
            return
        remote = self._remote.get(key)
        if remote is None:
            # Shown already where a room this node reads told its join before its presence.
            remote = self._unlisted.pop(key, None) or RemotePeer(node, presence.nick)
            self._remote[key] = remote
        if remote.node != node:
            remote.node = node
        old_skeleton = nick_skeleton(remote.nick or "")
        if self._remote_lookalikes.get(old_skeleton) is remote:
            del self._remote_lookalikes[old_skeleton]
        remote.describe(presence, self._monotonic(), time.time())
        if self.modes is not None:
            self.modes.moderation.mirror_server_operator(remote, presence.server_operator)
        self._remote_lookalikes[nick_skeleton(presence.nick)] = remote
        wanted = {room_key(name): name for name in presence.rooms}
        for room in list(remote.listed):
            if room.key not in wanted:
                self._unlist(remote, key, room)
        for rkey, name in wanted.items():
            room = self._rooms.get(rkey) or ClusterRoom(name, presence.nick, self._holds_lines)
            self._rooms[rkey] = room
            if not isinstance(room, ClusterRoom):
                continue
            room.listed[key] = remote
            remote.listed[room] = None
            if self._presence_decides(room, key):
                self._show(room, key, remote)
            elif room.remote.get(key) is remote:
                room.names_changed()

    def _forget_remote(self, key: str, *, everywhere: bool = False) -> None:
        """The user ``key`` of another node is gone (or renamed): out of every room's list,
        and out of the room where presence decides (_presence_decides) or ``everywhere``.
        Elsewhere its going is told in its turn."""
        remote = self._remote.pop(key, None)
        if remote is None:
            return
        if self.modes is not None:
            self.modes.moderation.mirror_server_operator(remote, False)
        skeleton = nick_skeleton(remote.nick or "")
        if self._remote_lookalikes.get(skeleton) is remote:
            del self._remote_lookalikes[skeleton]
        for room in list(remote.listed):
            self._unlist(remote, key, room)
        if everywhere:
            for room in list(remote.rooms):
                if isinstance(room, ClusterRoom):
                    self._hide(room, key)
        if remote.rooms:
            self._unlisted[key] = remote

    def _unlist(self, remote: RemotePeer, key: str, room: Room) -> None:
        del remote.listed[room]
        if isinstance(room, ClusterRoom):
            room.listed.pop(key, None)
            if self._presence_decides(room, key):
                self._hide(room, key)
            elif key not in room.remote:
                room.heard.discard(key)  # the stream told its going already: they agree
        self._drop_if_empty(room)

    def _presence_decides(self, room: ClusterRoom, key: str) -> bool:
        """Whether ``room`` shows the other nodes' member ``key`` as its presence lists it:
        unless this node reads the room and has read a coming or going of it there."""
        return key not in room.heard or self._positions.get(room.key) is None

    def _show(self, room: ClusterRoom, key: str, remote: RemotePeer) -> None:
        old = room.remote.get(key)
        if old is remote:
            room.names_changed()
            return
        if old is not None:
            self._hide(room, key, drop=False)
        room.add_remote(key, remote)
        remote.rooms[room] = None
        if self.modes is not None:
            self._operator_still(room, key, old, remote)

    def _remote_operators(self) -> dict[str, set[Room]]:
        """The rooms each of the other nodes' members shown here is an operator of, by
        nick key (before the mirror is taken anew: _operator_still)."""
        operators: dict[str, set[Room]] = {}
        if self.modes is None:
            return operators
        for room in self._rooms.values():
            modes = self.modes.moderation.room_modes(room)
            for peer in modes.operators if modes is not None else ():
                if isinstance(peer, RemotePeer):
                    operators.setdefault(nick_key(peer.nick or ""), set()).add(room)
        return operators

    def _operator_still(
        self, room: ClusterRoom, key: str, old: RemotePeer | None, remote: RemotePeer
    ) -> None:
        """``remote`` now shows ``key`` in ``room``, in place of ``old`` (its presence
        made anew) or of a member forgotten as the mirror was taken anew (_load_view, after
        an outage): an operator of the room before, it is one still. (Operators are kept by
        member: without this, its powers stayed with the member forgotten.)"""
        assert self.modes is not None
        moderation = self.modes.moderation
        was = old is not None and moderation.is_room_operator(old, room)
        if old is not None:
            moderation.deop(room, old)
        rooms = self._operators_again.get(key)
        if rooms is not None and room in rooms:
            rooms.discard(room)
            was = True
        if was:
            moderation.op(room, remote)

    def _hide(self, room: ClusterRoom, key: str, *, drop: bool = True) -> None:
        remote = room.remote.get(key)
        if remote is None:
            return
        room.remove_remote(key)
        remote.rooms.pop(room, None)
        if not remote.rooms and self._unlisted.get(key) is remote:
            del self._unlisted[key]  # its going told at last
        if drop:
            self._drop_if_empty(room)

    def _show_listed(self, room: ClusterRoom) -> None:
        """Show the other nodes' members of ``room`` as their presence lists them (this
        node stops reading it, lost some of its events, or took its view anew)."""
        room.heard.clear()
        unlisted = [key for key, shown in room.remote.items() if room.listed.get(key) is not shown]
        for key in unlisted:
            self._hide(room, key)
        for key, remote in room.listed.items():
            self._show(room, key, remote)

    def _follow(self, room: ClusterRoom, event: Event, origin: RoomEvent | None) -> None:
        """A coming or going read in a room this node reads: the other nodes' members it
        shows, in the stream's order, from now on (ClusterRoom.heard). This node's own
        events move one of them only as goings: a kick of one, or a sweeper's leaving."""
        if origin is not None and type(event) in (Join, NickChange):
            return
        match event:
            case Join(nick=nick):
                self._operators_again.get(nick_key(nick), set()).discard(room)  # (anew)
                self._comes(room, nick)
            case Part(nick=nick) | Leave(nick=nick) | Kick(target=nick):
                self._operators_again.get(nick_key(nick), set()).discard(room)
                self._went(room, nick_key(nick))
            case NickChange(old=old, new=new) if nick_key(old) in room.remote:
                self._comes(room, new)  # first: hiding the old name alone may empty the room
                if nick_key(old) != nick_key(new):  # (bob -> Bob: one key, still here)
                    self._went(room, nick_key(old))

    def _went(self, room: ClusterRoom, key: str) -> None:
        """The stream told ``key``'s going: out of the room; and where presence agrees,
        presence decides for it again (so that ``heard`` holds no more than the room)."""
        self._hide(room, key)
        if key in room.listed:
            room.heard.add(key)  # its presence lags: not shown again by it
        else:
            room.heard.discard(key)

    def _comes(self, room: ClusterRoom, nick: str) -> None:
        key = nick_key(nick)
        if key in self._peers:
            return  # this node's own, read back without its origin (after an outage)
        room.heard.add(key)
        remote = self._remote.get(key) or self._unlisted.get(key)
        if remote is None:
            remote = self._unlisted[key] = RemotePeer("", nick)  # its presence is to come
        self._show(room, key, remote)

    def _apply_topic(self, key: str, value: str) -> None:
        try:
            _, text, by = json.loads(value)
        except (TypeError, ValueError):
            return
        room = self._rooms.get(key)
        if room is not None and isinstance(text, str) and isinstance(by, str):
            room.topic, room.topic_by = text, by

    # -- heartbeat, sweeping and outages ----------------------------------------------

    async def _beat_forever(self) -> None:
        interval = self.node_timeout / 3
        while True:
            await asyncio.sleep(interval)
            await self._running.wait()
            self._describe_changes()
            try:
                client = self._connected()
                if await self._beat(client):
                    # Swept (or Redis came back empty) while this node ran: register again.
                    await self._join_cluster(fresh=False, gone=True)
                    if self._swept:
                        await self._moderation_again(client)
                    self._announce_back()
                if self._monotonic() >= self._sweep_after:
                    sweeping = asyncio.create_task(self._sweep(client), name="cluster sweep")
                    self._sweeping = sweeping
                    try:
                        await asyncio.shield(sweeping)
                    finally:
                        if sweeping.done():  # (not when close() cancels this task)
                            self._sweeping = None
            except (RedisError, OSError) as exc:
                self._lost(exc)

    async def _beat(self, client: aioredis.Redis) -> bool:
        """Say this node lives and hold its members' nicknames, in one round trip.

        The members' presence records are not written again: each change (and each
        member who spoke) was described just before, which keeps them current.
        Returns whether Redis had lost this node: restarted empty, or swept it (the
        sweep's mark, there until the node has registered its members again)."""
        pipe = client.pipeline(transaction=False)
        pipe.set(self.keys.node(self.node), str(time.time()), ex=self._ttl)
        pipe.sadd(self.keys.nodes, self.node)
        pipe.get(self.keys.epoch)
        peers = list(self._peers.values())
        nicks = [peer.nick or "" for peer in peers]
        keys = [self.keys.swept(self.node), *(self.keys.owner(nick) for nick in nicks)]
        values = [self._owner_value(nick) for nick in nicks]
        ttl, prefix = self._owner_ttl, f"{self.node} "
        pipe.evalsha(self._scripts["expire"], len(keys), *keys, ttl, prefix, *values)
        results = await pipe.execute()
        swept, *taken = results[3]
        for position in taken:  # lapsed, and taken on another node meanwhile
            peer = peers[int(position) - 1]
            if peer._hub is self and peer.nick == nicks[int(position) - 1]:
                log.warning("%s lost the nickname %s to another node", peer.address, peer.nick)
                self._lose_race(peer, held=True)
        return bool(swept) or results[2] != self._epoch

    async def _sweep(self, client: aioredis.Redis) -> None:
        """Find nodes whose heartbeat expired; the node whose script takes one off the node
        set (SWEEP) announces its users."""
        nodes = sorted(_strings(await client.smembers(self.keys.nodes)))
        others = [node for node in nodes if node != self.node]
        if not others:
            return
        pipe = client.pipeline(transaction=False)
        for node in others:
            pipe.exists(self.keys.node(node))
        alive = await pipe.execute()
        for node, exists in zip(others, alive, strict=True):
            if exists or self._closing:
                continue  # (closing: the sweep on its way is finished, no other begun)
            users: dict[str, Presence] = {}
            for key, value in _hash(await client.hgetall(self.keys.users(node))).items():
                with contextlib.suppress(ValueError):
                    users[key] = Presence.decode(value)
            # Gone inside Redis first; and not at all if the node came back meanwhile.
            keys = [self.keys.nodes, self.keys.node(node), self.keys.users(node)]
            keys += [self.keys.inbox(node), self.keys.swept(node)]
            swept = await client.evalsha(
                self._scripts["sweep"], len(keys), *keys, node, SWEPT_MARK_SECONDS
            )
            if swept == 0:
                log.warning("node %s came back as it was counted dead; left as it is", node)
            if swept != 1:
                continue  # (-1: another node swept it first)
            log.warning("node %s stopped answering; its %d users are gone", node, len(users))
            if not users:
                continue
            # Gone for every node (this one too: it forgets them as it reads so, and until
            # then refuses their nicknames, still held) once the leavings have their places:
            # whoever takes one of these nicknames then comes after them in every room.
            nicks = [presence.nick for presence in users.values()]
            free = FreeNicknames(node, list(users), nicks, leavings=1)  # (1: until all put)
            for key, presence in users.items():
                rooms = [
                    room for name in presence.rooms if (room := self._rooms.get(room_key(name)))
                ]
                # And where a room here shows it, its presence not yet saying so.
                shown = self._remote.get(key) or self._unlisted.get(key)
                if shown is not None and shown.node == node:
                    rooms += [room for room in shown.rooms if room not in rooms]
                if rooms:
                    event_id, ts = self.clock.stamp()
                    leave = Leave(event_id, ts, presence.nick, NODE_LOST)
                    self._announce_to(leave, rooms, None, None, then_free=free)
            self._one_leaving_less(free)

    def _lost(self, error: BaseException) -> None:
        """Redis stopped answering: pause, tell every member once, and try to get it back."""
        if not self._running.is_set() or self._closing:
            return
        # Read before the outage, and news owed: told before its notice, in one pass.
        self._tell_waiting(in_turn=False)
        self._running.clear()
        self._stop_reading_streams()
        log.warning(
            "node %s lost Redis at %s (%s); the chat is paused here until it is back",
            self.node,
            self.shown_url,
            _said(error),
        )
        self._tell_everyone(PAUSED_REFUSED if _refuses_writes(error) else PAUSED)
        # No answer is taken from that connection now (those being acted on are finished).
        self._stop_reading_answers()
        self._fail_unanswered()
        self._fences.clear()  # (what they waited for is failed: told now, below)
        for peer in list(self._held):
            self._arrived(peer, self._seq)
        if self.modes is not None:  # lines held for a room's moderation: not sent either
            for author, line in self.modes.hold.drop_all():
                if isinstance(line, HeldReply):
                    self._send_held(author, line.reply)
                else:
                    if type(line.event) is Join:  # never sent: its joiner waits no more
                        for room in line.rooms:
                            self._tell_left_out(author, room)
                        self._member_now(author, line.rooms)
                    self._refuse(author)
        self._recovery = asyncio.create_task(self._recover(), name="cluster recovery")

    async def _recover(self) -> None:
        emptied = False  # in any of the tries: what this node had in Redis is gone
        while True:
            await asyncio.sleep(RECONNECT_INTERVAL)
            try:
                await self._connected().ping()
                await self._close_lost_appender(self._connected())
                emptied = await self._join_cluster(fresh=False) or emptied
                if self._appender is not None:
                    # The scripts' connection, made again and read from the moment it is
                    # made. (redis-py does not read it any more, so its disconnect must
                    # not wait for its reader to see the end.)
                    await _connect_again(self._appender, nowait=True)
                    await self._learn_appender()
                    self._read_answers()
                # No answer can come on the old connection now: what Redis ran is in
                # the streams. (Answers being acted on are finished first: they may
                # start reading a room, or put events in doubt.)
                async with asyncio.timeout(REPLY_TIMEOUT):
                    await self._all_answered.wait()
                while self._in_doubt:
                    await self._settle_in_doubt(self._connected(), emptied=emptied)
                if self._swept:
                    await self._moderation_again(self._connected())
                self._announce_back()
                if self._appender is not None and (
                    self._answers_reader is None or self._answers_reader.ended
                ):
                    raise RedisConnectionError("the scripts' connection went again")
                if self._reading is not None:
                    # The streams' connection, made again last: it is read from the
                    # moment it is made (_read_streams, below). redis-py does not read it
                    # any more, so its disconnect must not wait for its reader to see the end.
                    await _connect_again(self._reading, nowait=True)
            except (RedisError, OSError) as exc:
                log.debug("Redis still unavailable: %s", _said(exc))
                continue
            log.warning("node %s reaches Redis again; the chat goes on", self.node)
            self._recovery = None
            self._recoveries += 1
            # The other nodes' heartbeats lapsed with the outage too, and each comes back on
            # its own time: none is counted dead before it has had a whole time-out to beat.
            self._sweep_after = self._monotonic() + self.node_timeout
            # Descriptions that the full outbox dropped meanwhile: the next heartbeat
            # describes every member again.
            self._described.clear()
            self._running.set()
            self._read_streams()
            self._tell_everyone(RESUMED)
            if self._outbox:
                self._outbox_ready.set()
            return

    async def _learn_appender(self) -> None:
        """Ask Redis who the scripts' connection is, before the node reads that connection
        itself: once the node has lost it, it closes it on Redis's side too
        (_close_lost_appender)."""
        self._appender_known = None
        connection = self._appender
        if connection is None or self._cannot_close:
            return
        async with asyncio.timeout(REPLY_TIMEOUT):
            try:
                await connection.send_command("CLIENT", "INFO")
                client = client_fields(str(await connection.read_response()))
            except ResponseError as exc:
                self._refused_to_close(exc)
                return
        run_id = (await self._connected().info("server")).get("run_id")
        if run_id is None or "id" not in client or "addr" not in client:
            self._cannot_close_because("Redis does not say who the connection is")
            return
        self._appender_known = _KnownConnection(str(run_id), client["id"], client["addr"])

    async def _close_lost_appender(self, client: aioredis.Redis) -> None:
        """Close the scripts' connection the node lost on Redis's side too, if Redis still
        has it (the same run of Redis: it hung, or the network was cut). Script bytes still
        on their way on it (in a socket's buffer, or the network) that have not run by then
        never run, and the node looks for its lines in doubt after this: what it does not
        find never reaches the chat. (Its address too, besides its id: should the run be
        taken for another, no other client has both.)"""
        known = self._appender_known
        if known is None:
            return
        if str((await client.info("server")).get("run_id")) == known.run_id:
            try:
                await client.client_kill_filter(_id=known.client_id, addr=known.addr, skipme=True)
            except ResponseError as exc:
                self._refused_to_close(exc)
        self._appender_known = None

    def _refused_to_close(self, error: ResponseError) -> None:
        """Redis refused to say who a connection is, or to close it. Refused for now (busy
        with a long script, say): Redis is unavailable, and the recovery tries again. Any
        other refusal is for good (an ACL without CLIENT, a proxy that has no such command,
        words the node does not know): said once, and not asked again."""
        code = getattr(error, "status_code", None) or str(error).partition(" ")[0]
        if code in _FOR_NOW:
            raise RedisConnectionError(f"Redis did not close a lost connection: {_said(error)}")
        self._cannot_close_because(_said(error))

    def _cannot_close_because(self, why: str) -> None:
        self._cannot_close = True
        log.warning(
            "node %s cannot close its lost connections on Redis (%s): after an outage, a "
            "line its author is told did not reach the chat may still reach it",
            self.node,
            why,
        )

    def _tell_everyone(self, text: str) -> None:
        event_id, ts = self.clock.stamp()
        notice = Notice(event_id, ts, text)
        for peer in list(self._peers.values()):
            LocalHub.send(self, peer, notice)


#: How the errors begin that Redis gives while it cannot act for now (busy with a script,
#: loading its data, a cluster moving or a replica cut off from its master): tried again.
_FOR_NOW = ("BUSY", "LOADING", "TRYAGAIN", "MASTERDOWN")

#: The room events a member that is joining is told before its own join is back, and
#: that wait for their turn across rooms (_tell); as a set, for a type's lookup.
_COMINGS = (Join, Part, Leave, NickChange, Kick)
_COMING_TYPES: frozenset[type[Event]] = frozenset(_COMINGS)
#: The comings and goings announced to every room of their subject, told to each member once.
_TOLD_ONCE: frozenset[type[Event]] = frozenset({NickChange, Leave})
#: How their stream documents begin (cluster_wire.stream_document).
_COMING_DOCUMENTS = tuple(f'{{"type":"{kind.kind}",' for kind in _COMINGS)
#: The room events that change a room's moderation (who is its operator, who is muted,
#: slow mode): kept in its modes hash, and acted on by every node as it reads them.
_MODES_WRITTEN = frozenset({Kick, ModeChange, Join, Part, Leave, NickChange})
_HISTORY_FIELDS = ("ts", "room", "kind", "nick", "text", "sources")


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel ``tasks`` and wait for them to end.

    A cancellation that lands while redis-py is in the middle of a command can be
    lost inside it (the task goes on to its next wait): it is cancelled again
    until it ends.
    """
    for task in tasks:
        while not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=0.1)
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _has_joiners(room: Room) -> bool:
    """Whether a member of this node is still joining ``room`` (its join not back yet)."""
    return isinstance(room, ClusterRoom) and bool(room.joining)


def _where_answers_begin(
    events: list[_Waiting], answers: list[_AnswerAtJoin]
) -> list[tuple[int, _AnswerAtJoin]]:
    """Where each of ``answers`` (_AnswerAtJoin) begins among a member's waiting replies
    (``events``), for those still waiting."""
    return [
        (at, answer)
        for at, waiting in enumerate(events)
        for answer in answers
        if waiting is answer.first
    ]


def _later_seqs(read: list[_Read]) -> list[float]:
    """For each of ``read``, the lowest sequence number of this node's events after it."""
    lowest: float = math.inf
    later: list[float] = [math.inf] * len(read)
    for at in range(len(read) - 1, -1, -1):
        later[at] = lowest
        origin = read[at][3]
        if origin is not None:
            lowest = min(lowest, origin.seq)
    return later


def _by(operation: Operation, lost: dict[Peer, str]) -> bool:
    """Whether ``operation`` is of a member who lost the race for a nickname (``lost``:
    each with that nick's key), so goes nowhere: what it does, or its record under that
    nick (the winner's)."""
    if isinstance(operation, RoomEvent | Direct):
        return operation.author in lost
    if isinstance(operation, Claim):
        return operation.peer in lost
    if isinstance(operation, Describe) and operation.peer is not None:
        return lost.get(operation.peer) == operation.key
    return False


def _entries(reply: Any) -> Entries:
    """XRANGE's or XREVRANGE's reply, typed (decode_responses: strings)."""
    return [(str(entry_id), dict(fields)) for entry_id, fields in reply or []]


def _strings(reply: Any) -> list[str]:
    return [str(item) for item in reply or ()]


def _hash(reply: Any) -> dict[str, str]:
    return {str(key): str(value) for key, value in (reply or {}).items()}


def _topic_value(name: str, text: str, by: str) -> str:
    return json.dumps([name, text, by], ensure_ascii=False)


def _hearing(room: Room) -> set[str]:
    """Who of this node hears ``room``'s events (by nickname key): its members here and
    those still joining it."""
    if isinstance(room, ClusterRoom) and room.joining:
        return {*room.members, *room.joining}
    return set(room.members)


def _elsewhere(origin: RoomEvent | None) -> bool:
    """Whether ``origin`` is an event of this node's told to the others only."""
    return origin is not None and origin.elsewhere


def _nick_keys(event: Event) -> frozenset[str]:
    """Whose coming or going ``event`` is (nick keys), if it is one."""
    match event:
        case Join(nick=nick) | Part(nick=nick) | Leave(nick=nick) | Kick(target=nick):
            return frozenset((nick_key(nick),))
        case NickChange(old=old, new=new):
            return frozenset((nick_key(old), nick_key(new)))
    return frozenset()


def _still_joining(room: ClusterRoom, peer: Peer) -> bool:
    return room.joining.get(nick_key(peer.nick or "")) is peer


def _owed_id(owed: tuple[Peer, Event, str]) -> int:
    return owed[1].id


def _event_id_of(read: _Read) -> int:
    return read[0]


async def redis_version(client: aioredis.Redis) -> str:
    """Redis's version: "" if it will not say (INFO refused), or if it is another server
    that speaks Redis's protocol (Dragonfly) and may not answer as Redis does."""
    try:
        info = await client.info("server")
    except ResponseError:
        return ""
    if "dragonfly_version" in info:
        return ""
    return str(info.get("redis_version", ""))


def answers_woken_reads_whole(version: str) -> bool:
    """Whether a Redis of ``version`` answers a blocked XREAD with every stream that has
    news: from 7.2 on, it runs the command again once woken; before, the reply brings only
    the stream whose news woke it. A version unknown is taken for an older one."""
    try:
        return version_of(version) >= (7, 2)
    except ValueError:
        return False


def _room_key_of(stream: str) -> str:
    """The room key in a stream's name, ``PREFIX:{ROOM}:events``."""
    return stream[stream.index("{") + 1 : stream.rindex("}")]


def _parse(document: str) -> Event | None:
    try:
        return parse_stream_document(document)
    except RemoteProtocolError as exc:
        log.warning("an event on Redis cannot be read (%s); skipped", exc)
        return None


async def _connect_again(connection: Any, *, nowait: bool) -> None:
    """One of the hot path's connections (redis-py's), closed and made again."""
    await connection.disconnect(nowait=nowait)
    async with asyncio.timeout(CONNECT_TIMEOUT + REPLY_TIMEOUT):
        await connection.connect()


def _reply_error(message: str) -> RedisError:
    """Redis's error reply as redis-py would have raised it, as far as the node tells
    them apart (:func:`_refuses_writes`)."""
    for prefix, kind in (
        ("NOPERM", NoPermissionError),
        ("READONLY", ReadOnlyError),
        ("OOM", OutOfMemoryError),
    ):
        if message.startswith(prefix + " "):
            return kind(message.removeprefix(prefix + " "))
    return ResponseError(message)


def _refuses_writes(error: BaseException) -> bool:
    """Whether Redis answered ``error`` as one that takes no writes now: at its maxmemory
    (noeviction), a read-only replica, an ACL user without the right, or one that cannot
    persist or reach its replicas. (Not a lost script, a busy one, a wrong key type.)"""
    if isinstance(error, OutOfMemoryError | ReadOnlyError | NoPermissionError):
        return True
    return isinstance(error, ResponseError) and str(error).startswith(("MISCONF", "NOREPLICAS"))


def _said(error: BaseException) -> str:
    """An error in one line (redis-py names host and port only, never the password)."""
    if str(error):
        return str(error).splitlines()[0]
    if isinstance(error, TimeoutError):  # one of the node's own (asyncio.timeout)
        return "no answer in time"
    return type(error).__name__
