"""The optional server password, checked before registration, with no I/O.

A :class:`PasswordGate` belongs to one connection. It compares each attempt
with :func:`hmac.compare_digest` over SHA-256 digests, so the time taken says
nothing about how much of the password was right, nor about its length, and
it allows :data:`MAX_PASSWORD_TRIES` wrong attempts before the connection is
closed. Whitespace around a password, the server's or an attempt, is ignored:
a line-based protocol cannot carry it reliably.
"""

from __future__ import annotations

#: Wrong passwords a connection may send before it is closed.
MAX_PASSWORD_TRIES = 3

#: Error codes of the JSON rendering, so that programs can tell what is asked of them.
PASSWORD_REQUIRED = "password_required"
PASSWORD_WRONG = "password_wrong"


def _digest(password: str) -> bytes:
    # hashlib and hmac are imported on first use: they load OpenSSL's digests,
    # 0.7 MB that a server without a password never needs.
    import hashlib

    return hashlib.sha256(password.strip().encode("utf-8", "surrogatepass")).digest()


class PasswordGate:
    """Whether one connection has given the server password yet, and how many tries are left."""

    __slots__ = ("_expected", "passed", "tries_left")

    def __init__(self, password: str, max_tries: int = MAX_PASSWORD_TRIES) -> None:
        if not password.strip():
            raise ValueError("an empty password protects nothing")
        if max_tries < 1:
            raise ValueError("max_tries must be at least 1")
        self._expected = _digest(password)
        self.passed = False
        self.tries_left = max_tries

    @property
    def locked(self) -> bool:
        """Whether every try has been used up without success."""
        return not self.passed and self.tries_left <= 0

    def attempt(self, password: str) -> bool:
        """Check one attempt in constant time; return whether it was right."""
        if self.passed:
            return True
        if self.tries_left <= 0:
            return False
        import hmac

        if hmac.compare_digest(_digest(password), self._expected):
            self.passed = True
            return True
        self.tries_left -= 1
        return False


def tries(count: int) -> str:
    """``1 try`` or ``N tries``: what is left at a password gate, in words."""
    return "1 try" if count == 1 else f"{count} tries"
