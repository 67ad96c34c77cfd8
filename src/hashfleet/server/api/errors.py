"""Errors as data: every failure leaves as ``{"error": "ERR_…", "message": "…"}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hashfleet.core.errors import HashfleetError, TooManyRequests

log = logging.getLogger(__name__)


def install_error_handlers(app: FastAPI) -> None:
    """Map our errors, validation errors and HTTP errors to the one JSON error shape."""

    @app.exception_handler(HashfleetError)
    async def _ours(_request: Request, exc: HashfleetError) -> JSONResponse:
        headers = (
            {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, TooManyRequests) else None
        )
        return JSONResponse(exc.to_dict(), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where}: {first.get('msg', 'invalid')}" if where else "invalid request body"
        return JSONResponse({"error": "ERR_PAYLOAD_INVALID", "message": message}, status_code=400)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        # A bug of ours: log it with its traceback, answer in the one error shape.
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse(
            {"error": "ERR_INTERNAL", "message": "internal error (logged on the server)"},
            status_code=500,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "ERR_NOTFOUND", 405: "ERR_METHOD_NOT_ALLOWED"}.get(exc.status_code, "ERR_HTTP")
        return JSONResponse(
            {"error": code, "message": str(exc.detail)},
            status_code=exc.status_code,
            headers=exc.headers,
        )
