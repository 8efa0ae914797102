"""Secrets stored in the database (S3 secret keys, credential authorizations), encrypted.

The key is derived from SECRET_KEY (Fernet = AES-128-CBC + HMAC-SHA256). Rotating
SECRET_KEY keeps old secrets readable as long as the old key is listed in
SECRET_KEY_FALLBACKS.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

_HKDF_INFO = b"modelarts-console: stored secrets v1"


@functools.cache
def _fernet_for(secret_key: str):
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(raw))


def _fernet():
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([_fernet_for(key) for key in keys])


def encrypt_secret(plain: str) -> str:
    """Ciphertext for the database; "" stays "" (no secret set)."""
    if not plain:
        return ""
    return _fernet().encrypt(plain.encode()).decode("ascii")


def decrypt_secret(token: str) -> str:
    """The plain secret. Raises ImproperlyConfigured-like ValueError if SECRET_KEY changed."""
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode("ascii")).decode()
    except InvalidToken:
        raise ValueError(
            "A stored secret cannot be decrypted: SECRET_KEY changed. Put the old key in "
            "SECRET_KEY_FALLBACKS, or enter the secret again."
        ) from None
