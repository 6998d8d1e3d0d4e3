"""One small ``Transport`` per way of sending (after Healthchecks' integrations).

``send()`` delivers one message or raises ``TransportError``, which the caller
records on the outbox row: ``permanent`` for a 5xx reply (retrying will not
help), otherwise temporary (connection refused, timeouts, 4xx) and retried.
A transport keeps its connection open across ``send()`` calls until ``close()``.
"""

import contextlib
import os
import smtplib
import ssl
import sys
import tempfile
from email.message import EmailMessage
from pathlib import Path

from django.conf import settings


class TransportError(Exception):
    """Sending failed; ``reply`` is what the server (or the network) said."""

    def __init__(self, reply: str, *, permanent: bool = False, connection: bool = False):
        super().__init__(reply)
        self.reply = reply
        self.permanent = permanent
        self.connection = connection  # the server could not be reached: the rest of a batch waits too


class Transport:
    def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SmtpTransport(Transport):
    """SMTP, plain, STARTTLS or implicit TLS; one connection reused for many messages."""

    def __init__(self, host: str, port: int, username: str = "", password: str = "",
                 use_tls: bool = False, use_ssl: bool = False, timeout: float = 30):
        self.host, self.port, self.username, self.password = host, port, username, password
        self.use_tls, self.use_ssl, self.timeout = use_tls, use_ssl, timeout
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        try:
            if self.use_ssl:
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                        context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                if self.use_tls:
                    smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password)
        except smtplib.SMTPResponseException as exc:
            raise _reply_error(exc.smtp_code, exc.smtp_error, connection=True) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TransportError(f"cannot connect to {self.host}:{self.port}: {exc}",
                                 connection=True) from exc
        return smtp

    def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        for attempt in (1, 2):
            if self._smtp is None:
                self._smtp = self._connect()
            try:
                self._smtp.send_message(message, sender, [recipient])
                return
            except smtplib.SMTPRecipientsRefused as exc:
                code, reply = next(iter(exc.recipients.values()))
                self._reset()
                raise _reply_error(code, reply) from exc
            except smtplib.SMTPResponseException as exc:
                self._reset()
                raise _reply_error(exc.smtp_code, exc.smtp_error) from exc
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                # The server closed a connection we reused (idle timeout, message limit):
                # reconnect once; a second loss means the server is gone.
                self.close()
                if attempt == 2:
                    raise TransportError(f"connection lost: {exc}", connection=True) from exc

    def _reset(self) -> None:
        try:
            self._smtp.rset()
        except Exception:
            self.close()

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except Exception:
                with contextlib.suppress(Exception):
                    self._smtp.close()
            self._smtp = None


def _reply_error(code: int, reply, *, connection: bool = False) -> TransportError:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return TransportError(f"{code} {text}", permanent=500 <= code < 600, connection=connection)


class FileTransport(Transport):
    """Each message as a standard ``.eml`` file in ``folder`` (the embedded default).

    Named after the Message-ID, so a message sent twice is one file; written to a
    temporary name and renamed, so a reader never sees half a message.
    """

    def __init__(self, folder: str):
        self.folder = Path(folder)

    def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        name = "".join(c if c.isalnum() or c in ".-_" else "_" for c in message["Message-ID"].strip("<>"))
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            with os.fdopen(fd, "wb") as out:
                out.write(message.as_bytes())
            os.replace(temp, self.folder / f"{name}.eml")
        except OSError as exc:
            raise TransportError(f"cannot write to {self.folder}: {exc}") from exc


class ConsoleTransport(Transport):
    """Each message printed to standard output (for development)."""

    def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        sys.stdout.write(message.as_string() + "\n" + "-" * 72 + "\n")
        sys.stdout.flush()


def from_settings() -> Transport:
    """The transport ``EMAIL_URL`` names."""
    config = settings.EMAIL_CONFIG
    if config.transport == "smtp":
        return SmtpTransport(config.host, config.port, config.username, config.password,
                             config.use_tls, config.use_ssl, config.timeout)
    if config.transport == "console":
        return ConsoleTransport()
    return FileTransport(config.path)
