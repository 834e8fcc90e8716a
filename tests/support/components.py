"""Real programs the tests drive (tmux, redis-server, and later irssi, chromium).

A test that needs one is marked ``@needs("tmux")``. Where the program is
missing it is skipped, with the reason printed (``make test`` installs what it
can first). CI exports ``TCPCHAT_REQUIRE_COMPONENTS=1``, and then nothing is
skipped for a missing program: the test runs and fails, so that a CI run can
never pass without the real components.
"""

from __future__ import annotations

import os
import shutil

import pytest

#: Set (to 1) where every component must be present: CI.
REQUIRE_VARIABLE = "TCPCHAT_REQUIRE_COMPONENTS"


def components_required() -> bool:
    """Whether a missing component is a failure rather than a skip."""
    return os.environ.get(REQUIRE_VARIABLE, "") not in ("", "0")


def needs(*programs: str) -> pytest.MarkDecorator:
    """Skip unless every program is on PATH (never skip where components are required)."""
    missing = [program for program in programs if shutil.which(program) is None]
    reason = f"{', '.join(missing)} not installed (make test installs it when run as root)"
    return pytest.mark.skipif(bool(missing) and not components_required(), reason=reason)
