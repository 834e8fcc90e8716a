"""The package's import rules (tools/check_imports.py), on the real tree and on made-up ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from tools.check_imports import all_imports, broken_rules


def tree(root: Path, modules: dict[str, str]) -> Path:
    """A made-up ``tcpchat`` package under ``root``: module path -> source."""
    for name, source in modules.items():
        path = root / "tcpchat" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        for package in [path.parent, *path.parent.parents]:
            if package == root:
                break
            (package / "__init__.py").touch()
        path.write_text(source)
    return root


def test_the_package_keeps_its_import_rules() -> None:
    """tcpchat's own source breaks no import rule and has no import cycle."""
    imports = all_imports()
    assert len(imports) > 100  # the checker really read the package
    assert broken_rules(imports) == []


@pytest.mark.parametrize(
    ("modules", "expected"),
    [
        ({"core/protocol.py": "import asyncio\n"}, "tcpchat.core may not import"),
        ({"core/nicks.py": "from socket import socket\n"}, "tcpchat.core may not import"),
        (
            {"core/events.py": "from tcpchat.server import chat\n", "server/chat.py": ""},
            "tcpchat.core may not import",
        ),
        (
            {"client/chat.py": "from tcpchat.server.chat import ChatServer\n"},
            "tcpchat.client may not import",
        ),
        (
            {"server/chat.py": "def f():\n    from tcpchat.client import chat\n"},
            "tcpchat.server may not import",
        ),
        ({"server/search.py": "import openai\n"}, "only tcpchat.ai.openai_edge may import openai"),
        (
            {"ai/search.py": "def f():\n    import pydantic\n"},
            "only tcpchat.ai.openai_edge may import pydantic",
        ),
        (
            {"store/sqlite.py": "import redis.asyncio\n"},
            "only tcpchat.store.redis and tcpchat.server.redis_hub may import redis",
        ),
        ({"server/chat.py": "from redis import Redis\n"}, "may import redis"),
        ({"irc/message.py": "import asyncio\n"}, "tcpchat.irc may not import"),
        (
            {"irc/registration.py": "from tcpchat.config import Settings\n", "config.py": ""},
            "tcpchat.irc may not import",
        ),
        (
            {"core/protocol.py": "from tcpchat.irc import message\n", "irc/message.py": ""},
            "tcpchat.core may not import",
        ),
        (
            {"store/sqlite.py": "from tcpchat.server.chat import ChatServer\n"},
            "tcpchat.store may not import",
        ),
        ({"store/base.py": "import tcpchat.ai.search\n"}, "tcpchat.store may not import"),
        ({"config.py": "from tcpchat.cli import main\n"}, "nothing imports tcpchat.cli"),
        (
            {
                "core/session.py": "from tcpchat.core.commands import dispatch\n",
                "core/commands.py": (
                    "from typing import TYPE_CHECKING\n"
                    "if TYPE_CHECKING:\n    from tcpchat.core.session import Session\n"
                ),
            },
            "import cycle among tcpchat.core.commands, tcpchat.core.session",
        ),
    ],
)
def test_a_broken_rule_is_reported(tmp_path: Path, modules: dict[str, str], expected: str) -> None:
    """Each kind of forbidden import, even inside a function or TYPE_CHECKING, is named."""
    problems = broken_rules(all_imports(tree(tmp_path, modules)))
    assert any(expected in problem for problem in problems), problems


def test_allowed_imports_pass(tmp_path: Path) -> None:
    """The layers may import downwards: server from core, net and store, ai openai, cli anything."""
    modules = {
        "core/events.py": "import dataclasses\n",
        "irc/message.py": "from tcpchat.core.protocol import LineSplitter\n",
        "net/streams.py": "import asyncio\nfrom tcpchat.core import events\n",
        "server/chat.py": "from tcpchat.net.streams import x\nfrom tcpchat.core.events import y\n",
        "ai/openai_edge.py": "import openai\nimport httpx2\n",
        "store/redis.py": "import redis.asyncio\nfrom redis.exceptions import RedisError\n",
        "server/redis_hub.py": "import redis.asyncio\n",
        "store/sqlite.py": "import asyncio\nimport sqlite3\nfrom tcpchat.core.errors import x\n",
        "server/history.py": "from tcpchat.store.sqlite import SQLiteStore\n",
        "cli.py": "from tcpchat.server import chat\nfrom tcpchat.ai import openai_edge\n",
        "__main__.py": "from tcpchat.cli import main\n",
    }
    assert broken_rules(all_imports(tree(tmp_path, modules))) == []
