"""Who receives each kind of notice: the one table the mail activity and its tests read."""

from __future__ import annotations

from models.notices import Audience, NoticeKind

RECIPIENTS: dict[NoticeKind, tuple[Audience, ...]] = {
    NoticeKind.CASE_OPENED: (Audience.CUSTOMER,),
    NoticeKind.INELIGIBLE: (Audience.CUSTOMER, Audience.COORDINATOR),
    NoticeKind.RECORDS_REMINDER: (Audience.CUSTOMER,),
    NoticeKind.RECORDS_LAPSED: (Audience.CUSTOMER, Audience.COORDINATOR),
    NoticeKind.RECORDS_TO_SPECIALIST: (Audience.SPECIALIST,),
    NoticeKind.INFO_REQUESTED: (Audience.CUSTOMER, Audience.COORDINATOR),
    NoticeKind.INFO_SUPPLIED: (Audience.SPECIALIST,),
    NoticeKind.SLA_WARNING: (Audience.SPECIALIST, Audience.COORDINATOR),
    NoticeKind.SLA_BREACH: (Audience.SUPERVISOR, Audience.COORDINATOR),
    NoticeKind.SLA_BREACH_REMINDER: (Audience.SUPERVISOR,),
    NoticeKind.SLA_MOVED: (Audience.SPECIALIST, Audience.COORDINATOR),
    NoticeKind.REPORT_DELIVERED: (Audience.CUSTOMER,),
    NoticeKind.CONSULT_BOOKED: (Audience.CUSTOMER, Audience.SPECIALIST),
    NoticeKind.RECEIPT: (Audience.CUSTOMER,),
    NoticeKind.CASE_CLOSED: (Audience.CUSTOMER,),
    NoticeKind.CASE_CANCELLED: (Audience.CUSTOMER, Audience.COORDINATOR),
    NoticeKind.TEAM_NOTIFIED: (Audience.COORDINATOR,),
    NoticeKind.ATTENTION: (Audience.SUPERVISOR,),
    NoticeKind.PORTAL_LINK: (Audience.CUSTOMER,),
    NoticeKind.CONFIRM_REQUEST: (Audience.CUSTOMER,),
    NoticeKind.RECORDS_COMPLETE: (Audience.CUSTOMER,),
    NoticeKind.SPECIALIST_ASSIGNED: (Audience.CUSTOMER,),
    NoticeKind.CONSULT_RESCHEDULED: (Audience.CUSTOMER, Audience.SPECIALIST),
    NoticeKind.CONSULT_CANCELLED: (Audience.CUSTOMER, Audience.SPECIALIST),
    NoticeKind.CONSULT_REMINDER: (Audience.CUSTOMER, Audience.SPECIALIST),
    NoticeKind.CONSULT_CHECK: (Audience.SPECIALIST, Audience.COORDINATOR),
    # The supervisor's copy is the escalation: a specialist who did not come, a member absent.
    NoticeKind.CONSULT_MISSED: (Audience.CUSTOMER, Audience.SUPERVISOR),
    NoticeKind.CONSULT_NO_SLOTS: (Audience.COORDINATOR,),
    NoticeKind.RECORDS_REQUESTED: (Audience.PROVIDER,),
    NoticeKind.RECORDS_REQUEST_REMINDER: (Audience.PROVIDER,),
    NoticeKind.TRANSLATION_REQUESTED: (Audience.TRANSLATOR,),
    NoticeKind.FOLLOW_UP_ASKED: (Audience.SPECIALIST, Audience.COORDINATOR),
    NoticeKind.FOLLOW_UP_ANSWERED: (Audience.CUSTOMER,),
    NoticeKind.FOLLOW_UP_WARNING: (Audience.SPECIALIST, Audience.COORDINATOR),
    NoticeKind.FOLLOW_UP_BREACH: (Audience.SUPERVISOR, Audience.COORDINATOR),
    NoticeKind.SURVEY: (Audience.CUSTOMER,),
    NoticeKind.OPINION_TRANSLATION: (Audience.TRANSLATOR,),
    NoticeKind.OPINION_TRANSLATION_LATE: (Audience.COORDINATOR,),
    NoticeKind.OPINION_TRANSLATED: (Audience.CUSTOMER,),
    # The treating doctor is addressed as a provider is: by the sheet the notice names.
    NoticeKind.DOCTOR_REPORT: (Audience.PROVIDER,),
}
