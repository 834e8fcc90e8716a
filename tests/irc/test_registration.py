"""IRC registration as a state machine: real clients' openings, CAP, PASS, errors; no sockets."""

from __future__ import annotations

import pytest

from tcpchat.core.errors import InvalidNick, LocalProtocolError, NickTaken
from tcpchat.irc.message import IrcMessage, parse_message
from tcpchat.irc.registration import (
    CAPABILITIES,
    Registration,
    ServerInfo,
    isupport_tokens,
)

INFO = ServerInfo(
    name="My.Little.Server",
    version="tcpchat-0.1.0",
    created="2026-12-01",
    max_topic_chars=300,
    max_rooms_per_member=20,
    max_room_name_chars=32,
    max_away_chars=300,
    motd=("Welcome.",),
)


def feed(registration: Registration, *lines: str) -> list[str]:
    """Each line to the registration; the replies as text lines."""
    replies: list[IrcMessage] = []
    for line in lines:
        replies += registration.receive(parse_message(line))
    return [reply.to_bytes().decode("utf-8").removesuffix("\r\n") for reply in replies]


def commands(lines: list[str]) -> list[str]:
    return [line.split(" ")[1] for line in lines]


def test_irssi_opening_registers_with_the_capabilities_it_asked_for() -> None:
    """CAP LS 302, NICK, USER, then CAP REQ and CAP END (irssi's shape): ready after END."""
    registration = Registration(INFO)
    replies = feed(registration, "CAP LS 302", "NICK alice", "USER alice 0 * :Alice Liddell")
    assert replies == [":My.Little.Server CAP * LS :echo-message message-tags server-time"]
    assert not registration.ready
    assert feed(registration, "CAP REQ :server-time") == [":My.Little.Server CAP * ACK server-time"]
    assert not registration.ready  # negotiation goes on until CAP END
    assert feed(registration, "CAP END") == []
    assert registration.ready
    assert registration.capabilities == {"server-time"}
    assert registration.cap_version == 302
    assert (registration.nick, registration.user, registration.realname) == (
        "alice",
        "alice",
        "Alice Liddell",
    )


def test_weechat_opening_with_a_password_registers() -> None:
    """CAP LS 302, PASS, NICK, USER, CAP REQ of three, CAP END (WeeChat's shape)."""
    registration = Registration(INFO, password="hunter2")
    replies = feed(
        registration,
        "CAP LS 302",
        "PASS hunter2",
        "NICK bob",
        "USER bob 0 * :Bob",
        "CAP REQ :echo-message message-tags server-time",
        "CAP END",
    )
    assert commands(replies) == ["CAP", "CAP"]
    assert replies[1].endswith("ACK :echo-message message-tags server-time")
    assert registration.ready


def test_the_welcome_is_001_to_005_and_the_motd() -> None:
    """complete() gives 001-005 then 375/372/376, addressed to the nick."""
    registration = Registration(INFO)
    feed(registration, "NICK alice", "USER a 0 * :A")
    welcome = [reply.to_bytes().decode() for reply in registration.complete()]
    assert commands(welcome) == ["001", "002", "003", "004", "005", "375", "372", "376"]
    assert all(line.split(" ")[2] == "alice" for line in welcome)
    assert registration.registered
    assert not registration.ready


def test_no_motd_gives_422() -> None:
    """A server without a message of the day says so with 422."""
    registration = Registration(ServerInfo("s", "v", "c", 300, 20, 32, 300))
    feed(registration, "NICK alice", "USER a 0 * :A")
    assert [reply.command for reply in registration.complete()][-1] == "422"


def test_a_client_without_cap_registers_on_nick_and_user() -> None:
    """USER then NICK, no CAP at all: ready at once."""
    registration = Registration(INFO)
    assert feed(registration, "USER a 0 * :A", "NICK alice") == []
    assert registration.ready


def test_cap_req_before_ls_also_holds_registration_until_end() -> None:
    """A blind CAP REQ suspends registration, as CAP LS does."""
    registration = Registration(INFO)
    feed(registration, "CAP REQ :server-time", "NICK alice", "USER a 0 * :A")
    assert not registration.ready
    feed(registration, "CAP END")
    assert registration.ready


def test_cap_req_with_an_unknown_capability_is_refused_whole() -> None:
    """One capability not offered: NAK of the whole list, and nothing enabled."""
    registration = Registration(INFO)
    assert feed(registration, "CAP REQ :server-time sasl") == [
        ":My.Little.Server CAP * NAK :server-time sasl"
    ]
    assert registration.capabilities == set()


def test_cap_req_can_disable_a_capability() -> None:
    """-name turns a capability off, and CAP LIST shows what is on."""
    registration = Registration(INFO)
    feed(registration, "CAP REQ :server-time echo-message", "CAP REQ :-echo-message")
    assert feed(registration, "CAP LIST") == [":My.Little.Server CAP * LIST server-time"]


def test_unknown_cap_subcommand_gets_410() -> None:
    """CAP FOO is ERR_INVALIDCAPCMD, naming FOO; CAP alone is 461."""
    registration = Registration(INFO)
    assert feed(registration, "CAP FOO") == [":My.Little.Server 410 * FOO :Invalid CAP command"]
    assert commands(feed(registration, "CAP")) == ["461"]


def test_cap_is_answered_after_registration_too() -> None:
    """CAP LS and REQ work once registered, addressed to the nick."""
    registration = Registration(INFO)
    feed(registration, "NICK alice", "USER a 0 * :A")
    registration.complete()
    assert feed(registration, "CAP REQ :echo-message") == [
        ":My.Little.Server CAP alice ACK echo-message"
    ]


def test_ping_before_registration_is_answered_with_its_token() -> None:
    """PING token gets PONG server :token, before NICK and USER."""
    assert feed(Registration(INFO), "PING :abc 123") == [
        ":My.Little.Server PONG My.Little.Server :abc 123"
    ]


def test_ping_without_a_token_gets_461() -> None:
    """PING needs a parameter."""
    assert commands(feed(Registration(INFO), "PING")) == ["461"]


def test_other_commands_before_registration_get_451() -> None:
    """JOIN, PRIVMSG or an unknown command before registering: ERR_NOTREGISTERED."""
    replies = feed(Registration(INFO), "JOIN #lobby", "PRIVMSG #lobby :hi", "FOO")
    assert replies == [":My.Little.Server 451 * :You have not registered"] * 3


@pytest.mark.parametrize(("line", "numeric"), [("NICK", "431"), ("NICK :", "431")])
def test_nick_without_a_name_gets_431(line: str, numeric: str) -> None:
    """No nickname given."""
    assert commands(feed(Registration(INFO), line)) == [numeric]


@pytest.mark.parametrize("nick", ["nick[away]", "*", "a|b", "-bob", "ai"])
def test_a_nick_irc_allows_but_tcpchat_refuses_gets_432_with_the_reason(nick: str) -> None:
    """432 names the nick and says which of tcpchat's rules it breaks."""
    registration = Registration(INFO)
    (reply,) = feed(registration, f"NICK {nick}")
    assert reply.startswith(f":My.Little.Server 432 * {nick} :Erroneous nickname: ")
    assert registration.nick is None


def test_user_needs_four_parameters() -> None:
    """USER with too few parameters is 461 USER."""
    assert feed(Registration(INFO), "USER a 0 *") == [
        ":My.Little.Server 461 * USER :Not enough parameters"
    ]


def test_user_name_and_real_name_are_cleaned() -> None:
    """The ident keeps safe ASCII only, at most 16; the real name is sanitised."""
    registration = Registration(INFO)
    feed(registration, "USER ~a/b\x01c" + "x" * 30 + " 0 * :Real\x1b[31m Name")
    assert registration.user == "abc" + "x" * 13
    assert registration.realname == "Real Name"


def test_a_taken_nick_gets_433_and_registration_waits_for_another() -> None:
    """refuse_nick(NickTaken) is 433; a new NICK makes it ready again."""
    registration = Registration(INFO)
    feed(registration, "NICK bob", "USER b 0 * :B")
    assert registration.ready
    (reply,) = registration.refuse_nick(NickTaken("the nickname 'bob' is taken"))
    assert reply.to_bytes() == b":My.Little.Server 433 * bob :the nickname 'bob' is taken\r\n"
    assert not registration.ready
    feed(registration, "NICK bob2")
    assert registration.ready


def test_a_nick_the_hub_finds_invalid_gets_432() -> None:
    """refuse_nick(InvalidNick) is 432."""
    registration = Registration(INFO)
    feed(registration, "NICK bob", "USER b 0 * :B")
    assert registration.refuse_nick(InvalidNick("no"))[0].command == "432"


def test_completing_before_ready_is_a_bug() -> None:
    """complete() without NICK and USER raises LocalProtocolError."""
    with pytest.raises(LocalProtocolError):
        Registration(INFO).complete()


def test_a_wrong_password_gets_464_and_closes() -> None:
    """One wrong PASS: 464, ERROR, and the connection is to be closed."""
    registration = Registration(INFO, password="hunter2")
    replies = feed(registration, "PASS nope", "NICK a", "USER a 0 * :A")
    assert replies == [
        ":My.Little.Server 464 * :Password incorrect",
        "ERROR :Closing link: Password incorrect",
    ]
    assert registration.closing == "wrong password"
    assert not registration.ready
    assert feed(registration, "NICK b") == []  # nothing more is answered


def test_a_missing_password_gets_464_saying_pass_is_needed() -> None:
    """No PASS at all on a server with a password: 464 telling how to give it."""
    registration = Registration(INFO, password="hunter2")
    replies = feed(registration, "NICK a", "USER a 0 * :A")
    assert "send PASS" in replies[0]
    assert registration.closing == "no password"


def test_the_password_is_checked_only_once_all_else_is_given() -> None:
    """PASS may come after NICK, while CAP negotiation is still open."""
    registration = Registration(INFO, password="hunter2")
    assert feed(registration, "CAP LS 302", "NICK a", "USER a 0 * :A", "PASS hunter2") != []
    assert feed(registration, "CAP END") == []
    assert registration.ready


def test_quit_before_registration_closes_with_error() -> None:
    """QUIT: ERROR, and closing is "quit"."""
    registration = Registration(INFO)
    assert feed(registration, "QUIT :bye") == ["ERROR :Closing link: quit before registering"]
    assert registration.closing == "quit"


def test_pass_and_user_after_registration_get_462() -> None:
    """You may not reregister."""
    registration = Registration(INFO)
    feed(registration, "NICK alice", "USER a 0 * :A")
    registration.complete()
    assert commands(feed(registration, "PASS x", "USER a 0 * :A")) == ["462", "462"]


def test_isupport_tells_tcpchat_s_rules() -> None:
    """CHANTYPES, NICKLEN, CHANNELLEN, TOPICLEN, CASEMAPPING, UTF8ONLY, from the settings."""
    tokens = isupport_tokens(INFO)
    for token in [
        "CHANTYPES=#",
        "NICKLEN=32",
        "CHANNELLEN=33",
        "TOPICLEN=300",
        "CASEMAPPING=ascii",
        "UTF8ONLY",
        "CHANLIMIT=#:20",
        "AWAYLEN=300",
    ]:
        assert token in tokens


def test_only_honoured_capabilities_are_offered() -> None:
    """The offer is exactly echo-message, message-tags and server-time."""
    assert sorted(CAPABILITIES) == ["echo-message", "message-tags", "server-time"]


def test_user_with_an_empty_real_name_gets_461() -> None:
    """USER name 0 * : (an empty real name) is 461, as Modern IRC asks."""
    registration = Registration(INFO)
    replies = feed(registration, "NICK alice", "USER alice 0 * :")
    assert replies == [":My.Little.Server 461 * USER :Not enough parameters"]
