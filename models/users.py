"""API users and their personal tokens: who may call the service's HTTP edge, in which role.

Only a token's sha256 is stored: the token itself is shown once, when the user is added.
A user with no programs listed may see every program's cases.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class Role(StrEnum):
    COORDINATOR = "coordinator"
    SUPERVISOR = "supervisor"


class ApiUser(SQLModel, table=True):
    __tablename__ = "api_users"

    name: str = Field(primary_key=True, max_length=64)
    role: str = Field(max_length=16)
    # Comma-separated program names; empty means every program.
    programs: str = Field(default="", max_length=400)
    token_hash: str = Field(index=True, unique=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: datetime | None = None

    @property
    def program_list(self) -> list[str]:
        return [p for p in self.programs.split(",") if p]
