"""Where the cluster's auth token comes from.

Ray 2.60 clusters require a bearer token by default. raytrain looks in ``RAY_AUTH_TOKEN``,
then ``--token-file``, then ``RAY_AUTH_TOKEN_PATH``, then ``~/.ray/auth_token`` (where a local
``ray start`` writes it), and remembers what it tried so that a 401 can say so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

from raytrain.errors import AuthError


@dataclass(frozen=True)
class Token:
    value: Optional[str]
    source: Optional[str]
    tried: tuple[str, ...]

    def header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.value}"} if self.value else {}

    def describe_tried(self) -> str:
        return ", ".join(self.tried) if self.tried else "nothing"


def default_token_path() -> Path:
    return Path.home() / ".ray" / "auth_token"


def resolve_token(
    token_file: Optional[str | Path] = None,
    env: Optional[Mapping[str, str]] = None,
    home_token: Optional[Path] = None,
) -> Token:
    """The first token found, in raytrain's documented order; ``value`` None when none is."""
    env = os.environ if env is None else env
    tried: list[str] = []

    tried.append("$RAY_AUTH_TOKEN")
    if env.get("RAY_AUTH_TOKEN", "").strip():
        return Token(env["RAY_AUTH_TOKEN"].strip(), "$RAY_AUTH_TOKEN", tuple(tried))

    if token_file:
        path = Path(token_file).expanduser()
        tried.append(f"--token-file {path}")
        value = _read(path)
        if value is None:
            raise AuthError(
                f"--token-file {path}: no such file or it is empty",
                "give the file that holds the cluster's token (ray get-auth-token prints it)",
            )
        return Token(value, f"--token-file {path}", tuple(tried))

    if env.get("RAY_AUTH_TOKEN_PATH"):
        path = Path(env["RAY_AUTH_TOKEN_PATH"]).expanduser()
        tried.append(f"$RAY_AUTH_TOKEN_PATH ({path})")
        value = _read(path)
        if value is not None:
            return Token(value, f"$RAY_AUTH_TOKEN_PATH ({path})", tuple(tried))

    path = home_token or default_token_path()
    tried.append(str(path))
    value = _read(path)
    if value is not None:
        return Token(value, str(path), tuple(tried))
    return Token(None, None, tuple(tried))


def _read(path: Path) -> Optional[str]:
    try:
        value = path.read_text().strip()
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return None
    return value or None


def enable_token_mode_for_sdk() -> None:
    """Ray 2.60's SDK sends a token only when this process is in token mode."""
    os.environ.setdefault("RAY_AUTH_MODE", "token")


def auth_failure(status: int, address: str, token: Token) -> AuthError:
    if status == 401 or token.value is None:
        return AuthError(
            f"{address}: the cluster wants an auth token and none was found "
            f"(tried {token.describe_tried()})",
            "set RAY_AUTH_TOKEN, pass --token-file, or copy the cluster's token to ~/.ray/auth_token",
        )
    return AuthError(
        f"{address}: the cluster rejected the token from {token.source}",
        "that token belongs to another cluster; get this cluster's with `ray get-auth-token` on it",
    )
