"""`smo storage migrate --from URL --to URL`: move the documents to another store.

Run where the document keys are (SMO_DOCUMENT_KEYS, or `.smo/secrets.env`): a URL is what
`SMO_STORAGE_URL` takes, `s3://bucket[/prefix]?endpoint=…&region=…` (the credentials from the
usual AWS variables) or a directory. Every document is copied and verified by decrypting and
hashing it in the target (runtime/store_copy.py); run it again after an interruption to finish.
It ends with the counts copied, verified and failed, and exits 1 when any failed.
Imports stay light at module level so `smo --help` loads no store.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from starter.cli_common import fail

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from models.settings import Settings
    from security.keys import KeyRing

__all__ = ["storage_app"]


def _keys_and_case_db(why: str) -> tuple[Settings, KeyRing, Engine]:
    """The settings, the master ring (or a stop saying `why` it is needed) and the case DB,
    where the case keys are (and which every store of this deployment shares)."""
    from models.settings import Settings
    from runtime.db import make_engine
    from security.keys import KeyRing

    settings = Settings()
    keys = settings.document_keys.get_secret_value()
    if not keys:
        fail(f"SMO_DOCUMENT_KEYS is not set: {why}")
    return settings, KeyRing.parse(keys), make_engine(settings.db_url)


storage_app = typer.Typer(
    help="The document store: move it to another backend, rekey old cases, rewrap case keys.",
    no_args_is_help=True,
)


@storage_app.command("migrate")
def migrate_command(
    source: Annotated[str, typer.Option("--from", help="The store the documents are in (URL or directory).")],
    target: Annotated[str, typer.Option("--to", help="The store to copy them to (a URL or a directory).")],
) -> None:
    """Copy every document to another store and verify each there; resumable."""
    from runtime.blobs import StoreError, open_blobs
    from runtime.documents import DocumentStore
    from runtime.store_copy import migrate

    if "://" not in source or source.startswith("file://"):
        folder = Path(source.removeprefix("file://"))
        if not (folder / "objects").is_dir() and not (folder / "cases").is_dir():
            fail(f"--from {source}: no document store there (no objects/ or cases/ folder)")
    _, ring, engine = _keys_and_case_db("the documents cannot be verified without their keys")
    stores: list[DocumentStore] = []
    try:
        stores = [DocumentStore(open_blobs(url), ring, engine) for url in (source, target)]
        for store in stores:
            store.check()
        moved = migrate(stores[0], stores[1], say=typer.echo)
    except StoreError as exc:
        fail(str(exc))
    finally:
        for store in stores:
            store.close()
        engine.dispose()
    typer.echo(str(moved))
    if moved.failed:
        raise typer.Exit(1)


@storage_app.command("rekey")
def rekey_command(
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="Also remove what earlier runs kept, once no legacy case may read it.",
        ),
    ] = False,
) -> None:
    """Rewrite the documents of cases from before case keys under each case's own key; resumable."""
    import asyncio

    from temporalio.client import WorkflowExecutionStatus

    from runtime.blobs import StoreError, open_blobs
    from runtime.documents import DocumentStore
    from runtime.store_rekey import rekey
    from runtime.temporal import connect
    from service.cases import describe, status

    settings, ring, engine = _keys_and_case_db("the documents cannot be read without their keys")
    store = DocumentStore(open_blobs(settings.store_url), ring, engine)

    async def main() -> str:
        try:
            client = await connect(settings)
        except RuntimeError as exc:
            fail(f"Temporal at {settings.temporal_address}: {exc}")
        loop = asyncio.get_running_loop()

        def sheet(case_id: str) -> str | None:
            # The case's details sheet is named by the case itself (kept while its history is).
            async def ask() -> str | None:
                if await describe(client, case_id) is None:
                    return None
                return (await status(client, case_id)).intake_doc_id

            return asyncio.run_coroutine_threadsafe(ask(), loop).result()

        def running(case_id: str) -> bool:
            async def ask() -> bool:
                found = await describe(client, case_id)
                return found is not None and found.status == WorkflowExecutionStatus.RUNNING

            return asyncio.run_coroutine_threadsafe(ask(), loop).result()

        done = await asyncio.to_thread(rekey, store, sheet, running, typer.echo, prune=prune)
        return str(done)

    try:
        store.check()
        typer.echo(asyncio.run(main()))
    except StoreError as exc:
        fail(str(exc))
    finally:
        store.close()
        engine.dispose()


@storage_app.command("rewrap")
def rewrap_command() -> None:
    """Wrap every case key again under the first key of SMO_DOCUMENT_KEYS (after a rotation)."""
    from runtime.case_keys import CaseKeys
    from security.envelope import IntegrityError

    _, ring, engine = _keys_and_case_db("the case keys cannot be unwrapped without it")
    try:
        rewrapped, already = CaseKeys(engine, ring).rewrap()
    except IntegrityError as exc:
        fail(f"{exc}: keep every master key that wrapped a case key in SMO_DOCUMENT_KEYS until this is done")
    finally:
        engine.dispose()
    typer.echo(f"{rewrapped} case keys rewrapped under {ring.current_id}; {already} were already")


if __name__ == "__main__":
    storage_app()
