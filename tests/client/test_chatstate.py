"""What the client knows about its chat, kept from events: plain calls, no sockets."""

from __future__ import annotations

from datetime import UTC, datetime

from tcpchat.client.chatstate import (
    MAX_FOLLOWED_ROOMS,
    MAX_MEMBERS,
    MAX_STREAMING_ANSWERS,
    STREAM_PREVIEW_CHARS,
    ChatState,
    Link,
)
from tcpchat.core.events import (
    Action,
    AIAnswer,
    AIDelta,
    AwayReply,
    CurrentRoom,
    Join,
    Leave,
    Message,
    NickChange,
    Part,
    RoomInfo,
    RoomList,
    SearchFailed,
    SearchStarted,
    Topic,
    UserList,
    Welcome,
    Whois,
)
from tcpchat.tui.display import plain

TS = datetime(2026, 3, 1, tzinfo=UTC)


def test_members_follow_joins_leaves_and_renames() -> None:
    """Welcome fills the member list; joins, leaves and nick changes keep it current."""
    state = ChatState("h:1")
    state.apply(Welcome(1, TS, "alice", ("alice", "bob")))
    state.apply(Join(2, TS, "Carol"))
    state.apply(Leave(3, TS, "bob", "quit"))
    state.apply(NickChange(4, TS, "carol", "dave"))
    assert state.users == ["alice", "dave"]
    state.apply(UserList(5, TS, ("x", "y")))
    assert state.users == ["x", "y"]


def test_own_nick_follows_the_servers_nick_event() -> None:
    """The client learns its new nickname from the nick event sent to everyone."""
    state = ChatState("h:1")
    state.apply(Welcome(1, TS, "alice", ("alice",)))
    state.apply(NickChange(2, TS, "ALICE", "alicia"))
    assert state.nick == "alicia"
    assert state.prompt() == "alicia> "


def test_toolbar_shows_server_nick_count_and_link() -> None:
    """The toolbar names the server, the nickname, the count online and the link state."""
    state = ChatState("127.0.0.1:5002")
    state.apply(Welcome(1, TS, "alice", ("alice", "bob")))
    assert plain(state.toolbar()) == " 127.0.0.1:5002 | alice | 2 online | connected "
    state.set_link(Link.WAITING, "attempt 2 in 2.0s")
    assert plain(state.toolbar()).endswith("| reconnecting (attempt 2 in 2.0s) ")


def test_narrow_toolbar_keeps_the_connection_state_last_to_go() -> None:
    """At small widths the server goes first, then the nickname, then the count; the state
    stays, and is cut short only when it alone is too wide."""
    state = ChatState("127.0.0.1:5002")
    state.apply(Welcome(1, TS, "alice", ("alice", "bob")))
    assert plain(state.toolbar(47)) == " 127.0.0.1:5002 | alice | 2 online | connected "
    assert plain(state.toolbar(30)) == " alice | 2 online | connected "
    assert plain(state.toolbar(22)) == " 2 online | connected "
    assert plain(state.toolbar(20)) == " connected "
    state.set_link(Link.WAITING, "attempt 2 in 2.1s")
    assert plain(state.toolbar(30)) == " reconnecting (attempt 2 in … "
    assert plain(state.toolbar(14)) == " reconnectin… "


def test_toolbar_width_counts_wide_characters() -> None:
    """A nickname of wide characters counts two columns each when fitting the toolbar."""
    state = ChatState("h:1")
    state.apply(Welcome(1, TS, "李小龍", ("李小龍",)))
    assert plain(state.toolbar(37)) == " h:1 | 李小龍 | 1 online | connected "
    assert plain(state.toolbar(36)) == " 李小龍 | 1 online | connected "


def test_prompt_asks_for_a_nickname_while_registering() -> None:
    """While the server waits for a nickname, the prompt says so."""
    state = ChatState("h:1")
    state.set_link(Link.REGISTERING)
    assert state.prompt() == "nickname> "


def test_direct_mode_has_no_nicknames_in_the_toolbar() -> None:
    """In a 1:1 chat the toolbar shows the server and the link only."""
    state = ChatState("h:5001", direct=True)
    state.set_link(Link.CONNECTED)
    assert plain(state.toolbar()) == " h:5001 | 1:1 chat | connected "


def test_a_streaming_ai_answer_grows_in_the_toolbar_until_it_is_complete() -> None:
    """Each piece of a streamed answer is added to the toolbar's AI line; the whole answer
    (or its failure) clears it."""
    state = ChatState("h:1")
    state.apply(Welcome(1, TS, "alice", ("alice",)))
    assert "AI" not in plain(state.toolbar())
    state.apply(AIDelta(2, TS, 7, "Rayleigh "))
    assert plain(state.toolbar()).endswith("AI ▸ Rayleigh ")
    state.apply(AIDelta(3, TS, 7, "scattering\n\x1b]0;x\x07of light"))
    assert plain(state.toolbar()).endswith("AI ▸ Rayleigh scattering of light ")
    state.apply(AIAnswer(4, TS, "alice", 7, "Rayleigh scattering of light.", ()))
    assert "AI ▸" not in plain(state.toolbar())
    state.apply(AIDelta(5, TS, 8, "half an answer"))
    state.apply(SearchFailed(6, TS, "alice", 8))
    assert state.streaming is None


def test_the_toolbar_shows_only_the_tail_of_a_long_answer() -> None:
    """A long streaming answer shows its newest words, not a line wider than the screen."""
    state = ChatState("h:1")
    state.apply(AIDelta(1, TS, 1, "word " * 200 + "newest"))
    line = plain(state.toolbar()).split("\n")[-1]
    assert line.strip().endswith("newest")
    assert len(line) <= STREAM_PREVIEW_CHARS + len(" AI ▸  ")


def test_the_streaming_line_fits_a_narrow_toolbar() -> None:
    """In a narrow terminal the AI line keeps as much of the newest text as fits."""
    state = ChatState("h:1")
    state.apply(AIDelta(1, TS, 1, "word " * 20 + "newest"))
    line = plain(state.toolbar(20)).split("\n")[-1]
    assert line == " AI ▸ d word newest "


def test_streaming_answers_are_bounded() -> None:
    """A server that starts answers and never ends them cannot grow the client's memory."""
    state = ChatState("h:1")
    for search_id in range(1, 1001):
        state.apply(AIDelta(search_id, TS, search_id, "x"))
    assert len(state._answers) == MAX_STREAMING_ANSWERS
    assert min(state._answers) == 1001 - MAX_STREAMING_ANSWERS


def test_joins_past_the_member_bound_are_not_kept() -> None:
    """Endless joins of new names stop adding members at the bound."""
    state = ChatState("h:1")
    for number in range(MAX_MEMBERS + 50):
        state.apply(Join(number + 1, TS, f"u{number}"))
    assert len(state.users) == MAX_MEMBERS


def test_a_lost_connection_forgets_members_and_streaming_answers() -> None:
    """After a loss, the toolbar shows no members and no answer that will never end."""
    state = ChatState("h:1")
    state.apply(Welcome(1, TS, "alice", ("alice", "bob")))
    state.apply(AIDelta(2, TS, 7, "half an answer"))
    state.forget_connection()
    assert state.users == []
    assert state.streaming is None


def in_lobby_and_dev() -> ChatState:
    """alice, welcomed in #lobby with bob, then in #dev with carol, #dev current."""
    state = ChatState("h:1")
    state.apply(Welcome(1, TS, "alice", ("alice", "bob"), room="#lobby"))
    state.apply(Join(2, TS, "alice", "#dev"))
    state.apply(UserList(3, TS, ("alice", "carol"), "#dev"))
    state.apply(CurrentRoom(4, TS, "#dev"))
    return state


def test_the_welcome_names_the_first_room_and_makes_it_current() -> None:
    """After the welcome the client is in the default room, with its members, and it is current."""
    state = ChatState("h:1")
    state.apply(Welcome(1, TS, "alice", ("alice", "bob"), room="#lobby"))
    assert state.rooms == ["#lobby"]
    assert state.current == "#lobby"
    assert state.users == ["alice", "bob"]


def test_own_join_adds_a_room_and_current_follows_the_server() -> None:
    """The user's own join adds the room, its user list fills it, and `current` moves there."""
    state = in_lobby_and_dev()
    assert state.rooms == ["#lobby", "#dev"]
    assert state.current == "#dev"
    assert state.users == ["alice", "carol"]


def test_a_join_to_another_room_adds_nobody_here() -> None:
    """Someone joining a room the user is not in is no member of any of the user's rooms."""
    state = ChatState("h:1")
    state.apply(Welcome(1, TS, "alice", ("alice",), room="#lobby"))
    state.apply(Join(2, TS, "dave", "#elsewhere"))
    assert state.users == ["alice"]
    assert state.everyone == ["alice"]
    assert state.rooms == ["#lobby"]


def test_members_are_kept_per_room() -> None:
    """A join or a part changes only its room's members; the current room's are `users`."""
    state = in_lobby_and_dev()
    state.apply(Join(5, TS, "dave", "#Lobby"))
    state.apply(Part(6, TS, "carol", "#dev", ""))
    assert state.users == ["alice"]
    state.apply(CurrentRoom(7, TS, "#lobby"))
    assert state.users == ["alice", "bob", "dave"]
    assert state.everyone == ["alice", "bob", "dave"]


def test_leave_and_nick_change_reach_every_room_but_add_to_none() -> None:
    """A leaving takes a user out of every room; a rename renames only where they were."""
    state = in_lobby_and_dev()
    state.apply(Join(5, TS, "bob", "#dev"))
    state.apply(NickChange(6, TS, "carol", "caroline"))
    assert state.users == ["alice", "bob", "caroline"]
    state.apply(CurrentRoom(7, TS, "#lobby"))
    assert state.users == ["alice", "bob"]  # carol was never in #lobby
    state.apply(Leave(8, TS, "bob", "quit"))
    assert state.everyone == ["alice", "caroline"]


def test_a_user_list_of_a_room_not_joined_changes_no_members() -> None:
    """`/users #other` tells who is there without making it one of the user's rooms."""
    state = in_lobby_and_dev()
    state.apply(UserList(5, TS, ("x", "y"), "#other"))
    assert state.rooms == ["#lobby", "#dev"]
    assert state.users == ["alice", "carol"]
    assert "#other" in state.completion_rooms("/join")


def test_own_part_leaves_the_room_and_current_waits_for_the_server() -> None:
    """Parting the current room drops it; the server's `current` then names the new one."""
    state = in_lobby_and_dev()
    state.apply(Part(5, TS, "alice", "#dev", "bye"))
    assert state.rooms == ["#lobby"]
    assert state.current is None
    state.apply(CurrentRoom(6, TS, "#lobby"))
    assert state.prompt() == "alice #lobby> "


def test_away_marks_follow_lists_whois_and_away_replies() -> None:
    """A user list's away names, /whois and an away reply mark users away, or back."""
    state = in_lobby_and_dev()
    state.apply(UserList(5, TS, ("alice", "bob"), "#lobby", away=("bob",)))
    assert state.is_away("Bob")
    state.apply(Whois(6, TS, "bob", ("#lobby",), 10, 2, None))
    assert not state.is_away("bob")
    state.apply(AwayReply(7, TS, "carol", "lunch"))
    state.apply(NickChange(8, TS, "carol", "caroline"))
    assert state.is_away("caroline")


def test_topics_are_kept_per_room() -> None:
    """A topic event sets the topic of its room only."""
    state = in_lobby_and_dev()
    state.apply(Topic(5, TS, "#dev", "carol", "release friday", changed=True))
    dev, lobby = state.room("#DEV"), state.room("#lobby")
    assert dev is not None
    assert dev.topic == "release friday"
    assert lobby is not None
    assert lobby.topic == ""


def test_lines_in_other_rooms_count_as_unread_until_it_is_current() -> None:
    """Messages, actions, searches and answers elsewhere count; becoming current clears them."""
    state = in_lobby_and_dev()
    state.apply(Message(5, TS, "bob", "hi", "#lobby"))
    state.apply(Action(6, TS, "bob", "waves", "#lobby"))
    state.apply(SearchStarted(7, TS, "bob", 1, "why?", "#lobby"))
    state.apply(AIAnswer(8, TS, "bob", 1, "because", (), "#lobby"))
    state.apply(Message(9, TS, "carol", "here", "#dev"))
    assert (state.unread("#lobby"), state.unread("#dev")) == (4, 0)
    state.apply(CurrentRoom(10, TS, "#lobby"))
    assert state.unread("#lobby") == 0


def test_joins_parts_and_topics_elsewhere_are_not_unread() -> None:
    """Comings, goings and topic changes in another room do not raise its count."""
    state = in_lobby_and_dev()
    state.apply(Join(5, TS, "dave", "#lobby"))
    state.apply(Part(6, TS, "dave", "#lobby", ""))
    state.apply(Topic(7, TS, "#lobby", "bob", "x", changed=True))
    assert state.unread("#lobby") == 0


def test_a_line_from_another_room_is_marked_with_it() -> None:
    """Lines from a room that is not current carry its name; the current room's do not."""
    state = in_lobby_and_dev()
    assert state.room_mark(Message(5, TS, "bob", "hi", "#lobby")) == "#lobby"
    assert state.room_mark(Join(6, TS, "dave", "#lobby")) == "#lobby"
    assert state.room_mark(Message(7, TS, "carol", "hi", "#DEV")) == ""
    assert state.room_mark(Leave(8, TS, "bob", "quit")) == ""
    # An answer to /topic names its room in its words already.
    assert state.room_mark(Topic(9, TS, "#lobby", "", "", changed=False)) == ""


def test_prompt_names_the_current_room() -> None:
    """The prompt is the nickname and the current room."""
    assert in_lobby_and_dev().prompt() == "alice #dev> "


def test_toolbar_lists_the_rooms_with_unread_counts() -> None:
    """The toolbar counts the current room's members and lists the rooms, unread counted."""
    state = in_lobby_and_dev()
    for number in range(3):
        state.apply(Message(5 + number, TS, "bob", "hi", "#lobby"))
    assert plain(state.toolbar()) == " h:1 | alice | 2 in #dev | #lobby(3) #dev | connected "
    styles = dict((text, style) for style, text in state.toolbar())
    assert styles["#dev"] == "class:toolbar.current"
    assert styles["#lobby(3)"] == "class:toolbar.unread"


def test_in_one_room_the_toolbar_counts_those_online() -> None:
    """A user in the default room alone sees the count as before rooms, and the room."""
    state = ChatState("h:1")
    state.apply(Welcome(1, TS, "alice", ("alice", "bob"), room="#lobby"))
    assert plain(state.toolbar()) == " h:1 | alice | 2 online | #lobby | connected "


def test_narrow_toolbar_keeps_the_rooms_with_news_longest() -> None:
    """In several rooms, narrowing drops the server, the nickname, the quiet rooms, the
    count, then the list; the connection state stays."""
    state = in_lobby_and_dev()
    state.apply(Join(5, TS, "alice", "#ops"))
    state.apply(Message(6, TS, "bob", "hi", "#lobby"))
    full = " h:1 | alice | 2 in #dev | #lobby(1) #dev #ops | connected "
    assert plain(state.toolbar(len(full))) == full
    assert (
        plain(state.toolbar(len(full) - 1))
        == " alice | 2 in #dev | #lobby(1) #dev #ops | connected "
    )
    assert plain(state.toolbar(48)) == " 2 in #dev | #lobby(1) #dev #ops | connected "
    assert plain(state.toolbar(44)) == " 2 in #dev | #lobby(1) #dev | connected "
    assert plain(state.toolbar(30)) == " #lobby(1) #dev | connected "
    assert plain(state.toolbar(20)) == " connected "


def test_narrow_toolbar_in_one_room_drops_the_room_before_the_count() -> None:
    """In one room the prompt names it, so it goes before the count."""
    state = ChatState("h:1")
    state.apply(Welcome(1, TS, "alice", ("alice", "bob"), room="#lobby"))
    assert plain(state.toolbar(31)) == " 2 online | #lobby | connected "
    assert plain(state.toolbar(30)) == " 2 online | connected "


def test_room_after_cycles_through_the_rooms_in_joining_order() -> None:
    """Ctrl-N and Ctrl-P's targets: the next and previous rooms, wrapping round."""
    state = in_lobby_and_dev()
    state.apply(Join(5, TS, "alice", "#ops"))
    assert (state.room_after(1), state.room_after(-1)) == ("#ops", "#lobby")
    state.apply(CurrentRoom(6, TS, "#ops"))
    assert state.room_after(1) == "#lobby"


def test_room_after_has_nowhere_to_go_in_one_room() -> None:
    """With one room (current) there is nothing to cycle to; in no room, to the first or last."""
    state = ChatState("h:1")
    state.apply(Welcome(1, TS, "alice", ("alice",), room="#lobby"))
    assert state.room_after(1) is None
    state.apply(CurrentRoom(2, TS, None))
    assert state.room_after(-1) == "#lobby"


def test_completion_rooms_are_own_rooms_and_those_listed() -> None:
    """/join and /users offer the rooms /rooms listed too; /part and /msg only the user's."""
    state = in_lobby_and_dev()
    state.apply(RoomList(5, TS, (RoomInfo("#art", 2, ""), RoomInfo("#dev", 2, "t"))))
    assert state.completion_rooms("/join") == ["#art", "#dev", "#lobby"]
    assert state.completion_rooms("/part") == ["#dev", "#lobby"]
    assert state.completion_rooms("/msg") == ["#dev", "#lobby"]


def test_followed_rooms_are_bounded() -> None:
    """A server that joins the user to endless rooms cannot grow the client's memory."""
    state = ChatState("h:1", "alice")
    for number in range(MAX_FOLLOWED_ROOMS + 20):
        state.apply(Join(number + 1, TS, "alice", f"#r{number}"))
    assert len(state.rooms) == MAX_FOLLOWED_ROOMS


def test_a_lost_connection_remembers_the_rooms_to_join_again() -> None:
    """After a loss the rooms are forgotten, but kept, with the current one, to join again."""
    state = in_lobby_and_dev()
    state.forget_connection()
    assert state.rooms == []
    assert state.prompt() == "alice> "
    assert (state.rooms_before_loss, state.current_before_loss) == (["#lobby", "#dev"], "#dev")


def test_replayed_history_is_not_unread_and_leaves_the_topic_alone() -> None:
    """Lines replayed from a room's history were said before: no unread count, and an old
    topic change replayed does not replace the room's topic."""
    state = in_lobby_and_dev()
    state.apply(Topic(5, TS, "#dev", "carol", "release friday", changed=True))
    state.apply(Message(6, TS, "bob", "old news", "#lobby", history=True))
    state.apply(Topic(7, TS, "#dev", "bob", "an old topic", changed=True, history=True))
    dev = state.room("#dev")
    assert dev is not None
    assert dev.topic == "release friday"
    assert state.unread("#lobby") == 0


def test_toolbar_counts_a_big_room_the_server_does_not_list() -> None:
    """A big room's welcome gives its count and no names: the toolbar shows the count."""
    state = ChatState("h:1")
    state.apply(Welcome(1, TS, "alice", (), 4096, "#lobby", 12_345))
    assert plain(state.toolbar()) == " h:1 | alice | 12,345 online | #lobby | connected "


def test_users_of_a_big_room_fill_its_list_and_keep_its_count() -> None:
    """/users in a big room names everyone for completion; the count stays the server's."""
    state = ChatState("h:1")
    state.apply(Welcome(1, TS, "alice", (), 4096, "#lobby", 3))
    state.apply(UserList(2, TS, ("alice", "bob", "carol"), "#lobby", members=3))
    assert state.users == ["alice", "bob", "carol"]
    assert "| 3 online |" in plain(state.toolbar())
