"""The service's one web application, as `smo web` and `smo dev` serve it.

It puts the API (`/api/v1`, `/openapi.json`) and the portal (`/portal`, where SMO_HASH_KEY
is set) next to the codec endpoint and the signed report links, over the same case DB, store
and keys the worker uses; `web.transport` guards the connections beneath them all (a body
read timeout, error answers that quote nothing, the security headers).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from aiohttp import web
from temporalio.client import Client

from models.settings import Settings
from runtime.portal_links import PortalLinks
from runtime.temporal import connect, converter_for
from runtime.web import build_web_app
from security.codec import EncryptionCodec
from web.app import add_api
from web.backends import Backends
from web.links import add_document_links
from web.portal.app import add_portal
from web.portal.base import Portal
from web.tokens import TokenStore
from web.transport import harden
from worker import Services


def service_app(
    settings: Settings,
    services: Services,
    *,
    dev: bool = False,
    client: Callable[[], Awaitable[Client]] | None = None,
) -> web.Application:
    """`client` overrides how the API reaches Temporal (tests hand it their test server's client)."""
    codec = converter_for(settings).payload_codec
    assert isinstance(codec, EncryptionCodec)
    backends = Backends(
        settings=settings,
        engine=services.engine,
        store=services.store,
        programs=services.programs,
        connect=client or partial(connect, settings),
        outbox_dir=settings.outbox_dir if dev else None,
    )
    app = build_web_app(
        engine=services.engine,
        codec=codec,
        tokens=settings.codec_token_map(),
        cors_origins=settings.ui_origins,
        api=partial(add_api, backends=backends, tokens=TokenStore(services.engine)),
    )
    add_document_links(app, backends, services.signer)
    if settings.hash_key.get_secret_value():
        links = PortalLinks.from_settings(services.engine, settings)
        add_portal(app, Portal(backends=backends, links=links, secure_cookies=not dev))
    harden(app, settings)
    return app
