"""The web client's files are package data: in the wheel, and served by an installed copy."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.support.helpers import LineClient
from tests.support.programs import WAIT, start_server

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "src" / "tcpchat" / "web" / "static"


def pip(*argv: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet", *argv],
        check=True,
        timeout=300,
    )


async def test_the_wheel_holds_the_page_and_an_installed_copy_serves_it(tmp_path: Path) -> None:
    """Build the wheel, install it (not editable) and fetch the page from that copy."""
    dist = tmp_path / "dist"
    await asyncio.to_thread(pip, "wheel", "--no-deps", "--wheel-dir", str(dist), str(ROOT))
    (wheel,) = dist.glob("tcpchat-*.whl")
    files = sorted(path.name for path in STATIC.iterdir())
    assert {"index.html", "app.js", "style.css"} <= set(files)
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name for name in archive.namelist() if name.startswith("tcpchat/web/static/")}
    assert shipped == {f"tcpchat/web/static/{name}" for name in files}

    site = tmp_path / "site"
    await asyncio.to_thread(pip, "install", "--no-deps", "--target", str(site), str(wheel))
    env = {**os.environ, "PYTHONPATH": str(site)}
    env = {name: value for name, value in env.items() if not name.startswith("TCPCHAT_")}
    # Its history in the test's folder: by default it is tcpchat.db where the test runs.
    db = str(tmp_path / "tcpchat.db")
    process, _ = await start_server("--http-port", "0", "--loop", "asyncio", "--db", db, env=env)
    try:
        assert process.stderr is not None
        async with asyncio.timeout(WAIT):
            line = (await process.stderr.readline()).decode()
        match = re.search(r"web client at http://127\.0\.0\.1:(\d+)/", line)
        assert match, line
        client = await LineClient.connect(int(match.group(1)))
        try:
            await client.send_bytes(b"GET /static/app.js HTTP/1.1\r\nHost: localhost\r\n\r\n")
            async with asyncio.timeout(WAIT):
                answer = await client.reader.read()
        finally:
            await client.close()
    finally:
        process.terminate()
        await process.communicate()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert body == (STATIC / "app.js").read_bytes()
    probe = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import tcpchat.server.http as h; print(h.static_folder())",
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    folder, _ = await probe.communicate()
    assert folder.decode().strip().startswith(str(site))
