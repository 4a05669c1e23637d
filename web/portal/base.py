"""What every portal handler shares: its services, the app key they hang on, a page refusal."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from web.api import ApiServices
from web.portal.links import PortalLinks
from web.portal.ratelimit import SlidingWindow


@dataclass
class Portal:
    api: ApiServices
    links: PortalLinks
    secure_cookies: bool = True
    sign_in_limit: SlidingWindow = field(default_factory=lambda: SlidingWindow(30, 300.0))


class PageError(Exception):
    """A refusal shown as a plain page with its status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


PORTAL: web.AppKey[Portal] = web.AppKey("portal", Portal)
