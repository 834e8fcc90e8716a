"""Room names and the room rules, by plain calls."""

from __future__ import annotations

import pytest

from tcpchat.core.errors import InvalidRoom
from tcpchat.core.rooms import RoomRules, room_key, validate_room


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("#", "1 to 32 characters after '#'"),
        ("#a b", "may hold only letters, digits, '_' and '-' (not whitespace)"),
        ("#" + "a" * 33, "at most 32 characters after '#'"),
        ("#a\x07b", "(not U+0007)"),
        ("#a\u200bb", "(not U+200B)"),
        ("#b\u043eb", "may not mix scripts (Cyrillic and Latin)"),
        ("dev", "starts with '#' (as in #dev)"),
        ("", "starts with '#'"),
    ],
)
def test_a_bad_room_name_names_the_rule_it_breaks(raw: str, rule: str) -> None:
    """Each broken rule is refused with a sentence that names it."""
    with pytest.raises(InvalidRoom) as caught:
        validate_room(raw)
    assert rule in str(caught.value)
    assert caught.value.code == "room_invalid"


@pytest.mark.parametrize(
    "name", ["#dev", "#a", "#" + "a" * 32, "#Ελληνικά_2", "#日本語-チャット", "#x-_9"]
)
def test_good_room_names_are_kept_as_written(name: str) -> None:
    """Letters and digits of one script, '_' and '-', after '#', are accepted unchanged."""
    assert validate_room(name) == name


def test_room_names_compare_as_nicknames_do() -> None:
    """Case and width do not make another room."""
    assert room_key("#Dev") == room_key("#dev") == room_key("#ｄｅｖ")


def test_room_rules_refuse_a_bad_default_room() -> None:
    """The default room must itself be a valid room name."""
    with pytest.raises(InvalidRoom):
        RoomRules(default_room="lobby")


def test_a_room_is_quiet_only_past_its_threshold() -> None:
    """With --quiet-joins-above 3, a room of 3 announces comings and goings; one of 4 does not."""
    rules = RoomRules(quiet_joins_above=3)
    assert not rules.is_quiet(3)
    assert rules.is_quiet(4)


def test_a_threshold_of_zero_announces_in_every_room() -> None:
    """--quiet-joins-above 0 keeps every room announcing, however big."""
    assert not RoomRules(quiet_joins_above=0).is_quiet(1_000_000)


def test_a_quiet_room_says_its_count_and_any_other_none() -> None:
    """Past the threshold the count is the room's size; at or below it, 0 (no count)."""
    rules = RoomRules(quiet_joins_above=3)
    assert (rules.count_if_quiet(3), rules.count_if_quiet(4)) == (0, 4)


def test_room_rules_refuse_a_negative_quiet_threshold() -> None:
    """A negative --quiet-joins-above is a mistake, refused."""
    with pytest.raises(ValueError, match="quiet_joins_above"):
        RoomRules(quiet_joins_above=-1)
