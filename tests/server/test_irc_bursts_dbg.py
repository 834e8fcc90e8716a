import random

import pytest

from tcpchat.config import ClusterSettings, ServerSettings
from tcpchat.server.chat import ChatServer
from tests.support.irc_client import SERVER_NAME, IrcClient
from tests.support.redis import RedisServer

IRC = (
    "JOIN #a",
    "JOIN #b",
    "PART #a",
    "PART #b :bye",
    "NICK {me}",
    "NICK {me}x",
    "NICK {other}",
    "PRIVMSG #a :hi",
    "PRIVMSG #b :hi",
    "PRIVMSG {other} :psst",
    "NOTICE #a :n",
    "TOPIC #a :t",
    "AWAY :brb",
    "AWAY",
    "WHOIS {other}",
    "WHO #a",
    "NAMES #a",
    "LIST",
    "MODE #a +o {other}",
    "MODE #a -o {other}",
    "KICK #a {other} :out",
    "ISON {other}",
    "USERHOST {other}",
    "JOIN 0",
    "JOIN #a,#b",
    "PART #a,#b",
    "MODE #a",
    "MODE {me} +i",
    "PING :x",
)


@pytest.mark.parametrize("seed", range(60))
async def test_irc(own_redis: RedisServer, seed: int) -> None:
    rng = random.Random(seed)
    nodes = []
    try:
        for _ in range(2):
            s = ChatServer(
                ServerSettings(
                    host="127.0.0.1",
                    port=0,
                    irc_port=0,
                    server_name=SERVER_NAME,
                    flood_control=False,
                ),
                cluster=ClusterSettings(redis_url=own_redis.url, node_timeout=1.5),
            )
            await s.start()
            nodes.append(s)
        members = []
        for i in range(4):
            c = await IrcClient.connect(nodes[i % 2].irc_port)
            await c.register(f"u{i}")
            members.append(c)
        for _ in range(8):
            for i, m in enumerate(members):
                burst = [
                    rng.choice(IRC).format(me=f"u{i}", other=f"u{(i + 1) % 4}")
                    for _ in range(rng.randint(1, 6))
                ]
                await m.send(*burst)
        for m in members:
            await m.sync()
            await m.close()
    finally:
        for s in nodes:
            await s.close()
