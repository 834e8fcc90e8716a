"""Moderation's rules and state, with no I/O: operators, bans, mutes and slow mode.

One :class:`Moderation` belongs to a server. It says who may do what and
remembers what was done:

- **Server operators** are the connections that gave ``/oper`` the
  ``--oper-password`` (one :class:`~tcpchat.core.password.PasswordGate` per
  connection: three wrong tries and it is closed). They are operators of
  every room, and alone may ban addresses.
- **Room operators** are the connection that made a room, and whoever an
  operator ``/op``'s. It lasts while that connection stays in the room: a
  nickname proves nothing once its connection is gone, so leaving the room
  (or the server) ends it.
- **Bans** (:class:`Ban`) are by nickname in a room (the nickname's key and
  its confusable skeleton, as :mod:`tcpchat.core.nicks` compares them) or by
  address for the whole server (an IP address or a CIDR network, matched
  with :mod:`ipaddress`), for a duration or for good. A :class:`BanKeeper`
  is told of each one made or lifted, so that they outlive the process.
- **Mutes** are by nickname key in a room (and follow a muted connection
  through ``/nick``); **slow mode** allows each member one line per so many
  seconds in a room. Operators are exempt from both.

Expiry is lazy: an expired ban or mute is dropped when it is next checked,
and :meth:`Moderation.sweep` (the server calls it periodically) drops the
rest and forgets the rooms that have emptied. Times come from ``now`` (Unix
seconds), so tests move the clock by hand.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from tcpchat.core.errors import (
    Banned,
    CommandError,
    ModerationError,
    Muted,
    NotOperator,
    NotServerOperator,
    SlowMode,
)
from tcpchat.core.hub import Peer, Room
from tcpchat.core.nicks import nick_key, nick_skeleton
from tcpchat.core.password import PasswordGate
from tcpchat.core.render import duration

log = logging.getLogger("tcpchat.moderation")

#: What each duration unit is worth in seconds: ``30s``, ``10m``, ``2h``, ``7d``.
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: The longest ban or mute with a duration (a year and a day); longer is "for good".
MAX_DURATION_SECONDS = 366 * 86400
#: The longest slow mode: six hours, as on Discord.
MAX_SLOW_SECONDS = 6 * 3600
#: The longest reason a kick or a ban may give.
MAX_REASON_CHARS = 200
#: The most bans a server keeps (rooms' and server-wide together).
MAX_BANS = 10_000

#: Error codes of ``/oper``: the server has no operator password; a wrong one.
OPER_DISABLED = "oper_disabled"
OPER_WRONG = "oper_wrong"

_DURATION = re.compile(r"(\d{1,9})([smhd])", re.ASCII)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_duration(text: str) -> int | None:
    """``text`` as seconds if it is a duration (``30s``, ``10m``, ``2h``, ``7d``), else None.

    Raises :class:`CommandError` for a duration of nothing, or past a year and a day.
    """
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        return None
    seconds = int(match[1]) * DURATION_UNITS[match[2]]
    if not 0 < seconds <= MAX_DURATION_SECONDS:
        raise CommandError(
            "a duration is from 1s to 366d (30s, 10m, 2h, 7d); leave it out for good"
        )
    return seconds


def parse_network(text: str) -> Network | None:
    """``text`` as an IP network (an address is a network of one), else None.

    An IPv4 address written as IPv6 (``::ffff:10.0.0.1``) is taken as the IPv4 one,
    which is how it would connect over IPv4.
    """
    try:
        network = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}", strict=False)
    return network


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def for_how_long(seconds: float | None) -> str:
    """``for 2h 0m``, or ``for good`` (None), as a ban or a mute is described."""
    if seconds is None:
        return "for good"
    return f"for {duration(math.ceil(seconds))}"


@dataclass(frozen=True, slots=True)
class Ban:
    """One ban: a nickname kept out of a room, or addresses kept off the server.

    ``room_key`` is the room's key ("" for a server ban) and ``mask`` what is
    banned: the nickname's key, or the network as :mod:`ipaddress` writes it.
    ``room`` and ``target`` are as shown (the room's name, the nickname or the
    network); ``skeleton`` is a nickname's confusable skeleton. ``created`` and
    ``expires`` are Unix times (``expires`` None: for good).
    """

    room_key: str
    mask: str
    room: str
    target: str
    by: str
    reason: str
    created: float
    expires: float | None = None
    skeleton: str = ""

    @property
    def server_wide(self) -> bool:
        """Whether this bans addresses from the whole server (else a nickname from a room)."""
        return not self.room_key

    @property
    def key(self) -> tuple[str, str]:
        """What identifies a ban: a second ban of the same target replaces the first."""
        return self.room_key, self.mask

    def expired(self, now: float) -> bool:
        return self.expires is not None and self.expires <= now

    def seconds_left(self, now: float) -> float | None:
        """Seconds until it expires (None: never)."""
        return None if self.expires is None else max(self.expires - now, 0.0)

    def matches_address(self, host: str) -> bool:
        """Whether this server ban covers ``host`` (an IP address as text)."""
        address = _address(host)
        if not self.server_wide or address is None:
            return False
        return address in ipaddress.ip_network(self.mask, strict=False)

    def refusal(self, now: float) -> str:
        """What a connection from a banned address is told before it is closed."""
        because = f": {self.reason}" if self.reason else ""
        lasting = for_how_long(self.seconds_left(now))
        return f"your address is banned from this server {lasting}{because}"

    def matches_nick(self, nick: str) -> bool:
        return not self.server_wide and (
            nick_key(nick) == self.mask
            or (bool(self.skeleton) and nick_skeleton(nick) == self.skeleton)
        )


class BanKeeper(Protocol):
    """Where a server's bans go when made or lifted: its history store, and its connections
    (a new server ban closes the connections it covers)."""

    def saved(self, ban: Ban) -> None:
        """``ban`` was made (or replaced one with the same key)."""

    def removed(self, ban: Ban) -> None:
        """``ban`` was lifted, or expired."""


class Member(Protocol):
    """What moderation needs of a registered connection: its current room (a kick may
    take it away)."""

    room: Room | None


@dataclass(slots=True)
class _Mute:
    peer: Peer | None  # the connection muted (followed through /nick), if it was there
    expires: float | None


class RoomModes:
    """One room's moderation: its operators, mutes, slow mode and who spoke when."""

    __slots__ = ("last_line", "mutes", "operators", "slow")

    def __init__(self) -> None:
        self.operators: dict[Peer, None] = {}
        self.mutes: dict[str, _Mute] = {}  # nick key -> mute
        self.slow = 0  # seconds between two lines of a member; 0: off
        self.last_line: dict[Peer, float] = {}

    def idle(self) -> bool:
        return not (self.operators or self.mutes or self.slow)


class Moderation:
    """A server's operators, bans, mutes and slow modes (see the module's docstring).

    ``oper_password`` is ``--oper-password`` ("": nobody can become a server
    operator); ``keeper`` is told of every ban made or lifted; ``now`` gives Unix
    time; ``default_room`` has no creator-operator (it is the server's room).
    ``kicks_when_read`` is set on a node of a cluster: a kick puts its target out of the
    room when the kick comes off the room's stream on the target's own node, not at once
    (:func:`tcpchat.core.modcommands.put_out`).
    """

    def __init__(
        self,
        oper_password: str = "",
        *,
        keeper: BanKeeper | None = None,
        now: Callable[[], float] = time.time,
        max_bans: int = MAX_BANS,
        default_room: str = "",
        kicks_when_read: bool = False,
    ) -> None:
        self._oper_password = oper_password
        self.kicks_when_read = kicks_when_read
        self.keeper = keeper
        self.now = now
        self.max_bans = max_bans
        self._default_key = nick_key(default_room) if default_room else ""
        self._server_operators: dict[Peer, None] = {}
        #: Told of each member made a server operator here (a cluster node tells the others).
        self.on_promote: Callable[[Peer], None] | None = None
        self._oper_gates: dict[Peer, PasswordGate] = {}
        self._members: dict[Peer, Member] = {}
        self._rooms: dict[Room, RoomModes] = {}
        self._bans: dict[tuple[str, str], Ban] = {}
        # Server bans by network; single addresses also by address, for a dictionary lookup.
        self._networks: dict[str, Network] = {}
        self._addresses: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, Ban] = {}

    # -- connections ---------------------------------------------------------------

    def arrived(self, peer: Peer, member: Member) -> None:
        """``peer`` registered; ``member`` is its conversation (a kick may change its room)."""
        self._members[peer] = member

    def member(self, peer: Peer) -> Member | None:
        return self._members.get(peer)

    def left(self, peer: Peer) -> None:
        """``peer`` left the server: it is an operator of nothing any more."""
        self._members.pop(peer, None)
        self._server_operators.pop(peer, None)
        self._oper_gates.pop(peer, None)
        for room in peer.rooms:
            self.parted(peer, room)

    def joined(self, peer: Peer, room: Room, *, created: bool) -> None:
        """``peer`` joined ``room``; ``created``: the room was made by this join."""
        modes = self._rooms.get(room)
        if modes is not None:
            modes.operators.pop(peer, None)  # a new membership starts without powers
        if created and room.key != self._default_key:
            self._modes(room).operators[peer] = None

    def parted(self, peer: Peer, room: Room) -> None:
        """``peer`` left ``room`` (``/part``, a kick, leaving the server)."""
        modes = self._rooms.get(room)
        if modes is not None:
            modes.operators.pop(peer, None)
            modes.last_line.pop(peer, None)

    # -- operators -----------------------------------------------------------------

    def oper_gate(self, peer: Peer) -> PasswordGate:
        """The connection's ``/oper`` gate (three tries); ModerationError with code
        OPER_DISABLED when the server has no operator password."""
        if not self._oper_password:
            error = ModerationError("this server has no operators (no --oper-password is set)")
            error.code = OPER_DISABLED
            raise error
        gate = self._oper_gates.get(peer)
        if gate is None:
            gate = self._oper_gates[peer] = PasswordGate(self._oper_password)
        return gate

    def promote(self, peer: Peer) -> None:
        """Make ``peer`` a server operator (it gave the operator password)."""
        self._server_operators[peer] = None
        if self.on_promote is not None:
            self.on_promote(peer)

    def mirror_server_operator(self, peer: Peer, is_one: bool) -> None:
        """``peer``, a member of another node of the cluster, is a server operator there
        (or no longer, or is gone): marked so, and not to be muted or kicked, here too."""
        if is_one:
            self._server_operators[peer] = None
        else:
            self._server_operators.pop(peer, None)

    def try_oper(self, peer: Peer, nick: str, attempt: str) -> int | None:
        """Check ``attempt`` at ``peer``'s operator gate: None when it was right (``peer``
        is promoted, and the audit log says so), else the tries left (0: close it).

        The attempt itself is never logged: a mistyped password is most of a real one.
        ModerationError (OPER_DISABLED) when the server has no operator password.
        """
        gate = self.oper_gate(peer)
        if gate.attempt(attempt):
            self.promote(peer)
            audit("oper", by=nick, target=nick, room="", address=peer.address)
            return None
        log.warning(
            "%s (%s) sent a wrong operator password",
            nick,
            peer.address,
            extra={"action": "oper refused", "by": nick, "address": peer.address},
        )
        return 0 if gate.locked else gate.tries_left

    def is_server_operator(self, peer: Peer) -> bool:
        return peer in self._server_operators

    def is_operator(self, peer: Peer, room: Room) -> bool:
        """Whether ``peer`` may moderate ``room``: a server operator, or a room operator in it."""
        if peer in self._server_operators:
            return True
        modes = self._rooms.get(room)
        return modes is not None and peer in modes.operators and room in peer.rooms

    def require_operator(self, peer: Peer, room: Room) -> None:
        if not self.is_operator(peer, room):
            raise NotOperator(f"only operators of {room.name} may do that")

    def require_server_operator(self, peer: Peer) -> None:
        if peer not in self._server_operators:
            raise NotServerOperator("only server operators may do that (/oper PASSWORD)")

    def is_room_operator(self, peer: Peer, room: Room) -> bool:
        """Whether ``peer`` is an operator of ``room`` itself (made it, or was ``/op``'d),
        whether or not it is a server operator."""
        modes = self._rooms.get(room)
        return modes is not None and peer in modes.operators

    def operators(self, room: Room) -> tuple[str, ...]:
        """The nicknames of ``room``'s members who are its operators, sorted as ``nicks()``."""
        modes = self._rooms.get(room)
        ops = modes.operators if modes is not None else {}
        if not ops and not self._server_operators:
            return ()
        members = room.everyone()  # on a node of a cluster, the other nodes' members too
        return tuple(
            nick
            for nick in room.nicks()
            if (peer := members.get(nick_key(nick))) is not None
            and (peer in ops or peer in self._server_operators)
        )

    def operator_rooms(self, peer: Peer) -> tuple[str, ...]:
        """The names of the rooms ``peer`` is an operator of (for ``/whois``)."""
        return tuple(room.name for room in peer.rooms if self.is_operator(peer, room))

    def op(self, room: Room, peer: Peer) -> None:
        self._modes(room).operators[peer] = None

    def deop(self, room: Room, peer: Peer) -> None:
        modes = self._rooms.get(room)
        if modes is not None:
            modes.operators.pop(peer, None)

    # -- speaking: mutes and slow mode ----------------------------------------------

    def check_speak(self, peer: Peer, room: Room, *, nick: str | None = None) -> None:
        """Raise Muted or SlowMode if ``peer`` may not say a line in ``room`` now; else
        count the line (slow mode). Operators are never held back. ``nick``: the nickname
        the line was said under, if the member has changed it since (a node of a cluster
        judges a line it held once the room's moderation is loaded)."""
        modes = self._rooms.get(room)
        if modes is None or self.is_operator(peer, room):
            return
        now = self.now()
        if modes.mutes:
            mute = self._mute_of(modes, peer, now, nick)
            if mute is not None:
                left = None if mute.expires is None else mute.expires - now
                raise Muted(f"you are muted in {room.name} {for_how_long(left)}")
        if modes.slow:
            last = modes.last_line.get(peer)
            if last is not None:
                left = min(last + modes.slow - now, modes.slow)  # a clock set back
                if left > 0:
                    raise SlowMode(
                        f"slow mode in {room.name}: one line per {modes.slow}s; "
                        f"wait {math.ceil(left)}s"
                    )
            modes.last_line[peer] = now

    def _mute_of(
        self, modes: RoomModes, peer: Peer, now: float, nick: str | None = None
    ) -> _Mute | None:
        found: tuple[str, _Mute] | None = None
        key = nick_key(peer.nick or "")
        if nick is not None and nick_key(nick) in modes.mutes:
            key = nick_key(nick)
        if key in modes.mutes:
            found = key, modes.mutes[key]
        else:
            found = next(((k, m) for k, m in modes.mutes.items() if m.peer is peer), None)
        if found is None:
            return None
        key, mute = found
        if mute.expires is not None and mute.expires <= now:
            del modes.mutes[key]
            return None
        return mute

    def is_muted(self, peer: Peer, room: Room) -> bool:
        modes = self._rooms.get(room)
        return modes is not None and self._mute_of(modes, peer, self.now()) is not None

    def mute(self, room: Room, nick: str, peer: Peer | None, seconds: int | None) -> None:
        """Mute ``nick`` (the connection ``peer``, if there) in ``room``; None: for good."""
        self.mute_until(room, nick, peer, None if seconds is None else self.now() + seconds)

    def mute_until(self, room: Room, nick: str, peer: Peer | None, expires: float | None) -> None:
        """Mute ``nick`` (the connection ``peer``, if there) in ``room`` until the Unix time
        ``expires`` (None: for good): a mute another node of a cluster made."""
        self._modes(room).mutes[nick_key(nick)] = _Mute(peer, expires)

    def room_modes(self, room: Room) -> RoomModes | None:
        """What this server holds of ``room``'s moderation (None: nothing)."""
        return self._rooms.get(room)

    def restore(
        self,
        room: Room,
        *,
        operators: Iterable[Peer],
        mutes: dict[str, float | None],
        slow: int,
    ) -> None:
        """Replace ``room``'s operators, mutes (nick key -> Unix expiry, None: for good) and
        slow mode with what a node of a cluster read from Redis as it started reading it
        (or read again, back from an outage). Who spoke when here stays: Redis does not
        keep it, and slow mode still counts it."""
        modes = self._modes(room)
        modes.operators = dict.fromkeys(operators)
        modes.mutes = {key: _Mute(None, expires) for key, expires in mutes.items()}
        modes.slow = min(max(slow, 0), MAX_SLOW_SECONDS)

    def unmute(self, room: Room, nick: str, peer: Peer | None) -> bool:
        """Lift the mute of ``nick`` (or of the connection ``peer``); whether there was one."""
        modes = self._rooms.get(room)
        if modes is None:
            return False
        keys = [
            k for k, m in modes.mutes.items() if k == nick_key(nick) or (peer and m.peer is peer)
        ]
        for key in keys:
            del modes.mutes[key]
        return bool(keys)

    def set_slow(self, room: Room, seconds: int) -> None:
        """Slow mode in ``room``: one line per ``seconds`` a member (0: off)."""
        if not 0 <= seconds <= MAX_SLOW_SECONDS:
            raise CommandError(f"slow mode is from 1 to {MAX_SLOW_SECONDS} seconds (0: off)")
        modes = self._modes(room)
        modes.slow = seconds
        modes.last_line.clear()

    def slow(self, room: Room) -> int:
        modes = self._rooms.get(room)
        return modes.slow if modes is not None else 0

    # -- bans ----------------------------------------------------------------------

    def ban_nick(self, room: Room, nick: str, by: str, reason: str, seconds: int | None) -> Ban:
        """Keep ``nick`` (and nicknames that look like it) out of ``room``."""
        now = self.now()
        ban = Ban(
            room_key=room.key,
            mask=nick_key(nick),
            room=room.name,
            target=nick,
            by=by,
            reason=reason,
            created=now,
            expires=None if seconds is None else now + seconds,
            skeleton=nick_skeleton(nick),
        )
        self._add(ban)
        return ban

    def ban_network(self, network: Network, by: str, reason: str, seconds: int | None) -> Ban:
        """Keep the addresses of ``network`` off the server."""
        now = self.now()
        mask = str(network.network_address if _single(network) else network)
        ban = Ban(
            room_key="",
            mask=mask,
            room="",
            target=mask,
            by=by,
            reason=reason,
            created=now,
            expires=None if seconds is None else now + seconds,
        )
        self._add(ban)
        return ban

    def _add(self, ban: Ban) -> None:
        if ban.key not in self._bans and len(self._bans) >= self.max_bans:
            self.sweep()
            if len(self._bans) >= self.max_bans:
                raise ModerationError(
                    f"the server keeps at most {self.max_bans:,} bans; /unban some first"
                )
        self._put(ban)
        if self.keeper is not None:
            self.keeper.saved(ban)

    def _put(self, ban: Ban) -> None:
        self._drop(ban.key)
        self._bans[ban.key] = ban
        if ban.server_wide:
            network = ipaddress.ip_network(ban.mask, strict=False)
            self._networks[ban.mask] = network
            if _single(network):
                self._addresses[network.network_address] = ban

    def _drop(self, key: tuple[str, str]) -> Ban | None:
        ban = self._bans.pop(key, None)
        if ban is not None and ban.server_wide:
            network = self._networks.pop(ban.mask)
            if _single(network):
                del self._addresses[network.network_address]
        return ban

    def unban(self, room_key: str, mask: str) -> Ban | None:
        """Lift the ban of ``mask`` in the room ``room_key`` ("": a server ban); the ban, if any."""
        ban = self._drop((room_key, mask))
        if ban is not None and self.keeper is not None:
            self.keeper.removed(ban)
        return ban

    def load(self, bans: Iterable[Ban]) -> None:
        """Take the bans a store kept (at start-up), or another node of a cluster made; the
        keeper is not told (they are kept already). The expired ones go at the sweep."""
        for ban in bans:
            self._put(ban)

    def every_ban(self) -> list[Ban]:
        """Every ban held, the server's and every room's, expired ones not swept yet too."""
        return list(self._bans.values())

    def lifted(self, room_key: str, mask: str) -> Ban | None:
        """Drop a ban another node of a cluster lifted (it told the store); the ban, if any."""
        return self._drop((room_key, mask))

    def check_join(self, nick: str, room: str) -> None:
        """Raise Banned if ``nick`` is banned from the room called ``room``."""
        key = nick_key(room)
        for ban in self._room_bans(key):
            if ban.matches_nick(nick):
                left = ban.seconds_left(self.now())
                because = f": {ban.reason}" if ban.reason else ""
                raise Banned(f"you are banned from {ban.room} {for_how_long(left)}{because}")

    def address_ban(self, host: str) -> Ban | None:
        """The ban that keeps ``host`` (an IP address as text) off the server, if any."""
        if not self._networks:
            return None
        address = _address(host)
        if address is None:
            return None
        ban = self._addresses.get(address)
        if ban is None:
            ban = next(
                (
                    self._bans[("", mask)]
                    for mask, network in self._networks.items()
                    if address in network
                ),
                None,
            )
        if ban is not None and ban.expired(self.now()):
            self._expire(ban)
            return self.address_ban(host)
        return ban

    def bans(self, room_key: str) -> list[Ban]:
        """The live bans of the room ``room_key`` ("": the server's), oldest first."""
        return list(self._room_bans(room_key))

    def _room_bans(self, room_key: str) -> list[Ban]:
        now = self.now()
        found = []
        for ban in list(self._bans.values()):
            if ban.room_key != room_key:
                continue
            if ban.expired(now):
                self._expire(ban)
            else:
                found.append(ban)
        return found

    def _expire(self, ban: Ban) -> None:
        self.unban(ban.room_key, ban.mask)
        audit("ban expired", by="", target=ban.target, room=ban.room, reason=ban.reason)

    # -- housekeeping --------------------------------------------------------------

    def sweep(self) -> list[Ban]:
        """Drop expired bans and mutes, and the state of rooms that emptied; return the
        bans that expired."""
        now = self.now()
        expired = [ban for ban in self._bans.values() if ban.expired(now)]
        for ban in expired:
            self._expire(ban)
        for room, modes in list(self._rooms.items()):
            for key, mute in list(modes.mutes.items()):
                if mute.expires is not None and mute.expires <= now:
                    del modes.mutes[key]
            if not room.members:
                del self._rooms[room]
                continue
            for peer in [p for p in modes.last_line if room not in p.rooms]:
                del modes.last_line[peer]
            if modes.idle() and not modes.last_line:
                del self._rooms[room]
        return expired

    def _modes(self, room: Room) -> RoomModes:
        modes = self._rooms.get(room)
        if modes is None:
            modes = self._rooms[room] = RoomModes()
        return modes


def _single(network: Network) -> bool:
    return network.prefixlen == network.max_prefixlen


def audit(
    action: str, *, by: str, target: str, room: str, reason: str = "", **more: object
) -> None:
    """Log one moderation action at INFO, with who, whom, where and why as fields
    (``--log-format json`` writes them as the line's fields)."""
    where = room or "the server"
    because = f" ({reason})" if reason else ""
    who = f"{by}: " if by else ""
    log.info(
        "%s%s %s in %s%s",
        who,
        action,
        target,
        where,
        because,
        extra={
            "action": action,
            "by": by,
            "target": target,
            "room": room,
            "reason": reason,
            **more,
        },
    )
