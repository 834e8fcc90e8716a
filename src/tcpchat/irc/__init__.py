"""IRC's framing and vocabulary, pure: lines, numerics, registration; no sockets, no asyncio.

The IRC front door (``server/irc.py``) is built on these; rooms, nicknames and
history stay in :mod:`tcpchat.core`, which every front door shares.
"""
