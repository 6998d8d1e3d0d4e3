"""A real SMTP server for tests: aiosmtpd's Controller in a thread, recording each message."""

import asyncio
import email
import logging
import socket
import threading
from email.policy import default

from aiosmtpd.controller import Controller

logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder:
    """aiosmtpd handler: accepts each message (after ``delay`` s) unless a reply is queued in ``replies``."""

    def __init__(self):
        self.received: list[bytes] = []
        self.replies: list[str] = []  # e.g. "451 try again later": answered, in order, instead of accepting
        self.delay = 0.0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            if self.replies:
                return self.replies.pop(0)
            self.received.append(envelope.content)
        return "250 Message accepted for delivery"

    def messages(self) -> list[email.message.EmailMessage]:
        with self.lock:
            raw = list(self.received)
        return [email.message_from_bytes(content, policy=default) for content in raw]

    def count(self) -> int:
        with self.lock:
            return len(self.received)


class SmtpServer:
    """Start and stop a recording server on a fixed port (so it can be down, then up)."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.handler = Recorder()
        self.controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> "SmtpServer":
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
