"""Pseudonymous customer ids: a keyed hash in place of an email, the same in every run.

A customer id becomes ``c_`` followed by the first 16 hex digits (64 bits) of
HMAC-SHA256(key, id as UTF-8). Without the key the token cannot be turned back into the id,
nor recomputed from a guessed email; with the same key, the same customer gets the same
token in every run and every output (``segments.csv``, ``customers.csv``, ``scored.csv``).
Two of a million customers share a token with odds of about 1 in 37 million; should it
happen, the run stops rather than merge them.

The key, first found wins: ``--pseudonymize-key``; the environment variable
``SEGMINT_PSEUDONYMIZE_KEY``; else a random key kept in ``$XDG_CONFIG_HOME/segmint/
pseudonymize.key`` (``~/.config/...``), made on first use and readable by its owner only.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path

from segmint.errors import SegmintError

__all__ = ["ENV_KEY", "TOKEN_HEX", "key_file", "looks_like_email", "pseudonymize", "resolve_key"]

#: The environment variable holding the key.
ENV_KEY = "SEGMINT_PSEUDONYMIZE_KEY"
#: Hex digits of the HMAC kept in a token (64 bits).
TOKEN_HEX = 16

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def looks_like_email(values: Iterable[str], column: str = "") -> bool:
    """True when the id column is named like an email column or any id reads as an email."""
    if "mail" in column.lower():
        return True
    return any(_EMAIL.fullmatch(str(v).strip()) for v in values)


def key_file() -> Path:
    """Where the key made on first use is kept."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "segmint" / "pseudonymize.key"


def resolve_key(key: str | None = None) -> tuple[bytes, str]:
    """The key and where it came from (for the run's notes; never the key itself).

    Raises
    ------
    SegmintError
        When no key is given and none can be kept in the user's configuration folder.
    """
    if key:
        return key.encode("utf-8"), "--pseudonymize-key"
    env = os.environ.get(ENV_KEY)
    if env:
        return env.encode("utf-8"), f"${ENV_KEY}"
    path = key_file()
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(secrets.token_hex(32) + "\n")
        text = path.read_text(encoding="ascii").strip()
    except FileExistsError:  # made by a run started at the same moment
        text = path.read_text(encoding="ascii").strip()
    except OSError as exc:
        raise SegmintError(
            f"cannot keep a pseudonymisation key in {path} ({exc.strerror}); "
            f"set {ENV_KEY} or pass --pseudonymize-key"
        ) from None
    if not text:
        raise SegmintError(f"{path} is empty; delete it, or set {ENV_KEY}")
    return text.encode("utf-8"), str(path)


def pseudonymize(ids: Sequence[str], key: bytes) -> list[str]:
    """Tokens of ``ids``, in order.

    Raises
    ------
    SegmintError
        When two different ids get one token (never seen; it would merge two customers).
    """
    tokens = [
        "c_" + hmac.new(key, str(i).encode("utf-8"), hashlib.sha256).hexdigest()[:TOKEN_HEX]
        for i in ids
    ]
    if len(set(tokens)) != len(set(ids)):
        raise SegmintError(
            "two customer ids share a pseudonymous token; pass another --pseudonymize-key"
        )
    return tokens
