"""The moderation commands: ``/oper``, ``/op``, ``/deop``, ``/kick``, ``/ban``, ``/unban``,
``/mute``, ``/unmute``, ``/slow`` and ``/bans``.

Each is a plain function of the conversation and its argument, like those of
:mod:`tcpchat.core.commands` (whose table lists them). The rules (who may do
what, what a ban matches, when a mute ends) are :mod:`tcpchat.core.moderation`'s;
these functions check them, act through the hub, tell the room, and write the
audit line. Front doors other than the line protocol (IRC's ``KICK`` and
``MODE``) call :func:`kick_out` and the same :class:`~tcpchat.core.moderation.Moderation`.
"""

from __future__ import annotations

from tcpchat.core.conversation import Conversation
from tcpchat.core.errors import CommandError, NoRoom, NotServerOperator
from tcpchat.core.events import BanInfo, BanList, CurrentRoom, EventClock, Kick, ModeChange
from tcpchat.core.hub import Hub, Peer, Room
from tcpchat.core.moderation import (
    MAX_REASON_CHARS,
    MAX_SLOW_SECONDS,
    OPER_WRONG,
    Ban,
    Moderation,
    audit,
    parse_duration,
    parse_network,
)
from tcpchat.core.nicks import nick_key, validate_nick
from tcpchat.core.password import tries
from tcpchat.core.sanitize import sanitize_text


def _moderation(session: Conversation) -> Moderation:
    if session.moderation is None:
        raise CommandError("this server has no moderation")
    return session.moderation


def _here(session: Conversation) -> Room:
    if session.room is None:
        raise NoRoom("you are in no room; /join #room")
    return session.room


def _member(session: Conversation, room: Room, nick: str) -> Peer:
    """The member of ``room`` called ``nick``; CommandError if there is none."""
    peer = room.everyone().get(nick_key(nick.strip()))
    if peer is None or peer.nick is None:
        raise CommandError(f"there is no {sanitize_text(nick)!r} in {room.name}; see /users")
    return peer


def _reason(text: str) -> str:
    reason = sanitize_text(text).strip()
    if len(reason) > MAX_REASON_CHARS:
        raise CommandError(f"a reason is at most {MAX_REASON_CHARS} characters long")
    return reason


def _duration_and_reason(text: str) -> tuple[int | None, str]:
    """``[DURATION] [REASON]``: the seconds (None: for good) and the reason."""
    first, _, rest = text.strip().partition(" ")
    seconds = parse_duration(first) if first else None
    if seconds is None:
        return None, _reason(text)
    return seconds, _reason(rest)


def _protect(session: Conversation, moderation: Moderation, target: Peer, what: str) -> None:
    """A room operator may not act on a server operator; a server operator may."""
    if moderation.is_server_operator(target) and not moderation.is_server_operator(session.peer):
        raise NotServerOperator(
            f"{target.nick} is a server operator; only a server operator may {what} them"
        )


def _announce(
    session: Conversation,
    room: Room,
    change: str,
    target: str = "",
    *,
    seconds: int | None = None,
    reason: str = "",
) -> None:
    """Tell ``room`` that its moderation changed (``seconds`` None or 0: for good, or off)."""
    event_id, ts = session.clock.stamp()
    event = ModeChange(event_id, ts, session.nick, room.name, change, target, seconds or 0, reason)
    session.hub.publish(event, room=room)


def kick_out(session: Conversation, room: Room, target: Peer, reason: str) -> None:
    """Put ``target`` out of ``room`` for ``session``'s operator: the room (``target``
    included) is told who and why, then ``target`` leaves it (:func:`put_out`). It may
    join again unless it is banned.

    On a node of a cluster (``kicks_when_read``), ``target`` may be another node's
    member: only the kick is sent here, and each node puts its own member out when the
    kick comes off the room's stream, in the room's one order."""
    assert target.nick is not None
    moderation = _moderation(session)
    event_id, ts = session.clock.stamp()
    session.hub.publish(Kick(event_id, ts, session.nick, target.nick, room.name, reason), room=room)
    if not moderation.kicks_when_read:
        put_out(moderation, session.hub, session.clock, target, room)
    audit("kick", by=session.nick, target=target.nick, room=room.name, reason=reason)


def put_out(moderation: Moderation, hub: Hub, clock: EventClock, target: Peer, room: Room) -> None:
    """What a kick does to ``target``: it leaves ``room`` and its powers there; a member of
    this server (not another node's) whose current room that was is told its new one."""
    moderation.parted(target, room)
    member = moderation.member(target)
    if member is None:
        return  # another node's member: its own node puts it out
    hub.part_room(target, room)
    if member.room is room:
        # As after a /part: the room joined most recently of those left becomes current.
        remaining = list(target.rooms)
        member.room = remaining[-1] if remaining else None
        event_id, ts = clock.stamp()
        name = member.room.name if member.room is not None else None
        hub.send(target, CurrentRoom(event_id, ts, name))


def oper(session: Conversation, argument: str) -> None:
    """``/oper PASSWORD``: become a server operator; three wrong tries close the connection."""
    moderation = _moderation(session)
    peer = session.peer
    if moderation.is_server_operator(peer):
        session.notice("you are a server operator already")
        return
    if not argument.strip():
        moderation.oper_gate(peer)  # no operators on this server: said before the usage
        raise CommandError("usage: /oper PASSWORD")
    tries_left = moderation.try_oper(peer, session.nick, argument)
    if tries_left is None:
        session.notice("you are now a server operator: an operator of every room")
    elif tries_left == 0:
        session.error(OPER_WRONG, "wrong operator password; too many tries, closing")
        session.end("too many wrong operator passwords")
    else:
        session.error(OPER_WRONG, f"wrong operator password; {tries(tries_left)} left")


def op(session: Conversation, argument: str) -> None:
    """``/op NICK``: make a member an operator of this room."""
    if not argument.strip():
        raise CommandError("usage: /op NICK")
    moderation, room = _moderation(session), _here(session)
    moderation.require_operator(session.peer, room)
    target = _member(session, room, argument)
    assert target.nick is not None
    if moderation.is_operator(target, room):
        raise CommandError(f"{target.nick} is an operator of {room.name} already")
    moderation.op(room, target)
    _announce(session, room, "op", target.nick)
    audit("op", by=session.nick, target=target.nick, room=room.name)


def deop(session: Conversation, argument: str) -> None:
    """``/deop NICK``: take a member's operator status in this room."""
    if not argument.strip():
        raise CommandError("usage: /deop NICK")
    moderation, room = _moderation(session), _here(session)
    moderation.require_operator(session.peer, room)
    target = _member(session, room, argument)
    assert target.nick is not None
    if moderation.is_server_operator(target):
        raise CommandError(f"{target.nick} is a server operator: an operator of every room")
    if not moderation.is_operator(target, room):
        raise CommandError(f"{target.nick} is not an operator of {room.name}")
    moderation.deop(room, target)
    _announce(session, room, "deop", target.nick)
    audit("deop", by=session.nick, target=target.nick, room=room.name)


def kick(session: Conversation, argument: str) -> None:
    """``/kick NICK [REASON]``: put a member out of this room."""
    nick, _, rest = argument.strip().partition(" ")
    if not nick:
        raise CommandError("usage: /kick NICK [REASON]")
    moderation, room = _moderation(session), _here(session)
    moderation.require_operator(session.peer, room)
    target = _member(session, room, nick)
    if target is session.peer:
        raise CommandError("you cannot kick yourself; /part leaves the room")
    _protect(session, moderation, target, "kick")
    kick_out(session, room, target, _reason(rest))


def ban(session: Conversation, argument: str) -> None:
    """``/ban NICK|IP|CIDR [DURATION] [REASON]``: a nickname from this room, or addresses
    from the server (server operators only)."""
    target, _, rest = argument.strip().partition(" ")
    if not target:
        raise CommandError("usage: /ban NICK|IP|CIDR [DURATION] [REASON]")
    moderation = _moderation(session)
    seconds, reason = _duration_and_reason(rest)
    network = parse_network(target)
    if network is not None:
        moderation.require_server_operator(session.peer)
        made = moderation.ban_network(network, session.nick, reason, seconds)
        event_id, ts = session.clock.stamp()
        change = ModeChange(
            event_id, ts, session.nick, "", "ban", made.target, seconds or 0, reason
        )
        session.hub.send(session.peer, change)
        audit("ban", by=session.nick, target=made.target, room="", reason=reason, seconds=seconds)
        return
    room = _here(session)
    moderation.require_operator(session.peer, room)
    nick = validate_nick(target)
    if nick_key(nick) == nick_key(session.nick):
        raise CommandError("you cannot ban yourself")
    present = room.everyone().get(nick_key(nick))
    if present is not None:
        _protect(session, moderation, present, "ban")
    made = moderation.ban_nick(room, nick, session.nick, reason, seconds)
    _announce(session, room, "ban", made.target, seconds=seconds, reason=reason)
    audit(
        "ban", by=session.nick, target=made.target, room=room.name, reason=reason, seconds=seconds
    )
    if present is not None and present is not session.peer:
        kick_out(session, room, present, reason or "banned")


def unban(session: Conversation, argument: str) -> None:
    """``/unban NICK|IP|CIDR``: lift a ban of this room, or of the server."""
    target = argument.strip()
    if not target or " " in target:
        raise CommandError("usage: /unban NICK|IP|CIDR")
    moderation = _moderation(session)
    network = parse_network(target)
    if network is not None:
        moderation.require_server_operator(session.peer)
        single = network.prefixlen == network.max_prefixlen
        mask = str(network.network_address if single else network)
        lifted = moderation.unban("", mask)
        if lifted is None:
            raise CommandError(f"{mask} is not banned from the server; see /bans")
        event_id, ts = session.clock.stamp()
        session.hub.send(
            session.peer, ModeChange(event_id, ts, session.nick, "", "unban", lifted.target)
        )
        audit("unban", by=session.nick, target=lifted.target, room="")
        return
    room = _here(session)
    moderation.require_operator(session.peer, room)
    lifted = moderation.unban(room.key, nick_key(target))
    if lifted is None:
        raise CommandError(f"{sanitize_text(target)!r} is not banned from {room.name}; see /bans")
    _announce(session, room, "unban", lifted.target)
    audit("unban", by=session.nick, target=lifted.target, room=room.name)


def mute(session: Conversation, argument: str) -> None:
    """``/mute NICK [DURATION] [REASON]``: a member may not speak in this room."""
    nick, _, rest = argument.strip().partition(" ")
    if not nick:
        raise CommandError("usage: /mute NICK [DURATION] [REASON]")
    moderation, room = _moderation(session), _here(session)
    moderation.require_operator(session.peer, room)
    target = _member(session, room, nick)
    assert target.nick is not None
    if moderation.is_operator(target, room):
        raise CommandError(f"{target.nick} is an operator of {room.name}; /deop them first")
    seconds, reason = _duration_and_reason(rest)
    moderation.mute(room, target.nick, target, seconds)
    _announce(session, room, "mute", target.nick, seconds=seconds, reason=reason)
    audit(
        "mute", by=session.nick, target=target.nick, room=room.name, reason=reason, seconds=seconds
    )


def unmute(session: Conversation, argument: str) -> None:
    """``/unmute NICK``: a muted member may speak again in this room."""
    nick = argument.strip()
    if not nick or " " in nick:
        raise CommandError("usage: /unmute NICK")
    moderation, room = _moderation(session), _here(session)
    moderation.require_operator(session.peer, room)
    peer = room.everyone().get(nick_key(nick))
    shown = peer.nick if peer is not None and peer.nick else sanitize_text(nick)
    if not moderation.unmute(room, nick, peer):
        raise CommandError(f"{shown} is not muted in {room.name}")
    _announce(session, room, "unmute", shown)
    audit("unmute", by=session.nick, target=shown, room=room.name)


def slow(session: Conversation, argument: str) -> None:
    """``/slow [SECONDS]``: slow mode in this room (0: off); no argument: what it is."""
    moderation, room = _moderation(session), _here(session)
    text = argument.strip()
    if not text:
        current = moderation.slow(room)
        state = f"one line per {current}s" if current else "off"
        session.notice(f"slow mode in {room.name}: {state}")
        return
    moderation.require_operator(session.peer, room)
    seconds = int(text) if text.isdecimal() and len(text) <= 6 else parse_duration(text)
    if seconds is None or seconds > MAX_SLOW_SECONDS:
        raise CommandError(f"usage: /slow SECONDS, from 1 to {MAX_SLOW_SECONDS} (0: off)")
    moderation.set_slow(room, seconds)
    _announce(session, room, "slow", seconds=seconds)
    audit("slow", by=session.nick, target=room.name, room=room.name, seconds=seconds)


def bans(session: Conversation, argument: str) -> None:
    """``/bans``: this room's bans, and (to a server operator) the server's."""
    moderation = _moderation(session)
    server = moderation.is_server_operator(session.peer)
    room = session.room
    if room is None and not server:
        raise NoRoom("you are in no room; /join #room")
    found = moderation.bans(room.key) if room is not None else []
    if server:
        found += moderation.bans("")
    now = moderation.now()
    event_id, ts = session.clock.stamp()
    listed = tuple(_info(ban, now) for ban in found)
    session.hub.send(session.peer, BanList(event_id, ts, room.name if room else "", listed))


def _info(ban: Ban, now: float) -> BanInfo:
    left = ban.seconds_left(now)
    return BanInfo(
        ban.target, ban.room, ban.by, ban.reason, None if left is None else int(left + 0.999)
    )
