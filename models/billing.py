"""A customer charge as the case asks for it, and the ledger's answer.

`PAYMENT_DECLINED` is the error type billing raises (non-retryable) when the payment side
refuses a charge: a business answer, not an outage.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

PAYMENT_DECLINED = "PaymentDeclined"


class ChargeRequest(BaseModel):
    idempotency_key: str = Field(min_length=8, max_length=128)
    case_id: str
    kind: str
    amount_cents: int = Field(gt=0)
    currency: str = Field(min_length=3, max_length=3)


class ChargeResult(BaseModel):
    charge_id: int
    idempotency_key: str
    amount_cents: int
    currency: str
    created: bool
