"""History over IRC: a server-time client gets a room's last lines with their original times."""

from __future__ import annotations

from pathlib import Path

from tcpchat.config import ServerSettings
from tests.support.history import history_server
from tests.support.irc_client import SERVER_NAME, IrcClient

SETTINGS = ServerSettings(host="127.0.0.1", port=0, irc_port=0, server_name=SERVER_NAME)


async def timed_client(port: int, nick: str, *caps: str) -> IrcClient:
    """An IRC client that negotiated server-time (and ``caps``), registered as ``nick``."""
    client = await IrcClient.connect(port)
    await client.send(f"CAP REQ :{' '.join(('server-time', *caps))}")
    await client.expect(r" CAP \* ACK ")
    await client.send("CAP END")
    await client.register(nick)
    return client


async def test_a_server_time_client_gets_the_rooms_last_lines_with_their_times(
    tmp_path: Path,
) -> None:
    """After a restart, JOIN replays the last lines, after the names, each @time= as said."""
    db = tmp_path / "tcpchat.db"
    async with history_server(db, settings=SETTINGS) as server:
        alice = await timed_client(server.irc_port, "alice", "echo-message")
        await alice.send("JOIN #dev")
        await alice.numeric("366")
        said = []
        for text in ("first", "second"):
            await alice.send(f"PRIVMSG #dev :{text}")
            echo = await alice.expect(rf"^@time=(\S+) :alice!\S+ PRIVMSG #dev :{text}$")
            said.append(echo.group(0))
        await alice.close()
    async with history_server(db, settings=SETTINGS) as server:
        bob = await timed_client(server.irc_port, "bob")
        await bob.send("JOIN #dev")
        lines = await bob.sync()
        await bob.close()
    commands = [_command(line) for line in lines]
    start = commands.index("JOIN")
    assert commands[start:] == ["JOIN", "353", "366", "PRIVMSG", "PRIVMSG"]
    assert lines[-2:] == said


async def test_a_client_without_server_time_is_not_sent_old_lines_as_new(tmp_path: Path) -> None:
    """Without server-time nothing is replayed: an old line would read as said just now."""
    db = tmp_path / "tcpchat.db"
    async with history_server(db, settings=SETTINGS) as server:
        alice = await timed_client(server.irc_port, "alice")
        await alice.send("JOIN #dev", "PRIVMSG #dev :said before you came")
        await alice.sync()  # the line is in the room's history
        carol = await IrcClient.connect(server.irc_port)
        await carol.register("carol")
        await carol.send("JOIN #dev")
        lines = await carol.sync()
        await alice.close()
        await carol.close()
    commands = [_command(line) for line in lines]
    assert commands[commands.index("JOIN") :] == ["JOIN", "353", "366"]


def _command(line: str) -> str:
    """An IRC line's command (or numeric), after its tags and source."""
    words = line.split(" ")
    return words[2] if words[0].startswith("@") else words[1]
