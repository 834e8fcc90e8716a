"""BASELINE, NOT TCPCHAT: the naive thread-per-client chat server.

This is the design tcpchat started from, kept only to be measured against:
one thread per client, and every message sent with a blocking ``sendall()``
to every other client in turn, under one lock. A single slow reader therefore
stalls every sender, and the throughput is bounded by one thread doing every
write. It speaks just enough of tcpchat's text protocol for the load
generator: a greeting, a nickname line, a ``*** Welcome`` line, then
``<nick> text`` for each message.

Run: ``python benchmarks/baselines/naive_server.py --port 5050``.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import threading

clients: dict[socket.socket, str] = {}
clients_lock = threading.Lock()


def broadcast(sender: socket.socket, data: bytes) -> None:
    with clients_lock:
        for sock in list(clients):
            if sock is sender:
                continue
            try:
                sock.sendall(data)
            except OSError:
                clients.pop(sock, None)


def serve_client(sock: socket.socket) -> None:
    stream = sock.makefile("rb")
    try:
        sock.sendall(b"*** Welcome to the naive baseline. Choose a nickname:\n")
        nick = stream.readline().decode(errors="replace").strip()
        if not nick:
            return
        with clients_lock:
            clients[sock] = nick
        sock.sendall(f"*** Welcome, {nick}!\n".encode())
        for raw in stream:
            text = raw.decode(errors="replace").rstrip("\r\n")
            broadcast(sock, f"<{nick}> {text}\n".encode())
    except OSError:
        pass
    finally:
        with clients_lock:
            clients.pop(sock, None)
        with contextlib.suppress(OSError):
            sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="BASELINE: thread-per-client chat server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    listener = socket.create_server((args.host, args.port), backlog=1024)
    print(f"listening on {args.host}:{args.port}", flush=True)
    while True:
        sock, _ = listener.accept()
        threading.Thread(target=serve_client, args=(sock,), daemon=True).start()


if __name__ == "__main__":
    main()
