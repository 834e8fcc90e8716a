"""One sample of every event, with its text rendering: the fixture of the rendering tests.

The core's text and JSON renderings, the terminal client's display and the IRC
encoder are each checked against these, so a new event type must be added here
once, and every rendering's tests then cover it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tcpchat.core.events import (
    Action,
    AIAnswer,
    AIDelta,
    AwayReply,
    BanInfo,
    BanList,
    CurrentRoom,
    Error,
    Event,
    Found,
    HistoryEnd,
    Hit,
    Join,
    Kick,
    Leave,
    Message,
    ModeChange,
    NickChange,
    Notice,
    Part,
    PrivateMessage,
    RoomInfo,
    RoomList,
    SearchFailed,
    SearchStarted,
    Seen,
    Shutdown,
    Topic,
    UserList,
    Welcome,
    Whois,
)

TS = datetime(2026, 11, 26, 14, 3, 22, 123456, tzinfo=UTC)
#: A moment of history, two days before TS.
EARLIER = datetime(2026, 11, 24, 9, 30, 5, tzinfo=UTC)

SAMPLES: list[tuple[Event, list[str]]] = [
    (Message(1, TS, "alice", "hello"), ["[14:03:22] <alice> hello"]),
    (Action(2, TS, "alice", "waves"), ["[14:03:22] * alice waves"]),
    (
        PrivateMessage(3, TS, "alice", "bob", "psst"),
        ["[14:03:22] [private] alice -> bob: psst"],
    ),
    (Join(4, TS, "bob"), ["[14:03:22] *** bob joined"]),
    (Leave(5, TS, "bob", "quit"), ["[14:03:22] *** bob left (quit)"]),
    (NickChange(6, TS, "bob", "robert"), ["[14:03:22] *** bob is now known as robert"]),
    (
        Welcome(7, TS, "alice", ("alice", "bob")),
        [
            "[14:03:22] *** Welcome, alice! 2 users online: alice, bob",
            "[14:03:22] *** Type a message and press Enter to chat; /help lists the commands.",
        ],
    ),
    (UserList(8, TS, ("alice",)), ["[14:03:22] *** 1 user online: alice"]),
    (Notice(9, TS, "one\ntwo"), ["[14:03:22] *** one", "[14:03:22] *** two"]),
    (Error(10, TS, "unknown_command", "no such thing"), ["[14:03:22] !!! no such thing"]),
    (
        SearchStarted(11, TS, "alice", 1, "why is the sky blue?"),
        ["[14:03:22] *** alice asked the AI: why is the sky blue?"],
    ),
    (AIDelta(12, TS, 1, "Rayl"), []),
    (
        AIAnswer(
            13,
            TS,
            "alice",
            1,
            "Rayleigh scattering.\nShort waves scatter more.",
            ("https://example.org/sky",),
        ),
        [
            "[14:03:22] <AI> Rayleigh scattering.",
            "[14:03:22] <AI> Short waves scatter more.",
            "[14:03:22] <AI> Sources:",
            "[14:03:22] <AI> [1] https://example.org/sky",
        ],
    ),
    (SearchFailed(15, TS, "alice", 1), ["[14:03:22] *** the AI could not answer alice's question"]),
    (Part(16, TS, "bob", "#dev", ""), ["[14:03:22] *** bob left the room"]),
    (Part(17, TS, "bob", "#dev", "lunch"), ["[14:03:22] *** bob left the room (lunch)"]),
    (
        Topic(18, TS, "#dev", "alice", "ship it", changed=True),
        ["[14:03:22] *** alice set the topic: ship it"],
    ),
    (Topic(19, TS, "#dev", "alice", "", changed=True), ["[14:03:22] *** alice cleared the topic"]),
    (
        Topic(20, TS, "#dev", "alice", "ship it", changed=False),
        ["[14:03:22] *** topic of #dev: ship it (set by alice)"],
    ),
    (Topic(21, TS, "#dev", "", "", changed=False), ["[14:03:22] *** #dev has no topic"]),
    (CurrentRoom(22, TS, "#dev"), ["[14:03:22] *** you are now talking in #dev"]),
    (CurrentRoom(23, TS, None), ["[14:03:22] *** you are in no room; /join #room to talk"]),
    (
        RoomList(24, TS, (RoomInfo("#dev", 3, "ship it"), RoomInfo("#lobby", 1, ""))),
        [
            "[14:03:22] *** 2 rooms:",
            "[14:03:22] ***   #dev (3 users): ship it",
            "[14:03:22] ***   #lobby (1 user)",
        ],
    ),
    (
        Whois(25, TS, "alice", ("#lobby", "#dev"), 7380, 5, "lunch"),
        ["[14:03:22] *** alice: in #lobby, #dev; connected 2h 3m; idle 5s; away: lunch"],
    ),
    (
        Whois(26, TS, "bob", (), 59, 125, None),
        ["[14:03:22] *** bob: in no room; connected 59s; idle 2m 5s"],
    ),
    (AwayReply(27, TS, "bob", "lunch"), ["[14:03:22] *** bob is away: lunch"]),
    (
        UserList(28, TS, ("alice", "bob"), "#dev", ("bob",)),
        ["[14:03:22] *** 2 users in #dev: alice, bob (away)"],
    ),
    (HistoryEnd(29, TS, "#dev", 20, True), ["[14:03:22] *** end of history; /history for more"]),
    (
        HistoryEnd(30, TS, "#dev", 3, False),
        ["[14:03:22] *** end of history; nothing older is kept"],
    ),
    (HistoryEnd(31, TS, "#dev", 0, False), ["[14:03:22] *** no older history in #dev"]),
    (
        Found(32, TS, "#dev", "deploy", (Hit(3, EARLIER, "message", "bob", "deploy\nfriday"),)),
        [
            "[14:03:22] *** 1 line of #dev matches deploy:",
            "[14:03:22] ***   [2026-11-24 09:30] <bob> deploy friday",
        ],
    ),
    (
        Found(
            33,
            TS,
            "#dev",
            "deploy",
            (Hit(3, EARLIER, "action", "bob", "deploys"), Hit(4, EARLIER, "ai", "bob", "Do.")),
        ),
        [
            "[14:03:22] *** 2 lines of #dev match deploy:",
            "[14:03:22] ***   [2026-11-24 09:30] * bob deploys",
            "[14:03:22] ***   [2026-11-24 09:30] <AI> Do.",
        ],
    ),
    (Found(34, TS, "#dev", "x", ()), ["[14:03:22] *** no line of #dev matches x"]),
    (
        Seen(35, TS, "bob", False, EARLIER, "#dev", "said", "see you"),
        ["[14:03:22] *** bob was last seen in #dev 2026-11-24 09:30 (2d 4h ago), saying: see you"],
    ),
    (
        Seen(38, TS, "bob", False, EARLIER, "#dev", "action", "waves"),
        ["[14:03:22] *** bob was last seen in #dev 2026-11-24 09:30 (2d 4h ago): * bob waves"],
    ),
    (
        Seen(39, TS, "bob", False, EARLIER, "#dev", "topic", "release friday"),
        [
            "[14:03:22] *** bob was last seen in #dev 2026-11-24 09:30 (2d 4h ago), "
            "setting the topic: release friday"
        ],
    ),
    (
        Seen(40, TS, "bob", True, EARLIER, "#dev", "search", "what is QUIC"),
        [
            "[14:03:22] *** bob was last seen in #dev 2026-11-24 09:30 (2d 4h ago), "
            "asking the AI: what is QUIC; online now"
        ],
    ),
    (
        Seen(36, TS, "bob", True, EARLIER, "#dev", "left", "lunch"),
        [
            "[14:03:22] *** bob was last seen leaving #dev 2026-11-24 09:30 (2d 4h ago): lunch; "
            "online now"
        ],
    ),
    (Seen(37, TS, "carol", False), ["[14:03:22] *** carol has not been seen here"]),
    (
        Shutdown(14, TS, "the server is shutting down"),
        ["[14:03:22] *** the server is shutting down"],
    ),
    (
        UserList(29, TS, ("alice", "bob"), "#dev", ("bob",), operators=("alice",)),
        ["[14:03:22] *** 2 users in #dev: @alice, bob (away)"],
    ),
    # A room past --quiet-joins-above: counted on joining, listed in full on /users.
    (
        Welcome(38, TS, "alice", (), 4096, "#lobby", members=1234),
        [
            "[14:03:22] *** Welcome, alice! 1,234 users online; /users lists them",
            "[14:03:22] *** Type a message and press Enter to chat; /help lists the commands.",
        ],
    ),
    (
        UserList(39, TS, (), "#big", members=1234),
        ["[14:03:22] *** 1,234 users in #big; /users #big lists them"],
    ),
    (
        UserList(40, TS, ("alice", "bob"), "#big", members=2),
        ["[14:03:22] *** 2 users in #big: alice, bob"],
    ),
    (
        Whois(30, TS, "alice", ("#lobby", "#dev"), 5, 5, None, True, ("#lobby", "#dev")),
        ["[14:03:22] *** alice: in @#lobby, @#dev; connected 5s; idle 5s; server operator"],
    ),
    (
        Kick(31, TS, "alice", "bob", "#dev", "spam"),
        ["[14:03:22] *** alice kicked bob out of #dev (spam)"],
    ),
    (Kick(32, TS, "alice", "bob", "#dev", ""), ["[14:03:22] *** alice kicked bob out of #dev"]),
    (
        ModeChange(33, TS, "alice", "#dev", "op", "bob"),
        ["[14:03:22] *** alice made bob an operator of #dev"],
    ),
    (
        ModeChange(34, TS, "alice", "#dev", "deop", "bob"),
        ["[14:03:22] *** alice removed bob as an operator of #dev"],
    ),
    (
        ModeChange(35, TS, "alice", "#dev", "mute", "bob", 600, "calm down"),
        ["[14:03:22] *** alice muted bob in #dev for 10m 0s (calm down)"],
    ),
    (
        ModeChange(36, TS, "alice", "#dev", "unmute", "bob"),
        ["[14:03:22] *** alice unmuted bob in #dev"],
    ),
    (
        ModeChange(37, TS, "alice", "#dev", "slow", seconds=30),
        ["[14:03:22] *** alice set slow mode in #dev: one line per 30s"],
    ),
    (
        ModeChange(38, TS, "alice", "#dev", "slow"),
        ["[14:03:22] *** alice turned slow mode off in #dev"],
    ),
    (
        ModeChange(39, TS, "alice", "#dev", "ban", "bob", 0, "spam"),
        ["[14:03:22] *** alice banned bob from #dev for good (spam)"],
    ),
    (
        ModeChange(40, TS, "root", "", "ban", "10.0.0.0/8", 7200),
        ["[14:03:22] *** root banned 10.0.0.0/8 from the server for 2h 0m"],
    ),
    (
        ModeChange(41, TS, "alice", "#dev", "unban", "bob"),
        ["[14:03:22] *** alice lifted the ban on bob from #dev"],
    ),
    (  # no operator: the server tells how the room stands (a cluster node, learning it)
        ModeChange(44, TS, "", "#dev", "op", "bob"),
        ["[14:03:22] *** bob is an operator of #dev"],
    ),
    (
        ModeChange(45, TS, "", "#dev", "deop", "bob"),
        ["[14:03:22] *** bob is not an operator of #dev"],
    ),
    (
        BanList(
            42,
            TS,
            "#dev",
            (
                BanInfo("bob", "#dev", "alice", "spam", 3599),
                BanInfo("10.0.0.0/8", "", "root", "", None),
            ),
        ),
        [
            "[14:03:22] *** 2 bans in #dev:",
            "[14:03:22] ***   bob from #dev, by alice, 59m 59s left: spam",
            "[14:03:22] ***   10.0.0.0/8 from the server, by root, for good",
        ],
    ),
    (BanList(43, TS, "#dev", ()), ["[14:03:22] *** no bans in #dev"]),
]
