"""Encryption at rest for the few secrets the index must keep (passwords of cameras added through the API).

Fernet (AES-128-CBC + HMAC-SHA256) with a key generated once into the data dir (mode 0600). The database
alone — a copied file, a backup — does not reveal a camera's password.

Several nodes sharing one index (``cluster``) must all open what any of them sealed (a camera moves to another
node when its node dies): there the key is derived from the shared ``cluster.secret`` instead
(mediaserver/cluster_client.py), and the data dir's own key still opens what was sealed before the cluster.
"""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

KEY_FILE = "secrets.key"


class SecretBox:
    """Encrypts and decrypts short secrets with the data dir's key."""

    def __init__(self, data_dir: Path, shared_key: bytes | None = None) -> None:
        path = data_dir / KEY_FILE
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(Fernet.generate_key())
            tmp.chmod(0o600)
            tmp.replace(path)
        own = Fernet(path.read_bytes().strip())
        # A cluster seals with the key every node derives alike; the first key of a MultiFernet seals, any opens.
        self._fernet = own if shared_key is None else MultiFernet([Fernet(base64.urlsafe_b64encode(shared_key)), own])

    def seal(self, secret: str) -> bytes:
        """Return the encrypted form of ``secret``."""
        return self._fernet.encrypt(secret.encode())

    def open(self, sealed: bytes) -> str:
        """Return the secret sealed in ``sealed``; ValueError if it was not sealed with this key."""
        try:
            return self._fernet.decrypt(sealed).decode()
        except InvalidToken as exc:
            raise ValueError("secret cannot be decrypted with this data dir's key") from exc
