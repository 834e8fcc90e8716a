"""The servers: the multi-client chat, its front doors and hub, and the 1:1 chat."""
