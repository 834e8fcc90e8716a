"""The systemd unit in contrib/: hardened as docs/deploy.md says, and valid to systemd."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.support.components import needs

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "contrib" / "tcpchat.service"
#: Where the unit expects tcpchat to be installed (docs/deploy.md).
INSTALLED = "/opt/tcpchat/.venv/bin/tcpchat"


def directives(text: str) -> dict[str, list[str]]:
    """Every ``Key=value`` of a unit file, by key, in order (comments left out)."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def test_the_unit_is_hardened_and_keeps_its_state() -> None:
    """A user of its own, no new privileges, a read-only system, restarts, 10,000 sockets."""
    unit = directives(UNIT.read_text())
    assert unit["DynamicUser"] == ["yes"]
    assert unit["NoNewPrivileges"] == ["yes"]
    assert unit["ProtectSystem"] == ["strict"]
    assert unit["StateDirectory"] == ["tcpchat"]
    assert "TCPCHAT_DB=/var/lib/tcpchat/tcpchat.db" in unit["Environment"]
    assert unit["Restart"] == ["on-failure"]
    assert int(unit["LimitNOFILE"][0]) >= 10_000 + 1_000
    assert unit["ExecStart"][0].startswith(INSTALLED + " serve")


@needs("systemd-analyze")
async def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    """``systemd-analyze verify`` finds nothing to say about the unit (with tcpchat installed
    where this test runs, since it checks that the program exists)."""
    installed = Path(sys.executable).parent / "tcpchat"
    assert installed.exists(), f"tcpchat is not installed beside {sys.executable}"
    unit = tmp_path / "tcpchat.service"
    unit.write_text(UNIT.read_text().replace(INSTALLED, str(installed)))
    process = await asyncio.create_subprocess_exec(
        "systemd-analyze",
        "verify",
        str(unit),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(30):
        stdout, stderr = await process.communicate()
    assert (process.returncode, stdout + stderr) == (0, b""), stderr.decode()
