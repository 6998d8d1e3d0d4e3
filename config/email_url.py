"""``EMAIL_URL``: how the product sends email, parsed once at start-up.

dj-email-url reads the URL (user, password, host, port, path, ``?timeout=``);
this module adds the ``smtp+tls`` / ``smtp+ssl`` spellings, the embedded default
(``.eml`` files under ``DATA_DIR/outbox``) and a refusal that names the variable
and says why, so a malformed URL stops the app at start instead of losing mail.
"""

from dataclasses import dataclass
from pathlib import Path

import dj_email_url
from django.core.exceptions import ImproperlyConfigured

#: scheme -> (transport, STARTTLS, implicit TLS)
SCHEMES = {
    "smtp": ("smtp", False, False),
    "smtp+tls": ("smtp", True, False),
    "smtp+ssl": ("smtp", False, True),
    "console": ("console", False, False),
    "file": ("file", False, False),
}
DEFAULT_PORTS = {(False, False): 25, (True, False): 587, (False, True): 465}


@dataclass(frozen=True)
class EmailConfig:
    transport: str  # smtp | console | file
    host: str = ""
    port: int = 0
    username: str = ""
    password: str = ""
    use_tls: bool = False
    use_ssl: bool = False
    timeout: float = 30.0
    path: str = ""

    def describe(self) -> str:
        """The configuration without its password, for logs and the outbox page."""
        if self.transport == "smtp":
            scheme = "smtp+ssl" if self.use_ssl else "smtp+tls" if self.use_tls else "smtp"
            user = f"{self.username}@" if self.username else ""
            return f"{scheme}://{user}{self.host}:{self.port}"
        if self.transport == "file":
            return f".eml files in {self.path}"
        return "the console (standard output)"


def parse_email_url(url: str, *, data_dir: Path) -> EmailConfig:
    """The ``EmailConfig`` for ``url``; unset or empty means ``.eml`` files in ``data_dir/outbox``.

    Raises ``ImproperlyConfigured`` naming ``EMAIL_URL`` and the fix when the URL is malformed.
    """
    if not url:
        return EmailConfig("file", path=str(Path(data_dir) / "outbox"))
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SCHEMES:
        raise ImproperlyConfigured(
            f"EMAIL_URL has an unknown scheme {scheme!r}: use smtp://user:pass@host:port, smtp+tls://… "
            "(STARTTLS), smtp+ssl://… (implicit TLS), console:// or file:///path."
        )
    transport, use_tls, use_ssl = SCHEMES[scheme]
    try:
        # dj-email-url reads the parts; "dummy" so it adds no host or port of its own (the
        # defaults below depend on TLS, which our scheme names).
        conf = dj_email_url.parse(("dummy" if transport == "smtp" else scheme) + "://" + rest)
    except ValueError as exc:  # e.g. a port that is not a number
        raise ImproperlyConfigured(f"EMAIL_URL is malformed ({exc}); expected e.g. "
                                   "smtp://user:pass@mail.example.org:587") from exc
    timeout = conf.get("EMAIL_TIMEOUT") or 30
    if transport == "file":
        if not conf["EMAIL_FILE_PATH"]:
            raise ImproperlyConfigured("EMAIL_URL file:// needs a folder: file:///var/mail/outbox")
        return EmailConfig("file", path="/" + conf["EMAIL_FILE_PATH"].lstrip("/"))
    if transport == "console":
        return EmailConfig("console")
    use_tls = use_tls or conf["EMAIL_USE_TLS"]
    use_ssl = use_ssl or conf["EMAIL_USE_SSL"]
    if not conf["EMAIL_HOST"]:
        raise ImproperlyConfigured("EMAIL_URL names no mail server host: smtp://user:pass@host:port")
    port = conf["EMAIL_PORT"] or DEFAULT_PORTS[(use_tls, use_ssl)]
    if not 0 < port < 65536:
        raise ImproperlyConfigured(f"EMAIL_URL has port {port}; use 1-65535.")
    return EmailConfig("smtp", host=conf["EMAIL_HOST"], port=port,
                       username=conf["EMAIL_HOST_USER"] or "", password=conf["EMAIL_HOST_PASSWORD"] or "",
                       use_tls=use_tls, use_ssl=use_ssl, timeout=float(timeout))
