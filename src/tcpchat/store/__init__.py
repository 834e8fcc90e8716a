"""Room history that survives restarts: the store's interface and its backends.

:mod:`tcpchat.store.base` names what every backend does (:class:`~tcpchat.store.base.Store`)
and what it keeps (:class:`~tcpchat.store.base.StoredEvent`);
:mod:`tcpchat.store.sqlite` is the embedded backend, :mod:`tcpchat.store.redis`
the one many servers share (``docs/scaling.md``), and
:mod:`tcpchat.store.historian` the small service a server owns to flush and
prune it in the background. ``docs/history.md`` says what is kept, for how long,
and how to back it up.
"""
