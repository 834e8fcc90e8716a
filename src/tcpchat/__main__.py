"""``python -m tcpchat`` runs the same thing as the ``tcpchat`` command."""

from __future__ import annotations

from tcpchat.cli import main

raise SystemExit(main())
