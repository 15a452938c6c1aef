"""A real SMTP server on localhost for the tests: Odoo delivers the reminders to it and the tests read them."""

import email
import socket
from email import policy

from aiosmtpd.controller import Controller


class _Handler:
    def __init__(self, refused):
        self.refused = refused
        self.messages = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refused:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append({"rcpt_tos": list(envelope.rcpt_tos), "message": message})
        return "250 Message accepted for delivery"


class SmtpSink:
    """Context manager: an SMTP server on 127.0.0.1 that keeps what it receives.

    :param refused: addresses answered with a 550 at RCPT time, to test a refusal by the mail server
    """

    def __init__(self, refused=()):
        self.handler = _Handler(set(refused))
        self.port = _free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc_info):
        self.controller.stop()

    @property
    def messages(self):
        return self.handler.messages

    def messages_to(self, address):
        return [item["message"] for item in self.messages if address in item["rcpt_tos"]]

    @staticmethod
    def html_body(message):
        part = message.get_body(preferencelist=("html", "plain"))
        return part.get_content() if part else ""

    @staticmethod
    def attachment_names(message):
        return [part.get_filename() for part in message.iter_attachments()]


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
