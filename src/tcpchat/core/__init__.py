"""The pure core: the protocol, nicknames, events, renderings, commands and sessions.

No module here imports asyncio, socket, ssl, openai or prompt_toolkit, or any
other part of tcpchat: everything is driven by plain calls (tools/check_imports.py).
"""
