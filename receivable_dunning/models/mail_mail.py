from odoo import models


class MailMail(models.Model):
    _inherit = "mail.mail"

    def _postprocess_sent_message(self, success_pids, success_emails, failure_reason=False, failure_type=None):
        """A reminder whose email the mail server refused is marked failed: retried by the next run, or replaced by
        a fallback when the address is at fault (``dunning.reminder._report_delivery_failures``)."""
        if failure_type:
            self.env["dunning.reminder"]._report_delivery_failures(
                "email",
                {
                    "messages": self.mail_message_id,
                    "reason": failure_reason or failure_type,
                    "failure_type": failure_type,
                },
            )
        return super()._postprocess_sent_message(
            success_pids, success_emails, failure_reason=failure_reason, failure_type=failure_type
        )
