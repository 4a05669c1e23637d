"""The case service: what any edge may do to a case over a Temporal client.

The API handlers, the portal, the demo and the server-side commands all come through
here: open a case, add its documents, attest consent, list cases, ask a case's status,
send it its updates and book its consult. Nothing here knows HTTP or a terminal: each edge
words the refusals (`service.errors`) its own way. The coordinator's CLI is a client of the API, not of this.
"""

from service.cases import (
    RPC_TIMEOUT,
    check_program_input,
    check_running,
    describe,
    ensure_running,
    handle_for,
    new_case_id,
    open_case,
    program_of,
    request_case_id,
    settled_or_current,
    status,
    wait_for_stage,
)
from service.consults import (
    ConsultRule,
    SlotRefused,
    book_consult,
    cancel_consult,
    complete_consult,
    consult_rule,
    consult_slots,
    member_hours,
    release_consults,
    reschedule_consult,
    set_member_hours,
)
from service.details import change_details, current_details, summary_language
from service.documents import add_records, attest_consent, claim, discard, refs, store_files, typed_refs
from service.errors import CaseConflict, NoCase, UserError, explain, is_refusal
from service.listing import case_filter, parse_duration
from service.updates import send_update
from service.views import CaseFound, find_case, list_cases, read_status, wait_for_version

__all__ = [
    "RPC_TIMEOUT",
    "CaseConflict",
    "CaseFound",
    "ConsultRule",
    "NoCase",
    "SlotRefused",
    "UserError",
    "add_records",
    "attest_consent",
    "book_consult",
    "cancel_consult",
    "case_filter",
    "change_details",
    "check_program_input",
    "check_running",
    "claim",
    "complete_consult",
    "consult_rule",
    "consult_slots",
    "current_details",
    "describe",
    "discard",
    "ensure_running",
    "explain",
    "find_case",
    "handle_for",
    "is_refusal",
    "list_cases",
    "member_hours",
    "new_case_id",
    "open_case",
    "parse_duration",
    "program_of",
    "read_status",
    "refs",
    "release_consults",
    "request_case_id",
    "reschedule_consult",
    "send_update",
    "set_member_hours",
    "settled_or_current",
    "status",
    "store_files",
    "summary_language",
    "typed_refs",
    "wait_for_stage",
    "wait_for_version",
]
