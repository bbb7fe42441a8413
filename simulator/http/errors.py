"""Response helpers: compact JSON (the SDK's 403 detection needs no spaces), Coinbase error shapes."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

JSON_TYPE = "application/json"


def dumps(payload: Any) -> str:
    return json.dumps(payload, separators=(",", ":"))


def json_response(payload: Any, status: int = 200) -> web.Response:
    return web.Response(text=dumps(payload), status=status, content_type=JSON_TYPE)


def json_error(status: int, error: str, message: str, details: str | None = None) -> web.Response:
    return json_response({"error": error, "error_details": details if details is not None else message,
                          "message": message}, status)


def unauthorized() -> web.Response:
    return web.Response(text="Unauthorized\n", status=401, content_type="text/plain")


def missing_scopes() -> web.Response:
    return json_response({"error": "PERMISSION_DENIED", "error_details": "Missing required scopes",
                          "message": "Missing required scopes"}, 403)


def not_found(message: str) -> web.Response:
    return json_error(404, "NOT_FOUND", message)


def invalid_argument(message: str, details: str | None = None) -> web.Response:
    return json_error(400, "INVALID_ARGUMENT", message, details)


HTML_429 = ("<html><head><title>429 Too Many Requests</title></head><body><center><h1>429 Too Many Requests"
            "</h1></center><hr><center>cloudflare</center></body></html>\n")


def html_error(status: int, title: str) -> web.Response:
    body = HTML_429 if status == 429 else (
        f"<html><head><title>{status} {title}</title></head><body><h1>{status} {title}</h1></body></html>\n")
    return web.Response(text=body, status=status, content_type="text/html")


class BadRequest(Exception):
    """Raised by parameter parsing; the error middleware turns it into a 400 INVALID_ARGUMENT."""
