"""The API's route table: each call's method, path, handler, summary, result, roles and inputs.

`web.app` mounts these routes and `web.spec` builds `/openapi.json` from the same table, so
the document cannot drift from what the handlers accept. The operation ids are the
handlers' names.
"""

from __future__ import annotations

from models.api import (
    ActionResult,
    AssignBody,
    AuditTrail,
    BookConsultBody,
    CaseList,
    CompleteRecordsBody,
    DeclineBody,
    Empty,
    OpenCase,
    Outbox,
    ReasonBody,
    RequestInfoBody,
    Roster,
)
from models.case import CaseStatus
from models.intake import PatientIntake
from web.api.admin import (
    AuditQuery,
    OutboxQuery,
    SpecialistQuery,
    audit_all,
    case_audit,
    list_specialists,
    outbox,
)
from web.api.cases import (
    ListQuery,
    cancel_case,
    case_status,
    close_case,
    list_cases,
    open_case,
    override_eligibility,
    send_portal_link,
    update_details,
)
from web.api.consults import book_consult, complete_consult, third_opinion
from web.api.records import RecordsQuery, add_records, complete_records, record_consent
from web.api.review import (
    ReportQuery,
    SupplyQuery,
    assign_specialist,
    decline_specialist,
    request_info,
    submit_report,
    supply_info,
)
from web.spec import COORDINATORS, EVERYONE, SUPERVISORS, Route, Upload

MAX_FILES = 50

C = "/api/v1/cases/{case_id}"
ROUTES: list[Route] = [
    Route(
        "POST", "/api/v1/cases", open_case, "Open a case", CaseStatus, COORDINATORS, body=OpenCase, status=201
    ),
    Route("GET", "/api/v1/cases", list_cases, "Cases from the visibility store", CaseList, query=ListQuery),
    Route("GET", C, case_status, "Stage, records, specialist, SLA and timeline", CaseStatus),
    Route("GET", f"{C}/audit", case_audit, "The case's audit trail", AuditTrail),
    Route(
        "POST",
        f"{C}/records",
        add_records,
        "Upload records (streamed, encrypted)",
        ActionResult,
        COORDINATORS,
        query=RecordsQuery,
        upload=Upload(1, MAX_FILES),
    ),
    Route(
        "POST",
        f"{C}/records/complete",
        complete_records,
        "Declare the records complete",
        ActionResult,
        COORDINATORS,
        body=CompleteRecordsBody,
    ),
    Route(
        "POST",
        f"{C}/specialist",
        assign_specialist,
        "Assign or reassign a specialist",
        ActionResult,
        EVERYONE,
        body=AssignBody,
    ),
    Route(
        "POST",
        f"{C}/specialist/decline",
        decline_specialist,
        "Record a specialist's decline",
        ActionResult,
        COORDINATORS,
        body=DeclineBody,
    ),
    Route(
        "POST",
        f"{C}/info/request",
        request_info,
        "Stop the clock: ask for more",
        ActionResult,
        COORDINATORS,
        body=RequestInfoBody,
    ),
    Route(
        "POST",
        f"{C}/info/supply",
        supply_info,
        "Supply what was asked; the clock restarts",
        ActionResult,
        COORDINATORS,
        query=SupplyQuery,
        upload=Upload(0, MAX_FILES),
    ),
    Route(
        "POST",
        f"{C}/report",
        submit_report,
        "Submit the written report",
        ActionResult,
        COORDINATORS,
        query=ReportQuery,
        upload=Upload(1, 1),
    ),
    Route(
        "POST",
        f"{C}/consults",
        book_consult,
        "Book a telephone consult",
        ActionResult,
        COORDINATORS,
        body=BookConsultBody,
    ),
    Route(
        "POST",
        f"{C}/consults/complete",
        complete_consult,
        "Mark the booked consult held",
        ActionResult,
        COORDINATORS,
        body=Empty,
    ),
    Route(
        "POST",
        f"{C}/third-opinion",
        third_opinion,
        "Request a third opinion (billed)",
        ActionResult,
        COORDINATORS,
        body=Empty,
    ),
    Route("POST", f"{C}/close", close_case, "Close the case", ActionResult, COORDINATORS, body=Empty),
    Route("POST", f"{C}/cancel", cancel_case, "Cancel the case", ActionResult, SUPERVISORS, body=ReasonBody),
    Route(
        "POST",
        f"{C}/override",
        override_eligibility,
        "Override an eligibility refusal",
        ActionResult,
        SUPERVISORS,
        body=ReasonBody,
    ),
    Route(
        "PUT",
        f"{C}/details",
        update_details,
        "Replace the member's details",
        ActionResult,
        COORDINATORS,
        body=PatientIntake,
    ),
    Route(
        "POST",
        f"{C}/portal-link",
        send_portal_link,
        "Email the member a new portal sign-in link",
        ActionResult,
        COORDINATORS,
        body=Empty,
        status=202,
    ),
    Route(
        "POST",
        f"{C}/consent",
        record_consent,
        "Attest the member's consent to the transfer with the signed form",
        ActionResult,
        COORDINATORS,
        upload=Upload(1, 1),
    ),
    Route(
        "GET",
        "/api/v1/audit",
        audit_all,
        "The audit trail across cases",
        AuditTrail,
        SUPERVISORS,
        query=AuditQuery,
        tags=("audit",),
    ),
    Route(
        "GET",
        "/api/v1/specialists",
        list_specialists,
        "The roster",
        Roster,
        query=SpecialistQuery,
        tags=("roster",),
    ),
    Route(
        "GET",
        "/api/v1/outbox",
        outbox,
        "Messages in the development outbox",
        Outbox,
        query=OutboxQuery,
        tags=("dev",),
    ),
]
