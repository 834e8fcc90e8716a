"""Sessions and commands driven by plain calls: no sockets, fake transports."""

from __future__ import annotations

import pytest

from tcpchat.core.protocol import line_too_long
from tcpchat.core.render import MAX_USERS_LISTED
from tcpchat.core.rooms import RoomRules
from tcpchat.core.session import Session
from tests.support.fakes import Room


@pytest.fixture
def room() -> Room:
    return Room()


async def test_registration_sends_welcome_and_tells_the_others(room: Room) -> None:
    """A new member is welcomed with the user list; the others see it join."""
    alice = room.join("alice")
    bob = room.connect("bob")
    bob.receive_line(b"bob")
    welcome = room.events(bob)
    assert [e["type"] for e in welcome] == ["welcome"]
    assert welcome[0]["nick"] == "bob"
    assert welcome[0]["users"] == ["alice", "bob"]
    assert [(e["type"], e["nick"]) for e in room.events(alice)] == [("join", "bob")]


async def test_unregistered_connection_is_not_in_the_room(room: Room) -> None:
    """Until it registers, a connection neither receives nor appears in /users."""
    alice = room.join("alice")
    lurker = room.connect("lurker")
    alice.receive_line(b"hello")
    alice.receive_line(b"/users")
    assert room.events(lurker) == []
    assert room.events(alice)[-1]["users"] == ["alice"]


async def test_taken_nick_is_refused_case_insensitively(room: Room) -> None:
    """'Alice' is taken when 'alice' is in the room; the client is asked again."""
    room.join("alice")
    other = room.connect("other")
    other.receive_line(b"Alice")
    events = room.events(other)
    assert [(e["type"], e.get("code")) for e in events] == [
        ("error", "nick_taken"),
        ("notice", None),
    ]
    assert not other.registered


async def test_invalid_nick_gets_a_reason_and_a_new_prompt(room: Room) -> None:
    """An invalid nickname is refused with the rule it broke."""
    session = room.connect("x")
    session.receive_line(b"no spaces")
    error = room.events(session)[0]
    assert error["code"] == "nick_invalid"
    assert "whitespace" in error["text"]


async def test_nick_command_registers(room: Room) -> None:
    """'/nick NAME' as the first line registers like a bare name."""
    session = room.connect("x")
    session.receive_line(b"/nick carol")
    assert session.registered
    assert session.nick == "carol"


async def test_commands_other_than_nick_need_registration(room: Room) -> None:
    """Before registration, /users is refused with a pointer to choosing a nick."""
    session = room.connect("x")
    session.receive_line(b"/users")
    assert room.events(session)[0]["code"] == "not_registered"


async def test_an_unknown_command_is_unknown_before_registration_too(room: Room) -> None:
    """A command that does not exist is `unknown_command` whether or not a nick was chosen."""
    session = room.connect("x")
    session.receive_line(b"/dance")
    assert room.events(session)[0]["code"] == "unknown_command"
    assert not session.registered


async def test_message_goes_to_everyone_but_the_sender(room: Room) -> None:
    """Chat is relayed to the others, not echoed back."""
    alice, bob, carol = room.join("alice"), room.join("bob"), room.join("carol")
    room.events(alice), room.events(bob)
    alice.receive_line(b"hi all")
    for session in (bob, carol):
        assert [(e["type"], e["nick"], e["text"]) for e in room.events(session)] == [
            ("message", "alice", "hi all")
        ]
    assert room.events(alice) == []


async def test_double_slash_sends_a_literal_slash(room: Room) -> None:
    """'//shrug' is sent as the message '/shrug'."""
    alice, bob = room.join("alice"), room.join("bob")
    alice.receive_line(b"//shrug")
    assert room.events(bob)[-1]["text"] == "/shrug"


async def test_blank_lines_are_ignored(room: Room) -> None:
    """Empty and whitespace-only lines send nothing."""
    alice, bob = room.join("alice"), room.join("bob")
    alice.receive_line(b"")
    alice.receive_line(b"   \t")
    assert room.events(bob) == []


async def test_chat_text_is_sanitised(room: Room) -> None:
    """Escape sequences never reach the others (and what trails them is trimmed as usual)."""
    alice, bob = room.join("alice"), room.join("bob")
    alice.receive_line(b"hi \x1b]0;owned\x07there \x1b[2J")
    assert room.events(bob)[-1]["text"] == "hi there"


async def test_invalid_utf8_is_an_error_to_the_sender_only(room: Room) -> None:
    """A line that is not UTF-8 is refused and not relayed."""
    alice, bob = room.join("alice"), room.join("bob")
    room.events(alice)
    alice.receive_line(b"caf\xe9")
    assert room.events(alice)[0]["code"] == "invalid_utf8"
    assert room.events(bob) == []


async def test_help_lists_every_command(room: Room) -> None:
    """/help names each command with a description."""
    alice = room.join("alice")
    alice.receive_line(b"/help")
    text = room.events(alice)[0]["text"]
    for usage in ("/help", "/users", "/nick", "/msg", "/me", "/search", "/exit", "/quit"):
        assert usage in text


async def test_users_lists_the_members_sorted(room: Room) -> None:
    """/users answers the sender with every nickname."""
    room.join("carol")
    room.join("Bob")
    alice = room.join("alice")
    alice.receive_line(b"/users")
    assert room.events(alice)[0]["users"] == ["alice", "Bob", "carol"]


async def test_nick_change_is_told_to_everyone(room: Room) -> None:
    """/nick renames; the room, the sender included, sees old -> new."""
    alice, bob = room.join("alice"), room.join("bob")
    room.events(alice)
    alice.receive_line(b"/nick alicia")
    for session in (alice, bob):
        event = room.events(session)[-1]
        assert (event["type"], event["old"], event["new"]) == ("nick", "alice", "alicia")
    assert room.hub.find("alicia") is alice.peer
    assert room.hub.find("alice") is None


async def test_nick_change_to_a_taken_name_fails(room: Room) -> None:
    """/nick to someone else's name is refused and nothing changes."""
    alice, bob = room.join("alice"), room.join("bob")
    room.events(alice)
    alice.receive_line(b"/nick BOB")
    assert room.events(alice)[0]["code"] == "nick_taken"
    assert alice.nick == "alice"
    assert room.events(bob) == []


async def test_nick_change_of_case_only_is_allowed(room: Room) -> None:
    """A member may change the case of its own nickname."""
    alice = room.join("alice")
    alice.receive_line(b"/nick Alice")
    assert alice.nick == "Alice"


async def test_private_message_reaches_only_its_recipient(room: Room) -> None:
    """/msg goes to the recipient, with a copy to the sender, and to no one else."""
    alice, bob, carol = room.join("alice"), room.join("bob"), room.join("carol")
    room.events(alice), room.events(bob)
    alice.receive_line(b"/msg BOB see you at 5")
    for session in (alice, bob):
        event = room.events(session)[0]
        assert (event["type"], event["nick"], event["recipient"], event["text"]) == (
            "private",
            "alice",
            "bob",
            "see you at 5",
        )
    assert room.events(carol) == []


async def test_private_message_to_nobody_is_an_error(room: Room) -> None:
    """/msg to an unknown nickname says so."""
    alice = room.join("alice")
    alice.receive_line(b"/msg ghost boo")
    assert "no user called 'ghost'" in room.events(alice)[0]["text"]


@pytest.mark.parametrize("line", [b"/msg", b"/msg bob", b"/me", b"/nick", b"/search"])
async def test_commands_without_arguments_explain_their_usage(room: Room, line: bytes) -> None:
    """A command missing its argument answers with its usage (or unavailability)."""
    alice = room.join("alice")
    room.join("bob")
    room.events(alice)
    alice.receive_line(line)
    error = room.events(alice)[0]
    assert error["type"] == "error"
    assert "usage" in error["text"] or "not available" in error["text"]


async def test_me_is_an_action_for_the_room(room: Room) -> None:
    """/me waves is shown to the others as an action."""
    alice, bob = room.join("alice"), room.join("bob")
    alice.receive_line(b"/me waves")
    event = room.events(bob)[-1]
    assert (event["type"], event["nick"], event["text"]) == ("action", "alice", "waves")


async def test_search_without_a_service_is_not_available(room: Room) -> None:
    """With no search service configured, /search says it is not available."""
    alice = room.join("alice")
    alice.receive_line(b"/search what time is it")
    assert "search is not available" in room.events(alice)[0]["text"]


async def test_unknown_command_points_to_help(room: Room) -> None:
    """An unknown command is an error to its sender that mentions /help."""
    alice, bob = room.join("alice"), room.join("bob")
    room.events(alice)
    alice.receive_line(b"/dance wildly")
    error = room.events(alice)[0]
    assert error["code"] == "unknown_command"
    assert "/help" in error["text"]
    assert room.events(bob) == []


@pytest.mark.parametrize("line", [b"/exit", b"/quit", b"/EXIT"])
async def test_exit_says_goodbye_and_tells_the_room_once(room: Room, line: bytes) -> None:
    """/exit (or /quit) ends the session; the room hears of it exactly once."""
    alice, bob = room.join("alice"), room.join("bob")
    room.events(alice)
    bob.receive_line(line)
    assert bob.finished == "quit"
    assert room.events(bob)[0]["text"] == "Goodbye!"
    bob.end("connection lost")  # the connection closing afterwards adds nothing
    leaves = [e for e in room.events(alice) if e["type"] == "leave"]
    assert [(e["nick"], e["reason"]) for e in leaves] == [("bob", "quit")]
    assert room.hub.find("bob") is None


async def test_switching_to_text_rendering(room: Room) -> None:
    """/format text switches a connection back to readable lines."""
    alice: Session = room.join("alice")
    alice.receive_line(b"/format text")
    alice.receive_line(b"/users")
    room.hub.flush(alice.peer)
    written = bytes(alice.peer.transport.written)  # type: ignore[attr-defined]
    assert b"*** 1 user online: alice\n" in written


async def test_format_rejects_unknown_renderings(room: Room) -> None:
    """/format accepts only text and json."""
    alice = room.join("alice")
    alice.receive_line(b"/format xml")
    assert "usage: /format" in room.events(alice)[0]["text"]


async def test_event_ids_increase(room: Room) -> None:
    """Events carry increasing server-assigned ids."""
    alice, bob = room.join("alice"), room.join("bob")
    for text in (b"one", b"two", b"three"):
        alice.receive_line(text)
    ids = [event["id"] for event in room.events(bob)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


async def test_slow_member_is_dropped_without_holding_up_others(room: Room) -> None:
    """A member whose send queue passes the bound is cut off; the others still get everything."""
    alice, bob, slow = room.join("alice"), room.join("bob"), room.join("slow")
    room.events(bob)
    slow.peer.transport.buffer_size = room.hub.max_queue_bytes + 1  # type: ignore[attr-defined]
    alice.receive_line(b"first")
    room.hub.flush(slow.peer)
    assert slow.peer.drop_reason == "send queue exceeded"
    assert slow.peer.transport.is_closing()
    slow.end(slow.peer.drop_reason)
    alice.receive_line(b"second")
    texts = [e.get("text") or e.get("reason") for e in room.events(bob)]
    assert texts == ["first", "send queue exceeded", "second"]


async def test_news_of_an_overlong_line_is_an_error_and_the_session_goes_on(room: Room) -> None:
    """LineTooLong from a door is answered with line_too_long; the next line still registers."""
    session = room.connect("bob")
    session.receive_line(line_too_long(512))
    error = room.events(session)[0]
    assert (error["type"], error["code"]) == ("error", "line_too_long")
    assert "512 bytes" in error["text"]
    session.receive_line(b"bob")
    assert session.registered


async def test_a_registration_time_out_says_why_and_ends_the_session(room: Room) -> None:
    """registration_timed_out sends the timeout error, then ends with its reason."""
    session = room.connect("slow")
    session.registration_timed_out()
    (error,) = room.events(session)
    assert (error["type"], error["code"]) == ("error", "timeout")
    assert error["text"] == "no nickname was chosen in time; closing"
    assert session.finished == "registration timed out"


@pytest.fixture
def big_room() -> Room:
    """A server whose rooms of more than 2 members keep joins, parts and quits quiet."""
    return Room(rules=RoomRules(quiet_joins_above=2))


async def test_a_join_at_the_quiet_threshold_is_announced_as_ever(big_room: Room) -> None:
    """The room's 2nd member, at --quiet-joins-above 2: named in the welcome, its join told."""
    alice = big_room.join("alice")
    bob = big_room.connect("bob")
    bob.receive_line(b"bob")
    (welcome,) = big_room.events(bob)
    assert welcome["users"] == ["alice", "bob"]
    assert "members" not in welcome
    assert [(e["type"], e["nick"]) for e in big_room.events(alice)] == [("join", "bob")]


async def test_a_join_past_the_quiet_threshold_is_counted_not_announced(big_room: Room) -> None:
    """The 3rd member is welcomed with the count and no names; nobody is told it came."""
    alice, bob = big_room.join("alice"), big_room.join("bob")
    big_room.events(alice)
    carol = big_room.connect("carol")
    carol.receive_line(b"carol")
    (welcome,) = big_room.events(carol)
    assert (welcome["users"], welcome["members"]) == ([], 3)
    assert big_room.events(alice) == big_room.events(bob) == []


async def test_users_in_a_quiet_room_lists_everyone_with_the_count(big_room: Room) -> None:
    """/users in a big room names every member, and says it is a big room's list."""
    for nick in ("alice", "bob"):
        big_room.join(nick)
    carol = big_room.join("carol")
    carol.receive_line(b"/users")
    (users,) = big_room.events(carol)
    assert (users["users"], users["members"]) == (["alice", "bob", "carol"], 3)


async def test_users_past_the_most_names_an_event_carries_lists_those_and_the_count() -> None:
    """/users in a room of more names than an event may carry lists the first of them, and
    says how many there are, so that the client knows its list is not everyone. The away
    names are among those listed: the last member, away, is not listed."""
    room = Room(rules=RoomRules(quiet_joins_above=2))  # quiet: each join costs O(1)
    first = room.join("m00000")
    for number in range(1, MAX_USERS_LISTED + 1):
        last = room.join(f"m{number:05}")
    last.receive_line(b"/away back soon")
    first.receive_line(b"/away lunch")
    room.events(first)
    first.receive_line(b"/users")
    (users,) = room.events(first)
    assert len(users["users"]) == MAX_USERS_LISTED
    assert users["members"] == MAX_USERS_LISTED + 1
    assert users["away"] == ["m00000"]


async def test_a_join_of_a_big_room_tells_the_joiner_alone_with_a_count(big_room: Room) -> None:
    """/join #big: the joiner gets its join, the count with no names, and the current room."""
    members = [big_room.join(nick) for nick in ("alice", "bob", "carol")]
    for member in members[:2]:
        member.receive_line(b"/join #big")
    for member in members:
        big_room.events(member)
    members[2].receive_line(b"/join #big")
    told = big_room.events(members[2])
    assert [e["type"] for e in told] == ["join", "users", "current"]
    assert (told[1]["users"], told[1]["members"]) == ([], 3)
    assert big_room.events(members[0]) == big_room.events(members[1]) == []


async def test_a_part_of_a_big_room_reaches_the_parter_alone(big_room: Room) -> None:
    """/part in a room past the threshold: the parter is told, the others are not."""
    alice, bob, carol = (big_room.join(nick) for nick in ("alice", "bob", "carol"))
    big_room.events(alice)
    carol.receive_line(b"/part")
    assert [e["type"] for e in big_room.events(carol)] == ["part", "current"]
    assert big_room.events(alice) == big_room.events(bob) == []


async def test_a_quit_is_told_in_a_small_room_shared_but_not_in_a_big_one(big_room: Room) -> None:
    """Carol quits: bob, who shares a small room with her too, is told once; alice is not."""
    alice, bob, carol = (big_room.join(nick) for nick in ("alice", "bob", "carol"))
    bob.receive_line(b"/join #small")
    carol.receive_line(b"/join #small")
    for member in (alice, bob):
        big_room.events(member)
    carol.receive_line(b"/quit")
    assert [(e["type"], e["nick"]) for e in big_room.events(bob)] == [("leave", "carol")]
    assert big_room.events(alice) == []
