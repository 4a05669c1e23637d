"""What every API handler shares: the call it answers, the audited update, files then an update.

Every case-changing call is the same workflow update the portal and the demo send, so a
refusal keeps the validator's exact words (409). Who acts comes from the token, never the
body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import web

import service
from models.api import ActionResult
from models.case import DocumentRef, RecordType, UpdateAck
from runtime.db import audit_off_loop
from web.backends import Backends
from web.errors import WebError
from web.spec import Upload
from web.tokens import Principal
from web.uploads import API, MultipartForm


@dataclass
class Call:
    """One authenticated request, its validated inputs and the case it is about."""

    request: web.Request
    backends: Backends
    who: Principal
    body: Any = None
    query: Any = None
    case_id: str = ""
    case: service.CaseFound | None = None  # from the read model
    upload: Upload | None = None  # the route's, for a call that streams files
    status: int | None = None  # overrides the route's status (202 for an update still running)

    def audit(self, action: str, outcome: str, detail: str = "") -> Awaitable[None]:
        return audit_off_loop(
            self.backends.engine,
            actor=self.who.name,
            action=action,
            outcome=outcome,
            case_id=self.case_id or None,
            detail=detail,
        )

    def check_running(self) -> None:
        """A case that has ended takes no more changes (409), checked before anything is stored.

        The answer says how it ended (the stage it published, e.g. CANCELLED), as `GET` shows it.
        """
        if self.case is None or self.case.running:
            return
        stage = self.case.stage
        ended = f"is {stage}" if stage else "has ended"
        raise WebError(409, f"the case {ended}; it takes no more changes")


async def update(call: Call, update: Any, arg: Any, action: str) -> ActionResult:
    """Send one update as the token's user; after `update_wait` seconds the call answers 202."""
    call.check_running()
    ack = await service.send_update(
        await call.backends.client(),
        call.backends.engine,
        case_id=call.case_id,
        actor=call.who.name,
        action=action,
        update=update,
        arg=arg,
        wait=timedelta(seconds=call.backends.update_wait),
    )
    return acknowledged(call, ack)


def acknowledged(call: Call, ack: UpdateAck | None) -> ActionResult:
    """The answer to an update: the case's acknowledgement, or 202 while it is still running."""
    if ack is None:  # accepted, still running: the case finishes it
        call.status = 202
        return ActionResult(case_id=call.case_id, stage=None, detail="accepted; in progress", done=False)
    return ActionResult(case_id=call.case_id, stage=ack.stage, detail=ack.detail)


async def with_files(
    call: Call,
    record_type: RecordType,
    update_fn: Any,
    arg_for: Callable[[list[DocumentRef]], Any],
    action: str,
) -> ActionResult:
    """Stream the call's `file` parts into the store, then send the update that claims them.

    `arg_for` makes the update's argument from the stored documents' claim checks.
    """
    call.check_running()
    store, upload = call.backends.store, call.upload
    assert upload is not None, "a route that takes files names its Upload"
    if upload.min_files == 0 and not call.request.body_exists:
        stored = []
    else:
        form = await MultipartForm.of(call.request, API)
        stored = await form.store_files(
            store,
            case_id=call.case_id,
            most=upload.max_files,
            too_many=f"at most {upload.max_files} files per call",
            least=upload.min_files,
            too_few=f"send at least {upload.min_files} file(s)",
        )
    arg = arg_for(service.refs(stored, record_type))
    return await service.claim(store, stored, lambda: update(call, update_fn, arg, action))
