"""First-run secrets for the embedded default: generated once into `.smo/secrets.env`.

Production supplies the same variables from its secret store; nothing here is in code.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from security.keys import KeyRing


def ensure_dev_secrets(home: Path) -> Path:
    """Create `<home>/secrets.env` with fresh keys unless it exists. Returns its path."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "secrets.env"
    if path.exists():
        return path
    lines = [
        "# Generated for local development. Keep out of version control.",
        f"SMO_CODEC_KEYS={KeyRing.generate_spec('codec-1')}",
        f"SMO_DOCUMENT_KEYS={KeyRing.generate_spec('docs-1')}",
        f"SMO_LINK_SECRET={secrets.token_urlsafe(32)}",
        f"SMO_HASH_KEY={secrets.token_urlsafe(32)}",
        f"SMO_CODEC_TOKENS=supervisor:{secrets.token_urlsafe(24)}",
    ]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return path
