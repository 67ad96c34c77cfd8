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
