"""Several servers, one chat: nodes on one real redis-server, in one process."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import redis.asyncio as aioredis

from tcpchat.core.events import AIAnswer, PrivateMessage, SearchStarted
from tcpchat.core.nicks import nick_key, nick_skeleton
from tcpchat.core.pacing import FlushGate
from tcpchat.core.render import to_json
from tcpchat.server.redis_hub import SCRIPTS_IN_FLIGHT, UNDELIVERED_KEPT, RedisHub
from tests.support.cluster import hub_of, running_cluster, settled
from tests.support.faults import wait_until
from tests.support.helpers import LineClient


async def test_a_line_said_on_one_node_reaches_the_room_on_another(redis_url: str) -> None:
    """Alice on node A says hello; Bob on node B sees it."""
    async with running_cluster(redis_url, 2) as cluster:
        alice, bob = await cluster.alice_and_bob()
        await alice.send("hello from A")
        await bob.expect(r"<alice> hello from A")


async def test_nodes_on_resp3_chat_as_on_resp2(redis_url: str) -> None:
    """``?protocol=3`` in the URL: Redis answers the nodes in RESP3 (an XREAD reply is a map
    where RESP2 has a list), and lines cross both ways, in order."""
    async with running_cluster(redis_url + "?protocol=3", 2) as cluster:
        a, b = cluster.nodes
        alice = await cluster.client(a, "alice")
        bob = await cluster.client(b, "bob")
        await alice.expect(r"\*\*\* bob joined")
        for number in range(3):
            await alice.send(f"from A {number}")
        await bob.send("from B")
        heard = [(await bob.expect(r"<alice> (from A \d)")).group(1) for _ in range(3)]
        assert heard == [f"from A {number}" for number in range(3)]
        await alice.expect(r"<bob> from B")
        admin = aioredis.Redis.from_url(redis_url, decode_responses=True)
        try:
            clients = await admin.client_list()
        finally:
            await admin.aclose()
        streams = [c for c in clients if c["name"].endswith("-streams")]
        assert len(streams) == 4  # two a node: its reader and its scripts
        assert {c["resp"] for c in streams} == {"3"}


async def test_every_member_sees_the_same_order(redis_url: str) -> None:
    """Six senders on three nodes, 20 lines each: every member sees the others' in one order."""
    async with running_cluster(redis_url, 3) as cluster:
        members = [
            await cluster.client(cluster.nodes[index % 3], f"user{index}") for index in range(6)
        ]
        rounds = 20
        for round_ in range(rounds):
            for index, member in enumerate(members):
                member.writer.write(f"line {index}-{round_}\n".encode())
        seen = []
        for member in members:
            lines = [
                (await member.expect(r"<user\d> (line \d-\d+)")).group(1) for _ in range(5 * rounds)
            ]
            seen.append(lines)
        for one, one_seen in enumerate(seen):
            for other, other_seen in enumerate(seen):
                # Each is not sent its own lines: compare what both were sent.
                both = {f"line {one}-", f"line {other}-"}
                assert [x for x in one_seen if x[:7] not in both] == [
                    x for x in other_seen if x[:7] not in both
                ]


async def test_nickname_taken_on_another_node_is_refused(redis_url: str) -> None:
    """Bob on node A holds 'bob'; 'BOB' on node B is told it is taken."""
    async with running_cluster(redis_url, 2) as cluster:
        a, b = cluster.nodes
        watcher = await cluster.client(b, "watcher")
        await cluster.client(a, "bob")
        await watcher.expect(r"\*\*\* bob joined")
        other = await cluster.client(b)
        await other.send("BOB")
        await other.expect(r"!!! the nickname 'BOB' is taken")


async def test_a_lookalike_on_another_node_is_refused(redis_url: str) -> None:
    """Latin 'ape' on node A; all-Cyrillic 'аре' on node B is refused, as on one server."""
    async with running_cluster(redis_url, 2) as cluster:
        a, b = cluster.nodes
        watcher = await cluster.client(b, "watcher")
        await cluster.client(a, "ape")
        await watcher.expect(r"\*\*\* ape joined")
        other = await cluster.client(b)
        await other.send("\u0430\u0440\u0435")
        await other.expect(r"!!! the nickname '.+' looks like 'ape'")


async def test_two_nodes_registering_one_nickname_at_once_one_wins(redis_url: str) -> None:
    """Two clients on two nodes ask for 'carol' in the same instant: one keeps it, one is told."""
    async with running_cluster(redis_url, 2) as cluster:
        a, b = cluster.nodes
        contenders = [await cluster.client(a), await cluster.client(b)]
        for contender in contenders:
            contender.writer.write(b"carol\n")
        refusals = {
            asyncio.create_task(contender.expect(r"!!! the nickname 'carol'")): contender
            for contender in contenders
        }
        done, pending = await asyncio.wait(refusals, timeout=5, return_when="FIRST_COMPLETED")
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        assert len(done) == 1, "exactly one of the two is refused"
        (winner,) = (refusals[task] for task in pending)
        await winner.send("/whois carol")
        await winner.expect(r"\*\*\* carol: in #lobby")


async def test_users_lists_the_whole_cluster(redis_url: str) -> None:
    """/users on node A names the members connected to node B."""
    async with running_cluster(redis_url, 2) as cluster:
        a, b = cluster.nodes
        alice = await cluster.client(a, "alice")
        await cluster.client(b, "bob")
        await alice.expect(r"\*\*\* bob joined")
        await alice.send("/users")
        await alice.expect(r"2 users online: alice, bob")


async def test_msg_reaches_a_user_on_another_node(redis_url: str) -> None:
    """/msg from node A to a user on node B arrives there."""
    async with running_cluster(redis_url, 2) as cluster:
        alice, bob = await cluster.alice_and_bob()
        await alice.send("/msg bob psst")
        await bob.expect(r"\[private\] alice -> bob: psst")


async def test_a_member_that_quits_right_after_speaking_reads_its_goodbye(
    redis_url: str,
) -> None:
    """alice's line and her /quit in one write: her goodbye waits behind her line, still
    on its way to Redis, and goes out as she leaves, not lost with her."""
    async with running_cluster(redis_url, 2) as cluster:
        alice, bob = await cluster.alice_and_bob()
        await alice.send("last words", "/quit")
        await alice.expect(r"\*\*\* Goodbye!")
        await bob.expect(r"<alice> last words")


async def test_a_nick_change_while_a_join_is_on_its_way_keeps_the_member(
    redis_url: str,
) -> None:
    """alice joins #dev and, her join still on its way to Redis, changes her nick: she
    stays connected and a member of #dev under her new nick, on her node and the other,
    and leaves it cleanly."""
    async with running_cluster(redis_url, 2) as cluster:
        alice, bob = await cluster.alice_and_bob()
        await bob.send("/join #dev")
        await settled(bob, "#dev")
        await alice.send("/join #dev", "/nick alicia")
        await bob.expect(r"alice is now known as alicia")
        await alice.send("/join #dev", "in dev")
        await bob.expect(r"<alicia> in dev")
        await alice.send("/users #dev")
        await alice.expect(r"2 users in #dev: alicia, @bob$")
        await bob.send("/users #dev")
        await bob.expect(r"2 users in #dev: alicia, @bob$")
        await alice.send("/part #dev")
        await bob.expect(r"alicia left the room")


async def test_rooms_and_topics_are_the_whole_clusters(redis_url: str) -> None:
    """A room made and given a topic on node B is listed, with its topic, by /rooms on node A."""
    async with running_cluster(redis_url, 2) as cluster:
        a, b = cluster.nodes
        alice = await cluster.client(a, "alice")
        bob = await cluster.client(b, "bob")
        await bob.send("/join #dev")
        await bob.expect(r"now talking in #dev")
        await bob.send("/topic release on friday")
        await bob.expect(r"bob set the topic")
        await settled(bob, "#dev")
        await alice.send("/rooms")
        await alice.expect(r"#dev \(1 user\): release on friday")


async def test_whois_and_away_reach_across_nodes(redis_url: str) -> None:
    """Bob on node B marks himself away; /whois on node A shows his rooms and away message,
    and a private message to him is answered with it, at once, not at the next heartbeat."""
    async with running_cluster(redis_url, 2, node_timeout=60) as cluster:
        a, b = cluster.nodes
        alice = await cluster.client(a, "alice")
        bob = await cluster.client(b, "bob")
        await alice.expect(r"\*\*\* bob joined")
        await bob.send("/away lunch", "brb")
        await bob.expect(r"you are marked as away: lunch")
        # Bob's presence is written before his next line: node A has read it once that line.
        await alice.expect(r"<bob> brb")
        await alice.send("/whois bob")
        await alice.expect(r"bob: in #lobby; connected \S+; idle \S+; away: lunch$")
        await alice.send("/msg bob are you there?")
        await alice.expect(r"bob is away: lunch")
        await bob.send("/away", "back")
        await bob.expect(r"you are no longer marked as away")
        await alice.expect(r"<bob> back")
        await alice.send("/whois bob")
        await alice.expect(r"bob: in #lobby; connected \S+; idle \S+$")


async def test_a_member_in_several_rooms_reads_its_own_part_with_the_rooms_name(
    redis_url: str,
) -> None:
    """Bob, in #lobby and #dev, parts #dev: his own part names the room, as a single server
    writes it (to a member in several rooms), though it comes back from Redis once he is
    in #lobby alone; in no room but #lobby, his next part does not."""
    async with running_cluster(redis_url, 2) as cluster:
        alice, bob = await cluster.alice_and_bob()
        await bob.send("/join #dev", "/part #dev later")
        await bob.expect(r"\] #dev \*\*\* bob left the room \(later\)$")
        await bob.expect(r"you are now talking in #lobby$")
        await bob.send("/part")
        await bob.expect(r"\] \*\*\* bob left the room$")
        await alice.expect(r"\] \*\*\* bob left the room$")


async def test_search_answers_reach_the_room_on_every_node(redis_url: str) -> None:
    """An AI answer published on node A reaches the room's members on node B, ids renumbered."""
    async with running_cluster(redis_url, 2) as cluster:
        a, b = cluster.nodes
        await cluster.client(a, "alice")
        bob = await cluster.client(b, "bob")
        hub = a.hub
        room = hub.room("#lobby")
        assert room is not None
        event_id, ts = a.clock.stamp()
        hub.publish(SearchStarted(event_id, ts, "alice", 7, "what is tcp?", room.name), room=room)
        event_id, ts = a.clock.stamp()
        answer = AIAnswer(event_id, ts, "alice", 7, "a stream protocol", (), room.name)
        hub.publish(answer, room=room)
        await bob.expect(r"alice asked the AI: what is tcp\?")
        await bob.expect(r"a stream protocol")


async def test_lines_sent_while_redis_is_slow_keep_their_order(redis_url: str) -> None:
    """Scripts sent before the last is answered (several passes on their way at once) reach
    every node in the order said, and none is lost."""
    async with running_cluster(redis_url, 2, flood_control=False) as cluster:
        a, b = cluster.nodes
        alice = await cluster.client(a, "alice")
        bob = await cluster.client(b, "bob")
        await alice.expect(r"\*\*\* bob joined")
        node = hub_of(a)
        admin = aioredis.Redis.from_url(redis_url)
        try:
            # Redis holds every write (the scripts) until told to go on.
            await admin.client_pause(10_000, all=False)
            for number in range(SCRIPTS_IN_FLIGHT):
                await alice.send(f"line {number}")
                await wait_until(lambda n=number: len(node._unanswered) == n + 1)  # type: ignore[misc]
            await alice.send(f"line {SCRIPTS_IN_FLIGHT}")  # waits for room on the connection
        finally:
            await admin.client_unpause()
            await admin.aclose()
        heard = [(await bob.expect(r"<alice> (line \d+)")).group(1) for _ in range(5)]
        assert heard == [f"line {number}" for number in range(SCRIPTS_IN_FLIGHT + 1)]


async def test_a_node_alone_in_a_room_tells_its_members_as_redis_answers(redis_url: str) -> None:
    """With no other node's events in between, a pass's events are told as the script is
    answered, in order (here the reader is stopped: nothing else could tell them); read back
    later, they are passed over, not told twice."""
    async with running_cluster(redis_url, 1, flood_control=False) as cluster:
        (a,) = cluster.nodes
        alice, bob = await cluster.alice_and_bob_on_one_node()
        node = hub_of(a)
        node._stop_reading_streams()
        for number in range(20):
            alice.writer.write(f"line {number}\n".encode())
        heard = [(await bob.expect(r"<alice> (line \d+)")).group(1) for _ in range(20)]
        assert heard == [f"line {number}" for number in range(20)]
        assert node.told_on_answer >= 20
        node._read_streams()
        await alice.send("after")
        await bob.expect(r"<alice> after")
        assert sum("<alice> line" in line for line in bob.seen) == 20


def test_a_busy_node_reads_redis_once_a_pass_and_a_quiet_one_at_once() -> None:
    """Between XREADs the reader waits a turn of the loop while the node is quiet, and the
    hub's coalescing window while the hub spaces its passes (so each reply carries a pass's
    worth of events)."""
    cpu = [0.0]
    hub = RedisHub("redis://127.0.0.1:1/0", node_timeout=15)
    assert hub._read_pause() == 0.0  # no pacer: at once
    hub.pacer = FlushGate(lambda: cpu[0], window=0.0005, sample_seconds=0.01)
    assert hub._read_pause() == 0.0
    hub.pacer.passed(0.0)
    cpu[0] = 0.009  # 90% of a CPU over the sample: busy
    hub.pacer.passed(0.01)
    assert hub.pacer.busy
    assert hub._read_pause() == 0.0005


async def test_a_member_that_joins_a_room_new_to_its_node_and_renames_reads_a_single_servers_order(
    redis_url: str,
) -> None:
    """v1 joins #b, new to its node, renames, parts and renames back in one write, twice:
    it reads its join's answer, its nick change, its part and the change back in that
    order, as a single server writes them (its first change no longer comes first)."""
    async with running_cluster(redis_url, 2) as cluster:
        v1 = await cluster.client(cluster.nodes[1], "v1")
        await cluster.client(cluster.nodes[0], "v2")
        for _ in range(2):
            v1.writer.write(b"/join #b\n/nick v1x\n/part #b\n/nick v1\n")
            await v1.expect(r"\*\*\* v1x is now known as v1$")
        await settled(v1)
        told = [
            line.split("*** ", 1)[1]
            for line in v1.seen
            if "*** " in line and ("#b" in line or "known as" in line or " left " in line)
        ]
        once = [
            "1 user in #b: @v1",
            "you are now talking in #b",
            "v1 is now known as v1x",
            "v1x left the room",
            "v1x is now known as v1",
        ]
        assert told == once * 2


async def test_the_loser_of_a_race_for_a_nickname_leaves_no_trace_on_the_other_nodes(
    redis_url: str,
) -> None:
    """carol registers on node B; another carol registers on node A at the same moment (A
    has not heard of the first yet) and loses the race for the nickname in Redis: she is
    told so and cut off. Nothing of hers reaches the cluster: dave, on node C, still finds
    the carol of node B in /users and /whois, and his /msg reaches her; no one is told that
    a carol left or joined."""
    async with running_cluster(redis_url, 3) as cluster:
        a, b, c = cluster.nodes
        carol = await cluster.client(b, "carol")
        dave = await cluster.client(c, "dave")
        await carol.expect(r"\*\*\* dave joined")
        racer = hub_of(a)
        await wait_until(lambda: nick_key("carol") in racer._remote)
        # Node A has not heard of her yet: its mirror lets the nickname pass.
        racer._remote.pop(nick_key("carol"))
        racer._remote_lookalikes.pop(nick_skeleton("carol"))
        loser = await LineClient.connect(a.port)
        cluster.clients.append(loser)
        await loser.expect("Choose a nickname")
        await loser.send("carol")
        await loser.expect(r"the nickname 'carol' was taken on another server at the same moment")
        await loser.expect_eof()
        await wait_until(lambda: not racer._outbox and not racer._sending)
        await settled(dave)
        await dave.send("/users", "/whois carol", "/msg carol still there?")
        await dave.expect(r"2 users online: carol, dave$")
        await dave.expect(r"\*\*\* carol: in #lobby")
        await carol.expect(r"\[private\] dave -> carol: still there\?")
        for member in (carol, dave):
            assert not any("carol left" in line for line in member.seen)
        assert not any("carol joined" in line for line in dave.seen)


async def test_a_member_that_loses_a_race_for_a_new_nickname_leaves_under_its_old_one(
    redis_url: str,
) -> None:
    """bob, on node A, renames himself carol as carol registers on node B (A has not heard
    of her yet); B wins the race in Redis. bob is told so and cut off; dave, on node C,
    sees bob leave (under the name he knew him by) and never a rename, and the carol of
    node B stays in /users and /whois."""
    async with running_cluster(redis_url, 3) as cluster:
        a, b, c = cluster.nodes
        bob = await cluster.client(a, "bob")
        dave = await cluster.client(c, "dave")
        await bob.expect(r"\*\*\* dave joined")
        carol = await cluster.client(b, "carol")
        await dave.expect(r"\*\*\* carol joined")
        racer = hub_of(a)
        await wait_until(lambda: nick_key("carol") in racer._remote)
        racer._remote.pop(nick_key("carol"))  # (not heard of yet)
        racer._remote_lookalikes.pop(nick_skeleton("carol"))
        await bob.send("/nick carol")
        await bob.expect(r"the nickname 'carol' was taken on another server at the same moment")
        await bob.expect_eof()
        await dave.expect(
            r"\*\*\* bob left \(nickname taken on another server at the same moment\)"
        )
        await settled(dave)
        await dave.send("/users", "/whois carol")
        await dave.expect(r"2 users online: carol, dave$")
        await dave.expect(r"\*\*\* carol: in #lobby")
        assert not any("known as" in line for line in dave.seen)
        assert not any("carol left" in line for line in dave.seen + carol.seen)


def handmade_entry(
    sender: RedisHub, author: str, recipient: str, text: str, number: int
) -> dict[str, str]:
    """A private message's inbox entry as ``sender`` would write it, the ``number``-th."""
    event_id, ts = sender.clock.stamp()
    message = PrivateMessage(event_id, ts, author, recipient, text)
    document = json.dumps(to_json(message))
    return {"k": nick_key(recipient), "e": document, "u": f"{sender.node}:{number}"}


async def test_a_private_message_to_a_member_renamed_meanwhile_is_said_not_delivered(
    redis_url: str,
) -> None:
    """alice's node still knows bob by his old nickname when her /msg goes (its mirror is
    behind his rename on node B): B finds no bob, and alice, who saw her message as sent,
    is told it was not delivered, rather than nothing. Her next lines are not held up."""
    async with running_cluster(redis_url, 2) as cluster:
        a, b = cluster.nodes
        alice, bob = await cluster.alice_and_bob()
        hub_of(a)._stop_reading_streams()  # her node's mirror stays as it is
        await bob.send("/nick bobby")
        await wait_until(lambda: hub_of(b).find("bobby") is not None)
        await alice.send("/msg bob are you there?")
        await alice.expect(r"\[private\] alice -> bob: are you there\?")
        hub_of(a)._read_streams()
        await alice.expect(
            r"!!! bob left or changed nickname as your message was on its way; "
            r"it was not delivered"
        )
        await alice.send("still here")
        await bob.expect(r"<alice> still here")
        assert not any("are you there" in line for line in bob.seen)


async def test_a_private_message_comes_after_the_line_its_sender_said_before_it(
    redis_url: str,
) -> None:
    """alice says a line in #lobby, then /msg bob, in one write; bob's node reads the two
    in one reply (it was not reading meanwhile): bob hears the line first, as a single
    server tells them."""
    async with running_cluster(redis_url, 2) as cluster:
        a, b = cluster.nodes
        alice, bob = await cluster.alice_and_bob()
        sender, receiver = hub_of(a), hub_of(b)
        receiver._stop_reading_streams()
        await alice.send("look at this first", "/msg bob then this")
        await alice.expect(r"\[private\] alice -> bob: then this")
        # Both in Redis (the message is written once the line's script is answered).
        await wait_until(lambda: not sender._outbox and not sender._sending)
        receiver._read_streams()
        for _ in range(2):  # the two, in whichever order they come
            await bob.expect(r"<alice> look at this first|alice -> bob: then this")
        told = [
            "line" if "<alice> look at this first" in text else "message"
            for text in bob.seen
            if "look at this first" in text or "alice -> bob: then this" in text
        ]
        assert told == ["line", "message"]


async def test_a_private_message_to_a_node_gone_meanwhile_is_said_not_delivered(
    redis_url: str,
) -> None:
    """bob's node leaves the cluster as alice's /msg to him goes (her node has not read his
    leaving yet): the message is not written to the departed node's inbox, which would
    make that stream again with no one to read or delete it, and alice is told it was not
    delivered."""
    async with running_cluster(redis_url, 2) as cluster:
        a, b = cluster.nodes
        alice, _bob = await cluster.alice_and_bob()
        hub_of(a)._stop_reading_streams()  # her node still lists bob
        gone = hub_of(b).keys.inbox(hub_of(b).node)
        await b.close()
        client = hub_of(a)._connected()
        assert not await client.exists(gone)
        await alice.send("/msg bob are you there?")
        await alice.expect(r"\[private\] alice -> bob: are you there\?")
        await alice.expect(
            r"!!! bob left or changed nickname as your message was on its way; "
            r"it was not delivered"
        )
        assert not await client.exists(gone)


async def test_a_not_delivered_notice_finds_its_sender_renamed_and_no_one_else(
    redis_url: str,
) -> None:
    """alice's /msg to bob finds him renamed; by the time its notice is back, alice is
    alicia and carol, on alice's node, has taken the nickname alice. The notice reaches
    alicia, who sent the message, and carol is told nothing of it."""
    async with running_cluster(redis_url, 2) as cluster:
        a, b = cluster.nodes
        alice, bob = await cluster.alice_and_bob()
        carol = await cluster.client(a, "carol")
        sender, receiver = hub_of(a), hub_of(b)
        sender._stop_reading_streams()  # alice's node still knows him as bob
        await bob.send("/nick bobby")
        await wait_until(lambda: receiver.find("bobby") is not None)
        receiver._stop_reading_streams()  # the message waits in B's inbox
        await alice.send("/msg bob are you there?")
        await alice.expect(r"\[private\] alice -> bob: are you there\?")
        await alice.send("/nick alicia")
        await wait_until(lambda: sender.find("alicia") is not None)
        await wait_until(lambda: not sender._outbox and not sender._sending)
        await carol.send("/nick alice")
        await wait_until(lambda: sender.find("alice") is not None)
        await wait_until(lambda: not sender._outbox and not sender._sending)
        receiver._read_streams()
        sender._read_streams()
        await alice.expect(r"!!! bob left or changed nickname as your message was on its way")
        await settled(carol)
        assert not any("not delivered" in line for line in carol.seen)


async def test_a_not_delivered_notice_that_finds_no_one_is_dropped(redis_url: str) -> None:
    """The sender has gone too by the time its notice arrives: the notice is dropped, and
    never answered in turn (it names no one to tell), so no notice goes back and forth."""
    async with running_cluster(redis_url, 2) as cluster:
        a, b = cluster.nodes
        alice, bob = await cluster.alice_and_bob()
        sender, receiver = hub_of(a), hub_of(b)
        entry = handmade_entry(sender, "zed", "nobody", "hello?", 98)
        entry["f"] = nick_key("zed")
        client = sender._connected()
        inbox_a, inbox_b = sender.keys.inbox(sender.node), receiver.keys.inbox(receiver.node)
        before_a, before_b = await client.xlen(inbox_a), await client.xlen(inbox_b)
        last: Any = await client.xrevrange(inbox_a, count=1)
        after = str(last[0][0]) if last else "0-0"
        await client.xadd(inbox_b, entry)  # type: ignore[arg-type]
        read: Any = await client.xread({inbox_a: after}, count=1, block=5000)
        [[_, [(notice_id, notice)]]] = read
        assert "not delivered" in notice["e"]
        assert "f" not in notice
        await wait_until(lambda: sender._inbox_position == notice_id)
        await alice.send("/msg bob after it")
        await bob.expect(r"\[private\] alice -> bob: after it")
        # Node A read the notice for zed, whom it has not: nothing went back to B.
        assert await client.xlen(inbox_a) == before_a + 1
        assert await client.xlen(inbox_b) == before_b + 2  # zed's, then alice's
        assert not any("not delivered" in line for line in alice.seen + bob.seen)


async def test_not_delivered_notices_redis_refuses_are_dropped_and_logged(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Notices waiting for Redis are bounded; those Redis refuses, and those past the
    bound, are dropped with a log line that counts them, and the next one goes as usual."""
    async with running_cluster(redis_url, 2) as cluster:
        a, b = cluster.nodes
        alice, _bob = await cluster.alice_and_bob()
        receiver = hub_of(b)
        client = receiver._connected()
        await client.set(receiver.keys.node("ghost"), "1")  # alive, for all Redis knows
        await client.set(receiver.keys.inbox("ghost"), "not a stream")  # XADD: WRONGTYPE
        event_id, ts = receiver.clock.stamp()
        message = PrivateMessage(event_id, ts, "alice", "bob", "hi")
        for _ in range(UNDELIVERED_KEPT + 5):
            receiver._not_delivered("ghost", nick_key("alice"), message)
        assert len(receiver._undelivered) == UNDELIVERED_KEPT
        assert receiver._telling_undelivered is not None
        await receiver._telling_undelivered
        assert not receiver._undelivered
        # Those Redis refused, and the five the queue had no room for.
        assert f"could not tell {UNDELIVERED_KEPT + 5} senders" in caplog.text
        sender, alice_here = hub_of(a), hub_of(a).find("alice")
        assert alice_here is not None
        receiver._not_delivered(sender.node, sender._sender_name(alice_here), message)
        await alice.expect(r"!!! bob left or changed nickname as your message was on its way")


async def test_an_inbox_entry_written_twice_is_told_once(redis_url: str) -> None:
    """redis-py sends a pipeline again when its connection goes after Redis ran it: a
    private message's inbox entry is then written twice, under one name. Its recipient
    reads it once."""
    async with running_cluster(redis_url, 2) as cluster:
        a, b = cluster.nodes
        alice, bob = await cluster.alice_and_bob()
        sender, receiver = hub_of(a), hub_of(b)
        entry = handmade_entry(sender, "alice", "bob", "only once", 99)
        client = sender._connected()
        for _ in range(2):
            await client.xadd(receiver.keys.inbox(receiver.node), entry)  # type: ignore[arg-type]
        await bob.expect(r"\[private\] alice -> bob: only once")
        await alice.send("/msg bob and then this")
        await bob.expect(r"\[private\] alice -> bob: and then this")
        assert sum("only once" in line for line in bob.seen) == 1
