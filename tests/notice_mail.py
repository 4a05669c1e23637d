"""The mail activity as the worker builds it, and portal links that stay put, for the notice tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from activities.notices import EmailActivities
from models.settings import Settings
from models.vocabulary import Language
from worker import Services, activities_for


@pytest.fixture
def mail(settings: Settings) -> Iterator[EmailActivities]:
    """The worker's own `EmailActivities` (its programs, signer and templates) on a fresh case DB."""
    services = Services.from_settings(settings)
    (send_notice,) = [a for a in activities_for(services) if getattr(a, "__name__", "") == "send_notice"]
    yield send_notice.__self__  # type: ignore[attr-defined]
    services.engine.dispose()


class FixedPortal:
    """Portal links that stay put, so that only the words are compared."""

    def sign_in_url(self, case_id: str, dob: date, language: Language) -> tuple[str, datetime]:
        url = f"https://smo.example/portal/signin/{case_id}?lang={language.value}"
        return url, datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def assignment_url(self, case_id: str, assignment_no: int, specialist_id: str) -> str:
        return f"https://smo.example/portal/assignments/{case_id}/{assignment_no}/{specialist_id}"

    def confirmation_url(self, case_id: str, language: Language = Language.EN) -> tuple[str, datetime]:
        url = f"https://smo.example/portal/confirm/{case_id}?lang={language.value}"
        return url, datetime(2026, 12, 1, tzinfo=UTC)

    def task_url(self, kind: str, case_id: str, ref: str) -> str:
        return f"https://smo.example/portal/{kind}/{case_id}/{ref}"
