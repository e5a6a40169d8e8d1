"""Encryption at rest for the few secrets the index must keep (passwords of cameras added through the API).

Fernet (AES-128-CBC + HMAC-SHA256) with a key generated once into the data dir (mode 0600). The database
alone — a copied file, a backup — does not reveal a camera's password.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

KEY_FILE = "secrets.key"


class SecretBox:
    """Encrypts and decrypts short secrets with the data dir's key."""

    def __init__(self, data_dir: Path) -> None:
        path = data_dir / KEY_FILE
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(Fernet.generate_key())
            tmp.chmod(0o600)
            tmp.replace(path)
        self._fernet = Fernet(path.read_bytes().strip())

    def seal(self, secret: str) -> bytes:
        """Return the encrypted form of ``secret``."""
        return self._fernet.encrypt(secret.encode())

    def open(self, sealed: bytes) -> str:
        """Return the secret sealed in ``sealed``; ValueError if it was not sealed with this key."""
        try:
            return self._fernet.decrypt(sealed).decode()
        except InvalidToken as exc:
            raise ValueError("secret cannot be decrypted with this data dir's key") from exc
