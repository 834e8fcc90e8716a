"""The terminal client, ``tcpchat connect``: its connection, its state, and the program."""
