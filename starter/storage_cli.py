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
from typing import Annotated

import typer

from starter.cli_common import fail

__all__ = ["storage_app"]

storage_app = typer.Typer(help="The document store: move it to another backend.", no_args_is_help=True)


@storage_app.command("migrate")
def migrate_command(
    source: Annotated[str, typer.Option("--from", help="The store the documents are in (URL or directory).")],
    target: Annotated[str, typer.Option("--to", help="The store to copy them to (a URL or a directory).")],
) -> None:
    """Copy every document to another store and verify each there; resumable."""
    from models.settings import Settings
    from runtime.blobs import StoreError, open_blobs
    from runtime.documents import DocumentStore
    from runtime.store_copy import migrate
    from security.keys import KeyRing

    if "://" not in source or source.startswith("file://"):
        folder = Path(source.removeprefix("file://"))
        if not (folder / "objects").is_dir():
            fail(f"--from {source}: no document store there (no objects/ folder)")
    keys = Settings().document_keys.get_secret_value()
    if not keys:
        fail("SMO_DOCUMENT_KEYS is not set: the documents cannot be verified without their keys")
    ring = KeyRing.parse(keys)
    stores: list[DocumentStore] = []
    try:
        stores = [DocumentStore(open_blobs(url), ring) for url in (source, target)]
        for store in stores:
            store.check()
        moved = migrate(stores[0], stores[1], say=typer.echo)
    except StoreError as exc:
        fail(str(exc))
    finally:
        for store in stores:
            store.close()
    typer.echo(str(moved))
    if moved.failed:
        raise typer.Exit(1)


if __name__ == "__main__":
    storage_app()
