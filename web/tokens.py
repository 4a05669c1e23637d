"""Personal API tokens: issue, list, revoke, and resolve a presented token to its user.

A token is `smo_` plus 43 URL-safe characters (256 random bits). The database keeps its
sha256 only, so a copy of the database lets no one call the API.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from models.db import table
from models.users import ApiUser, Role

TOKEN_PREFIX = "smo_"
TOKEN_RE = re.compile(r"^smo_[A-Za-z0-9_-]{43}$")
USER_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
PROGRAM_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")
DEFAULT_LIFETIME = timedelta(days=365)


class UserRefused(ValueError):
    """A user-management request that cannot be carried out, said in one sentence."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's user, role and program scope (empty scope = every program)."""

    name: str
    role: Role
    programs: frozenset[str]

    def may_see(self, program: str | None) -> bool:
        return not self.programs or program in self.programs


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", errors="replace")).hexdigest()


def _aware(value: datetime) -> datetime:
    # SQLite hands datetimes back without their zone; they were written in UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class TokenStore:
    """The `api_users` table (migration 0003)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(
        self,
        name: str,
        role: Role,
        programs: Sequence[str] = (),
        lifetime: timedelta = DEFAULT_LIFETIME,
        now: datetime | None = None,
    ) -> str:
        """Create the user (or give a revoked one a new token) and return the new token."""
        if not USER_NAME_RE.fullmatch(name):
            raise UserRefused(
                f"{name!r} is not a user name: 2-64 of a-z, 0-9, '.', '_', '-', from a letter or digit"
            )
        bad = [p for p in programs if not PROGRAM_RE.fullmatch(p)]
        if bad:
            raise UserRefused(f"{bad[0]!r} is not a program name")
        if lifetime <= timedelta(0):
            raise UserRefused("a token must live for at least a day")
        now = now or datetime.now(UTC)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with Session(self.engine) as session:
            existing = session.get(ApiUser, name)
            if existing is not None and existing.revoked_at is None:
                raise UserRefused(f"user {name} exists; revoke it first to issue a new token")
            if existing is not None:
                session.delete(existing)
                session.flush()
            session.add(
                ApiUser(
                    name=name,
                    role=role.value,
                    programs=",".join(sorted(set(programs))),
                    token_hash=token_hash(token),
                    created_at=now,
                    expires_at=now + lifetime,
                )
            )
            session.commit()
        return token

    def revoke(self, name: str, now: datetime | None = None) -> None:
        with Session(self.engine) as session:
            user = session.get(ApiUser, name)
            if user is None:
                raise UserRefused(f"no user {name}")
            if user.revoked_at is None:
                user.revoked_at = now or datetime.now(UTC)
                session.add(user)
                session.commit()

    def users(self) -> list[ApiUser]:
        with Session(self.engine) as session:
            return list(session.exec(select(ApiUser).order_by(ApiUser.name)))

    def resolve(self, token: str, now: datetime | None = None) -> Principal | None:
        """The caller behind a token, or None when it is malformed, unknown, revoked or expired."""
        if not TOKEN_RE.fullmatch(token):
            return None
        now = now or datetime.now(UTC)
        # Core, not the ORM: every API call asks this, and the ORM's unit of work is its cost.
        users = table(ApiUser)
        columns = (users.c.name, users.c.role, users.c.programs, users.c.expires_at, users.c.revoked_at)
        with self.engine.connect() as conn:
            user = conn.execute(sa_select(*columns).where(users.c.token_hash == token_hash(token))).first()
        if user is None or user.revoked_at is not None or _aware(user.expires_at) <= now:
            return None
        programs = frozenset(p for p in user.programs.split(",") if p)
        return Principal(name=user.name, role=Role(user.role), programs=programs)
