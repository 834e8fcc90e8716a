"""IRC's numerics and server replies, built by name, with no sockets."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest

from tcpchat.irc import numerics
from tcpchat.irc.message import MAX_BODY_BYTES, MAX_LINE_BYTES, IrcMessage
from tcpchat.irc.numerics import Replies

SERVER = "My.Little.Server"

# The numerics the front door needs, as Modern IRC numbers them.
EXPECTED = {
    "RPL_WELCOME": "001",
    "RPL_YOURHOST": "002",
    "RPL_CREATED": "003",
    "RPL_MYINFO": "004",
    "RPL_ISUPPORT": "005",
    "RPL_UMODEIS": "221",
    "RPL_AWAY": "301",
    "RPL_UNAWAY": "305",
    "RPL_NOWAWAY": "306",
    "RPL_WHOISUSER": "311",
    "RPL_WHOISSERVER": "312",
    "RPL_ENDOFWHO": "315",
    "RPL_WHOISIDLE": "317",
    "RPL_ENDOFWHOIS": "318",
    "RPL_WHOISCHANNELS": "319",
    "RPL_LIST": "322",
    "RPL_LISTEND": "323",
    "RPL_CHANNELMODEIS": "324",
    "RPL_NOTOPIC": "331",
    "RPL_TOPIC": "332",
    "RPL_TOPICWHOTIME": "333",
    "RPL_WHOREPLY": "352",
    "RPL_NAMREPLY": "353",
    "RPL_ENDOFNAMES": "366",
    "RPL_MOTD": "372",
    "RPL_MOTDSTART": "375",
    "RPL_ENDOFMOTD": "376",
    "ERR_NOSUCHNICK": "401",
    "ERR_NOSUCHCHANNEL": "403",
    "ERR_CANNOTSENDTOCHAN": "404",
    "ERR_TOOMANYCHANNELS": "405",
    "ERR_INVALIDCAPCMD": "410",
    "ERR_NORECIPIENT": "411",
    "ERR_NOTEXTTOSEND": "412",
    "ERR_INPUTTOOLONG": "417",
    "ERR_UNKNOWNCOMMAND": "421",
    "ERR_NOMOTD": "422",
    "ERR_NONICKNAMEGIVEN": "431",
    "ERR_ERRONEUSNICKNAME": "432",
    "ERR_NICKNAMEINUSE": "433",
    "ERR_USERNOTINCHANNEL": "441",
    "ERR_NOTONCHANNEL": "442",
    "ERR_NOTREGISTERED": "451",
    "ERR_NEEDMOREPARAMS": "461",
    "ERR_ALREADYREGISTERED": "462",
    "ERR_PASSWDMISMATCH": "464",
    "ERR_CHANOPRIVSNEEDED": "482",
}


@pytest.mark.parametrize(("name", "code"), EXPECTED.items())
def test_each_numeric_has_its_modern_irc_number(name: str, code: str) -> None:
    """Every numeric the door needs is named, with the number Modern IRC gives it."""
    assert getattr(numerics, name) == code


def sample_replies(replies: Replies) -> list[IrcMessage]:
    """One of each numeric reply (lists flattened)."""
    return [
        replies.welcome("tcpchat"),
        replies.your_host("tcpchat-1"),
        replies.created("today"),
        replies.my_info("tcpchat-1"),
        *replies.isupport(["CHANTYPES=#"]),
        *replies.motd(["hi"]),
        *replies.motd(None),
        replies.umode_is(away=False),
        replies.away("bob", "lunch"),
        replies.unaway(),
        replies.now_away(),
        *replies.userhost(["bob=+bob@tcpchat"]),
        *replies.ison(["bob"]),
        replies.whois_user("bob", "bob", "tcpchat", "Bob"),
        replies.whois_server("bob", "tcpchat"),
        replies.whois_idle("bob", 5, 1_700_000_000),
        *replies.whois_channels("bob", ["#lobby"]),
        replies.end_of_whois("bob"),
        replies.who_reply("#lobby", "bob", "tcpchat", "bob", away=True, realname="Bob"),
        replies.end_of_who("#lobby"),
        replies.list_entry("#lobby", 3, "topic"),
        replies.list_end(),
        replies.channel_mode_is("#lobby"),
        replies.creation_time("#lobby", 1_700_000_000),
        replies.no_topic("#lobby"),
        replies.topic("#lobby", "hello"),
        replies.topic_who_time("#lobby", "bob", 1_700_000_000),
        *replies.names("#lobby", ["bob"]),
        replies.no_such_nick("carol"),
        replies.no_such_channel("#nope"),
        replies.cannot_send_to_channel("#dev", "you are not in #dev"),
        replies.too_many_channels("#x", "you are in 20 rooms"),
        replies.invalid_cap_command("FOO"),
        replies.no_recipient("PRIVMSG"),
        replies.no_text_to_send(),
        replies.input_too_long(),
        replies.unknown_command("FOO"),
        replies.no_nickname_given(),
        replies.erroneous_nickname("a[b]", "not '['"),
        replies.nickname_in_use("bob"),
        replies.user_not_in_channel("bob", "#dev"),
        replies.not_on_channel("#dev"),
        replies.not_registered(),
        replies.need_more_params("JOIN"),
        replies.already_registered(),
        replies.password_mismatch(),
        replies.unknown_mode("z"),
        replies.bad_channel_mask("#a b"),
        replies.chanop_privs_needed("#dev", "rooms have no operators yet"),
        replies.umode_unknown_flag(),
        replies.users_dont_match(),
    ]


@pytest.mark.parametrize("client", ["*", "alice"])
def test_every_numeric_names_the_client_first_and_comes_from_the_server(client: str) -> None:
    """The first parameter is the client's nick (``*`` before it has one); the source
    is the server's name."""
    for reply in sample_replies(Replies(SERVER, client)):
        assert reply.command.isdigit()
        assert len(reply.command) == 3
        assert reply.params[0] == client
        assert reply.source == SERVER


def test_replies_to_a_nick_after_registration() -> None:
    """to(None) is ``*``; to(nick) names the nick."""
    replies = Replies(SERVER)
    assert replies.to(None).not_registered().params[0] == "*"
    assert replies.to("alice").not_registered().params[0] == "alice"


def test_a_client_s_words_sent_back_are_made_safe() -> None:
    """Words that cannot be a middle parameter come back as ``*``; long ones are cut."""
    replies = Replies(SERVER, "alice")
    assert replies.unknown_command(":x").params[1] == "*"
    assert replies.no_such_nick("").params[1] == "*"
    long = replies.no_such_channel("#" + "é" * 400)
    assert len(long.params[1].encode()) <= numerics.MAX_ECHO_BYTES
    assert len(long.to_bytes()) <= MAX_LINE_BYTES


def test_names_of_a_crowded_room_are_spread_over_lines_that_fit() -> None:
    """1,000 names become several 353 lines, each within 512 bytes, then one 366."""
    nicks = [f"member{number:04}" for number in range(1000)]
    lines = Replies(SERVER, "alice").names("#lobby", nicks)
    assert [line.command for line in lines[-1:]] == ["366"]
    assert all(len(line.to_bytes()) <= MAX_LINE_BYTES for line in lines)
    listed = [nick for line in lines[:-1] for nick in line.params[3].split(" ")]
    assert listed == nicks
    assert lines[0].params[1:3] == ("=", "#lobby")


def test_packed_lines_are_full_each_would_overflow_with_the_next_name() -> None:
    """Names of mixed lengths and scripts fill each 353 line until the next would not fit."""
    nicks = [("é" * (number % 7) + f"n{number}")[: 1 + number % 30] for number in range(600)]
    nicks = [f"{nick}{number}" for number, nick in enumerate(nicks)]
    replies = Replies(SERVER, "alice")
    lines = replies.names("#lobby", nicks)[:-1]
    listed = [line.params[3].split(" ") for line in lines]
    assert [nick for names in listed for nick in names] == nicks
    for line, next_line in pairwise(listed):
        fuller = IrcMessage(
            "353", ["alice", "=", "#lobby", " ".join([*line, next_line[0]])], SERVER
        )
        assert fuller.body_length() > MAX_BODY_BYTES


def test_names_of_a_crowded_room_build_each_line_a_few_times_not_once_a_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """1,000 names cost a few messages built per 353 line, not one per name (each join pays it)."""
    built = 0

    def counting(*args: Any, **kwargs: Any) -> IrcMessage:
        nonlocal built
        built += 1
        return IrcMessage(*args, **kwargs)

    monkeypatch.setattr(numerics, "IrcMessage", counting)
    lines = Replies(SERVER, "alice").names("#lobby", [f"member{n:04}" for n in range(1000)])
    assert built <= 3 * len(lines)


def test_names_of_an_empty_or_unknown_room_is_only_its_end() -> None:
    """No members: just 366."""
    assert [line.command for line in Replies(SERVER, "a").names("#x", [])] == ["366"]


def test_isupport_sends_at_most_13_tokens_a_line() -> None:
    """20 tokens take two 005 lines, each ending in the human words."""
    tokens = [f"TOKEN{number}=1" for number in range(20)]
    lines = Replies(SERVER, "alice").isupport(tokens)
    assert [len(line.params) - 2 for line in lines] == [13, 7]
    assert all(line.params[-1] == "are supported by this server" for line in lines)


def test_a_topic_too_long_for_a_line_is_shortened() -> None:
    """332 with a 900-byte topic fits 512 bytes, ending in …."""
    reply = Replies(SERVER, "alice").topic("#dev", "話" * 300)
    assert len(reply.to_bytes()) <= MAX_LINE_BYTES
    assert reply.params[2].endswith("…")


def test_standard_replies_name_the_command_and_code() -> None:
    """FAIL PRIVMSG INVALID_UTF8 :words, from the server."""
    reply = Replies(SERVER, "alice").fail("PRIVMSG", "INVALID_UTF8", "UTF-8 only")
    assert reply.to_bytes() == (b":My.Little.Server FAIL PRIVMSG INVALID_UTF8 :UTF-8 only\r\n")
    with pytest.raises(ValueError, match="standard reply code"):
        Replies(SERVER).note("X", "not a code", "words")


def test_cap_ls_marks_continuation_lines() -> None:
    """CAP * LS * :caps when more lines follow; CAP * LS :caps for the last."""
    replies = Replies(SERVER)
    assert replies.cap("LS", "a b", more=True).params == ("*", "LS", "*", "a b")
    assert replies.cap("LS", "").to_bytes() == b":My.Little.Server CAP * LS :\r\n"


def test_pong_echoes_the_token() -> None:
    """PING's token comes back in PONG, after the server's name."""
    assert Replies(SERVER).pong("abc def").to_bytes() == (
        b":My.Little.Server PONG My.Little.Server :abc def\r\n"
    )


@pytest.mark.parametrize("name", ["", "a b", "x" * 64, "host:name"])
def test_a_server_name_irc_cannot_use_is_refused(name: str) -> None:
    """Server names are one short word of letters, digits, '.' and '-'."""
    with pytest.raises(ValueError, match="server name"):
        Replies(name)
