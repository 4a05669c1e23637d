"""Billing: customer charges recorded in the case DB's ledger, one charge per idempotency key, ever.

The unique index on `idempotency_key` is the guarantee: a retried charge finds its row
and returns it instead of charging again. A payment processor would sit behind
`Ledger.charge` with the same key passed through as its own idempotency key.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.billing import PAYMENT_DECLINED, ChargeRequest, ChargeResult
from models.db import LedgerEntry
from runtime import metrics

__all__ = ["BillingActivities", "ChargeRequest", "ChargeResult", "Ledger", "PaymentDeclinedError"]


class PaymentDeclinedError(Exception):
    """The payment side refused the charge (card declined, account closed): retrying won't help."""


class Ledger:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _find(self, session: Session, key: str) -> LedgerEntry | None:
        return session.exec(select(LedgerEntry).where(LedgerEntry.idempotency_key == key)).first()

    def charge(self, req: ChargeRequest) -> ChargeResult:
        with Session(self.engine) as session:
            found = self._find(session, req.idempotency_key)
            created = False
            if found is None:
                entry = LedgerEntry(
                    idempotency_key=req.idempotency_key,
                    case_id=req.case_id,
                    kind=req.kind,
                    amount_cents=req.amount_cents,
                    currency=req.currency,
                )
                session.add(entry)
                try:
                    session.commit()
                    found, created = entry, True
                except IntegrityError:
                    # A concurrent attempt with the same key won the insert: use its row.
                    session.rollback()
                    found = self._find(session, req.idempotency_key)
            assert found is not None and found.id is not None
            return ChargeResult(
                charge_id=found.id,
                idempotency_key=found.idempotency_key,
                amount_cents=found.amount_cents,
                currency=found.currency,
                created=created,
            )

    def entries(self, case_id: str | None = None) -> list[LedgerEntry]:
        with Session(self.engine) as session:
            query = select(LedgerEntry)
            if case_id:
                query = query.where(LedgerEntry.case_id == case_id)
            return list(session.exec(query))


class BillingActivities:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    @activity.defn(name="charge_customer")
    async def charge_customer(self, req: ChargeRequest) -> ChargeResult:
        try:
            result = await asyncio.to_thread(self.ledger.charge, req)
        except PaymentDeclinedError as exc:
            # A business answer: the case records it and tells a person; no retry.
            raise ApplicationError(str(exc), type=PAYMENT_DECLINED, non_retryable=True) from exc
        metrics.charge(req.kind, created=result.created)
        activity.logger.info(
            "charge %s",
            "recorded" if result.created else "already recorded",
            extra={"idempotency_key": req.idempotency_key},
        )
        return result
