"""asyncio and socket plumbing that the servers and the client share: streams, socket
options, TLS contexts and the choice of event loop."""
