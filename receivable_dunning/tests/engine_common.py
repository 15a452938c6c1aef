from contextlib import contextmanager
from unittest.mock import patch

from odoo.tools import mute_logger

from .common import DunningCommon
from .smtp_sink import SmtpSink


class DunningEngineCommon(DunningCommon):
    """Runs and dispatch helpers, and delivery through a real SMTP server on localhost."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        template = cls.env.ref("receivable_dunning.mail_template_dunning_reminder")
        cls.policy.level_ids.filtered("send_email").mail_template_id = template

    def _run(self, mode="send", **values):
        run = self.env["dunning.run"].create({"mode": mode, **values})
        run.action_execute()
        return run

    def _dispatch(self):
        """Send every queued reminder the way the dispatcher does, without its commits."""
        reminders = self.env["dunning.reminder"].search([("state", "=", "queued")], order="id")
        return reminders._dispatch()

    def _reminders(self, partner=None, **domain):
        search = [("partner_id", "=", (partner or self.debtor).id)]
        search += [(field, "=", value) for field, value in domain.items()]
        return self.env["dunning.reminder"].search(search, order="id")

    @contextmanager
    def smtp_sink(self, refused=()):
        """Deliver Odoo's mail queue to a real SMTP server on localhost, started for the block."""
        with SmtpSink(refused=refused) as sink:
            self.env["ir.mail_server"].search([]).active = False
            self.env["ir.mail_server"].create(
                {
                    "name": "Test sink",
                    "smtp_host": "127.0.0.1",
                    "smtp_port": sink.port,
                    "smtp_encryption": "none",
                    "sequence": 1,
                }
            )
            # Odoo sends nothing while tests run; this block is about sending for real.
            with patch.object(type(self.env["ir.mail_server"]), "_disable_send", return_value=False):
                yield sink

    def _flush_mail_queue(self):
        with mute_logger("odoo.addons.mail.models.mail_mail"):
            self.env["mail.mail"].search([("state", "=", "outgoing")]).send()
