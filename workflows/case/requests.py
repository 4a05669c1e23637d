"""Records gathered for the member: releases, requests to providers, chasing, translations.

A release (signed by the member, or a signed paper the desk attests) names a provider, a
scope and an expiry; a request to that provider needs one in force, and revoking it stops
every open request under it. The provider is chased on the KH calendar's working days:
every `chase_every_working_days`, `chase_times` reminders, then the desk is told. A document
not in English opens a translation with its own working-day deadline, one reminder, then
the desk. The gathering stage races these deadlines beside the member's own reminders
(workflows/case/records.py). Working days are the calendar activity's answer, in history.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.case import DocumentRef, RecordType, Stage, UpdateAck
    from models.notices import Notice, NoticeKind
    from models.records import (
        MAX_RELEASES,
        MAX_REQUESTS,
        RELEASE_LONGEST,
        ProviderRequest,
        Release,
        RequestState,
        Translation,
    )
    from models.records_check import ENGLISH, short
    from models.records_updates import RecordRelease, RefuseRequest, RequestRecords, RevokeRelease

from workflows.case.effects import EffectsMixin
from workflows.case.options import expect

# Where `add_record` takes records after gathering, for a program that allows late documents.
LATE_STAGES = {Stage.ASSIGNING_SPECIALIST, Stage.UNDER_REVIEW, Stage.REPORT_DELIVERED, Stage.CONSULT}
# The programs' zone (Asia/Phnom_Penh keeps no daylight saving): a release's dates are its days.
ICT = timezone(timedelta(hours=7))


class RequestsStage(EffectsMixin):
    def _takes_records(self) -> bool:
        """Whether `add_record` takes records now: its validator's rule, for the member's page."""
        terms = self.s.terms
        if terms is None:
            return False
        late = LATE_STAGES if terms.late_documents_allowed else set()
        return self.s.stage in {Stage.GATHERING_RECORDS} | late

    def _today(self) -> date:
        return workflow.now().astimezone(ICT).date()

    # ---- releases -----------------------------------------------------------------------

    @workflow.update
    async def record_release(self, req: RecordRelease) -> UpdateAck:
        async with self._lock:
            self._still_valid(lambda: self._validate_release(req))
            await self._register([req.document])
            g = self.s.gathering
            release = Release(
                release_no=len(g.releases) + 1,
                provider_key=req.provider_key,
                document_id=req.document.doc_id,
                types=req.types,
                records_from=req.records_from,
                expires_on=req.expires_on,
                source=req.source,
                signed_by=req.by,
                signed_at=workflow.now(),
            )
            g.releases.append(release)
            self._note("release recorded", f"{release.release_no} ({req.source.value}) by {req.by}")
        return self._ack(f"release {release.release_no}")

    @record_release.validator
    def _validate_release(self, req: RecordRelease) -> None:
        expect(req, RecordRelease)
        self._require_terms_for("record a release")
        if self.s.stage.terminal:
            raise ValueError(f"the case is {self.s.stage.value}")
        if len(self.s.gathering.releases) >= MAX_RELEASES:
            raise ValueError(f"a case keeps at most {MAX_RELEASES} releases")
        today = self._today()
        if req.expires_on <= today:
            raise ValueError("the release's expiry must be after today")
        if req.expires_on > today + RELEASE_LONGEST:
            raise ValueError("a release expires at most 1 year after it is signed")
        if req.records_from is not None and req.records_from > today:
            raise ValueError("the release's records-from date is in the future")

    @workflow.update
    def revoke_release(self, req: RevokeRelease) -> UpdateAck:
        g, now = self.s.gathering, workflow.now()
        release = g.release(req.release_no)
        assert release is not None  # the validator's
        g.releases[req.release_no - 1] = release.model_copy(update={"revoked_at": now})
        stopped = 0
        for request in g.requests:
            if request.release_no == req.release_no and request.state.open:
                request.state, request.ended_at, request.next_chase_at = RequestState.REVOKED, now, None
                stopped += 1
        self._note("release revoked", f"{req.release_no} by {req.by}; {stopped} request(s) stopped")
        return self._ack(f"{stopped} request(s) stopped")

    @revoke_release.validator
    def _validate_revoke(self, req: RevokeRelease) -> None:
        expect(req, RevokeRelease)
        release = self.s.gathering.release(req.release_no)
        if release is None:
            raise ValueError(f"the case has no release {req.release_no}")
        if release.revoked_at is not None:
            raise ValueError(f"release {req.release_no} is already revoked")

    # ---- requests to providers ------------------------------------------------------------

    def _asked(self, req: RequestRecords) -> list[RecordType]:
        """What a request asks for: the types named, else the required ones still missing."""
        if req.types:
            return req.types
        missing = [RecordType(m) for m in self._missing()]
        return missing or list(self.terms.required_records)

    def _release_for(self, req: RequestRecords) -> Release:
        """The release in force that lets this provider send these types (ValueError if none)."""
        today, releases, types = self._today(), self.s.gathering.releases, self._asked(req)
        if req.release_no is not None:
            release = self.s.gathering.release(req.release_no)
            if release is None:
                raise ValueError(f"the case has no release {req.release_no}")
            if release.provider_key != req.provider_key:
                raise ValueError(f"release {req.release_no} names another provider")
            if release.revoked_at is not None:
                raise ValueError(f"release {req.release_no} was revoked")
            if not release.in_force(today):
                raise ValueError(f"release {req.release_no} expired on {release.expires_on.isoformat()}")
            if not release.covers(types):
                raise ValueError(f"release {req.release_no} does not cover those record types")
            return release
        for release in reversed(releases):
            if (
                release.provider_key == req.provider_key
                and release.in_force(today)
                and release.covers(req.types)
            ):
                return release
        raise ValueError(
            "no release in force for this provider and these records: record the member's signed"
            " release first (smo release record)"
        )

    @workflow.update
    async def request_records(self, req: RequestRecords) -> UpdateAck:
        async with self._lock:
            self._still_valid(lambda: self._validate_request(req))
            release = self._release_for(req)
            await self._check_stored(req.provider_doc_id)
            g, now = self.s.gathering, workflow.now()
            n = len(g.requests) + 1
            request = ProviderRequest(
                request_no=n,
                release_no=release.release_no,
                provider_key=req.provider_key,
                provider_doc_id=req.provider_doc_id,
                types=self._asked(req),
                sent_at=now,
                next_chase_at=await self._working_days_on(self.terms.chase_every_working_days, now),
                by=req.by,
            )
            g.requests.append(request)
            self._queue_notice(
                f"request-{n}", self._provider_notice(request, NoticeKind.RECORDS_REQUESTED, "1")
            )
            self._note("records requested", f"request {n} under release {release.release_no} by {req.by}")
        return self._ack(f"request {n} sent")

    @request_records.validator
    def _validate_request(self, req: RequestRecords) -> None:
        expect(req, RequestRecords)
        if not self._takes_records():
            raise ValueError(f"records are not accepted in stage {self.s.stage.value}")
        if len(self.s.gathering.requests) >= MAX_REQUESTS:
            raise ValueError(f"a case sends at most {MAX_REQUESTS} requests")
        self._release_for(req)

    @workflow.update
    def refuse_request(self, req: RefuseRequest) -> UpdateAck:
        request = self.s.gathering.request(req.request_no)
        assert request is not None  # the validator's
        request.state, request.ended_at, request.next_chase_at = RequestState.REFUSED, workflow.now(), None
        # The provider's words may name the patient: they stay in the update (encrypted history),
        # out of the status and the timeline; the desk is told that the request was refused.
        self._tell_desk(f"request-{req.request_no}-refused", f"provider request {req.request_no} refused")
        return self._ack()

    @refuse_request.validator
    def _validate_refusal(self, req: RefuseRequest) -> None:
        expect(req, RefuseRequest)
        request = self.s.gathering.request(req.request_no)
        if request is None or not request.state.open:
            raise ValueError("this request has ended")

    def _provider_notice(self, request: ProviderRequest, kind: NoticeKind, suffix: str) -> Notice:
        notice = self._notice(
            kind,
            f"{request.request_no}-{suffix}",
            params={
                "records": ",".join(t.value for t in request.types),
                "n": str(request.request_no),
                "release": str(request.release_no),
            },
        )
        return notice.model_copy(update={"provider_doc_id": request.provider_doc_id})

    def _provider_upload(self, request_no: int, documents: list[DocumentRef]) -> None:
        """A provider's documents, counted against its request: in part, or all it was asked."""
        request = self.s.gathering.request(request_no)
        assert request is not None  # add_record's validator
        request.received = sorted({*request.received, *(d.record_type for d in documents)})
        request.documents += len(documents)
        if set(request.types) <= set(request.received):
            request.state, request.ended_at = RequestState.RECEIVED, workflow.now()
            request.next_chase_at = None
            if request.escalated and (self.s.attention or "").startswith(f"provider request {request_no} "):
                self._set_attention(None)
        else:
            request.state = RequestState.PARTIAL

    def _check_provider_upload(self, request_no: int, documents: list[DocumentRef]) -> None:
        request = self.s.gathering.request(request_no)
        if request is None or not request.state.open:
            raise ValueError("this request has ended")
        release = self.s.gathering.release(request.release_no)
        if release is None or not release.in_force(self._today()):
            raise ValueError("the release this request was sent under is no longer in force")
        outside = sorted({d.record_type.value for d in documents} - {t.value for t in request.types})
        if outside:
            raise ValueError(f"not asked for in this request: {', '.join(outside)}")

    def _end_open_requests(self) -> None:
        """The records were declared complete: what is still asked for is no longer needed, and
        a translation the desk waived is no longer awaited."""
        waived = set(self.s.records.waived_checks)
        for task in self.s.gathering.translations:
            if task.open and f"translation:{short(task.doc_id)}" in waived:
                task.waived, task.due_at = True, None
        for request in self.s.gathering.requests:
            if request.state.open:
                request.state, request.ended_at = RequestState.EXPIRED, workflow.now()
                request.next_chase_at = None

    # ---- translations ---------------------------------------------------------------------

    async def _open_translations(self, documents: list[DocumentRef]) -> None:
        """A document not in English needs its English version before it counts."""
        if not self.terms.english_required:
            return
        g = self.s.gathering
        for doc in documents:
            if doc.translation_of is not None or doc.language in (None, ENGLISH):
                continue
            now = workflow.now()
            due = await self._working_days_on(self.terms.translation_working_days, now)
            g.translations.append(
                Translation(
                    doc_id=doc.doc_id,
                    record_type=doc.record_type,
                    language=doc.language,
                    opened_at=now,
                    due_at=due,
                )
            )
            notice = self._notice(
                NoticeKind.TRANSLATION_REQUESTED,
                short(doc.doc_id),
                params={"doc": doc.doc_id, "language": doc.language, "deadline": due.isoformat()},
            )
            self._queue_notice(f"translation-{short(doc.doc_id)}", notice)

    def _link_translations(self, documents: list[DocumentRef]) -> None:
        for doc in documents:
            task = next((t for t in self.s.gathering.translations if t.doc_id == doc.translation_of), None)
            if task is not None and task.translation_doc_id is None:
                task.translation_doc_id, task.due_at = doc.doc_id, None

    def _check_translations(self, documents: list[DocumentRef]) -> None:
        docs = self.s.records.docs
        for doc in documents:
            if doc.translation_of is None:
                continue
            original = docs.get(doc.translation_of)
            if original is None or original.translation_of is not None:
                raise ValueError("a translation names a record of this case that is not itself a translation")
            if doc.language != ENGLISH:
                raise ValueError("a translation is the English version (language en)")

    # ---- chasing ----------------------------------------------------------------------------

    def _next_chase(self) -> datetime | None:
        """The earliest deadline among open requests and translations (None: nothing to chase)."""
        g = self.s.gathering
        times = [r.next_chase_at for r in g.requests if r.state.open and r.next_chase_at is not None]
        times += [t.due_at for t in g.translations if t.open and t.due_at is not None]
        return min(times, default=None)

    def _waiting_on(self) -> str | None:
        """What gathering waits on (models.records.Gathering.waiting_on), while it gathers."""
        if self.s.stage is not Stage.GATHERING_RECORDS:
            return None
        return self.s.gathering.waiting_on(bool(self._missing()), self._today())

    def _gathering_waits(self) -> bool:
        """Whether the desk is gathering for the member (a request or a translation open)."""
        g = self.s.gathering
        return any(r.state.open for r in g.requests) or any(t.open for t in g.translations)

    async def _chase(self) -> None:
        """Every deadline that has passed: a reminder while any are left, then the desk."""
        now, terms, today = workflow.now(), self.terms, self._today()
        for request in self.s.gathering.requests:
            if not request.state.open or request.next_chase_at is None or request.next_chase_at > now:
                continue
            release = self.s.gathering.release(request.release_no)
            if release is None or not release.in_force(today):
                request.state, request.ended_at, request.next_chase_at = RequestState.EXPIRED, now, None
                self._note("records request expired", f"request {request.request_no}: its release ended")
                continue
            if request.reminders < terms.chase_times:
                request.reminders += 1
                if request.state is RequestState.SENT:
                    request.state = RequestState.REMINDED
                suffix = f"reminder-{request.reminders}"
                self._queue_notice(
                    f"request-{request.request_no}",
                    self._provider_notice(request, NoticeKind.RECORDS_REQUEST_REMINDER, suffix),
                )
                request.next_chase_at = await self._working_days_on(terms.chase_every_working_days, now)
                self._note("provider reminded", f"request {request.request_no}, {request.reminders}")
                continue
            request.escalated, request.next_chase_at = True, None
            item = f"provider request {request.request_no} unanswered after {request.reminders} reminders"
            self._tell_desk(f"request-{request.request_no}-escalated", item)
        for task in self.s.gathering.translations:
            if not task.open or task.due_at is None or task.due_at > now:
                continue
            if not task.reminded:
                task.reminded = True
                task.due_at = await self._working_days_on(1, now)
                notice = self._notice(
                    NoticeKind.TRANSLATION_REQUESTED,
                    f"{short(task.doc_id)}-reminder",
                    params={"doc": task.doc_id},
                )
                self._queue_notice(f"translation-{short(task.doc_id)}", notice)
                continue
            task.escalated, task.due_at = True, None
            self._tell_desk(
                f"translation-{short(task.doc_id)}-late", f"translation of {short(task.doc_id)} late"
            )
        self._changed()

    def _tell_desk(self, suffix: str, item: str) -> None:
        notice = self._notice(NoticeKind.TEAM_NOTIFIED, suffix, params={"item": item})
        self._queue_notice(suffix, notice)
        self._set_attention(item)
        self._note("desk told", item)
