"""Stable error codes (``ERR_*``) and the exception tree that carries them.

Callers branch on the exception type or its ``code``, never on the message.
"""

from __future__ import annotations

from typing import Any


class HashfleetError(Exception):
    """Base of every error hashfleet raises on purpose; carries a stable code."""

    code = "ERR_INTERNAL"
    status = 500

    def __init__(self, message: str = "", *, code: str | None = None, **details: Any) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        if code is not None:
            self.code = code
        self.message = message or (self.__class__.__doc__ or self.code).strip()
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of this error as the API returns it."""
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class BadRequest(HashfleetError):
    """The request is malformed."""

    code = "ERR_PAYLOAD_INVALID"
    status = 400


class QueryInvalid(BadRequest):
    """The query is not a valid Mongo-style query."""

    code = "ERR_QUERY_INVALID"


class NotFound(HashfleetError):
    """The requested object does not exist."""

    code = "ERR_NOTFOUND"
    status = 404


class Conflict(HashfleetError):
    """The object already exists."""

    code = "ERR_CONFLICT"
    status = 409


class Unauthorized(HashfleetError):
    """Authentication is required or has failed."""

    code = "ERR_AUTH_REQUIRED"
    status = 401


class Forbidden(HashfleetError):
    """The caller may not do this."""

    code = "ERR_MISSING_WRITE_PERMISSIONS"
    status = 403


class TooManyRequests(HashfleetError):
    """Too many attempts; try again after ``retry_after_s`` seconds."""

    code = "ERR_RATE_LIMITED"
    status = 429

    def __init__(self, message: str = "", *, retry_after_s: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after_s = max(1, int(retry_after_s))


class DeviceError(HashfleetError):
    """A device could not be read; the device is marked in error, nothing else is touched."""

    code = "ERR_DEVICE"
    status = 502


class DeviceOffline(DeviceError):
    """The device refused the connection or is unreachable."""

    code = "ERR_DEVICE_OFFLINE"


class DeviceTimeout(DeviceError):
    """The device did not answer in time."""

    code = "ERR_DEVICE_TIMEOUT"


class DeviceReplyInvalid(DeviceError):
    """The device answered with something that is not a valid reply."""

    code = "ERR_DEVICE_REPLY_INVALID"


class DeviceCommandFailed(DeviceError):
    """The device understood the command and reported a failure."""

    code = "ERR_DEVICE_COMMAND_FAILED"


class TlsInvalid(HashfleetError):
    """The TLS certificate or key cannot be used (unreadable, malformed, or not a pair)."""

    code = "ERR_TLS_INVALID"
    status = 400


class InsecureBind(HashfleetError):
    """Plain HTTP on an address other machines can reach, without the explicit override."""

    code = "ERR_INSECURE_BIND"
    status = 400


class InsecureUrl(HashfleetError):
    """A plain-HTTP server URL to another machine, without the explicit override."""

    code = "ERR_INSECURE_URL"
    status = 400


class TlsPinMismatch(HashfleetError):
    """The server's certificate is not the one the agent was told to pin."""

    code = "ERR_TLS_PIN_MISMATCH"
    status = 502


class TlsUntrusted(HashfleetError):
    """The server's certificate could not be verified (unknown issuer, wrong name, expired)."""

    code = "ERR_TLS_UNTRUSTED"
    status = 502


class TlsHandshakeFailed(HashfleetError):
    """No TLS session could be set up with the server (not HTTPS there, protocol mismatch)."""

    code = "ERR_TLS_HANDSHAKE"
    status = 502
