"""The secret key when ``SECRET_KEY`` is not set: random, made once, kept in ``DATA_DIR``.

So ``make run`` needs no setting and still signs sessions with a key nobody else
knows, the same across restarts and for every process sharing ``DATA_DIR`` (web,
worker, beat). Several hosts serving one site must set ``SECRET_KEY`` instead.
"""

import os
import secrets
import stat
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

FILE_NAME = "secret_key"


def persisted_secret_key(data_dir: Path) -> str:
    """Read ``data_dir/secret_key``, creating it (mode 0600) first if it does not exist.

    Safe when several processes start at once: the file appears complete or not at all.
    """
    path = data_dir / FILE_NAME
    if not path.exists():
        temporary = data_dir / f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
        try:
            os.link(temporary, path)  # fails if another process made it first: theirs wins
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        raise ImproperlyConfigured(f"{path} is readable by other users: run `chmod 600 {path}`.")
    key = path.read_text().strip()
    if len(key) < 32:
        raise ImproperlyConfigured(f"{path} holds no usable key: delete it to have a new one made.")
    return key
