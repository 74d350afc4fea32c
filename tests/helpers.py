"""Helpers shared by several test modules (no test module imports another)."""

from __future__ import annotations

import json
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import Request, urlopen


def http_json(
    url: str,
    *,
    method: str = "GET",
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
    params: dict[str, Any] | None = None,
) -> tuple[int, Any]:
    """(HTTP status, decoded JSON body) of one request; an HTTP error status is returned, not raised."""
    if params:
        url = f"{url}?{urlencode(params)}"
    request = Request(url, data=data, method=method, headers=headers or {})
    try:
        with urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except HTTPError as err:
        return err.code, json.loads(err.read())
