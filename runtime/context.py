"""Request context that follows a call from the API edge into workflows and activities.

The API sets `request_id` for each request; the client and worker interceptors carry it
in Temporal headers, and the log processors add it to every line it caused.
"""

from __future__ import annotations

from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("smo_request_id", default=None)
