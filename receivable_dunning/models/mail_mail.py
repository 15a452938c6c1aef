from odoo import models
from odoo.tools import SQL


class MailMail(models.Model):
    _inherit = "mail.mail"

    def _send(self, *args, **kwargs):
        """Send each mail only if this transaction could claim it, just before sending it.

        Odoo reads each mail's state before sending it, without a lock, and commits after each mail when it empties
        the queue: two processes emptying the queue together (the mail queue beside a dispatch worker, or on several
        servers) both find a mail outgoing and send it twice. Each mail is locked with ``SKIP LOCKED`` and its state
        read again right before it is sent: a mail another process holds is its to send; one it has sent since is
        no longer outgoing. The lock lasts until the mail's commit.
        """
        for mail in self:
            claimed = mail._dunning_claim_outgoing()
            if claimed:
                super(MailMail, claimed)._send(*args, **kwargs)
        return True

    def _dunning_claim_outgoing(self):
        if not self:
            return self
        self.flush_recordset(["state"])
        claimed = {
            mail_id
            for (mail_id,) in self.env.execute_query(
                SQL(
                    "SELECT id FROM mail_mail WHERE id = ANY(%s) AND state = 'outgoing' FOR UPDATE SKIP LOCKED",
                    self.ids,
                )
            )
        }
        self.invalidate_recordset(["state"])
        return self.filtered(lambda mail: mail.id in claimed)

    def _postprocess_sent_message(self, success_pids, success_emails, failure_reason=False, failure_type=None):
        """A reminder whose email the mail server refused is marked failed: retried by the next run, or replaced by
        a fallback when the address is at fault (``dunning.reminder._report_delivery_failures``)."""
        if failure_type:
            # A connection failure comes without a reason: the reminder shows the failure type's label, not its code.
            failure_labels = dict(self._fields["failure_type"]._description_selection(self.env))
            self.env["dunning.reminder"]._report_delivery_failures(
                "email",
                {
                    "messages": self.mail_message_id,
                    "reason": failure_reason or failure_labels.get(failure_type, failure_type),
                    "failure_type": failure_type,
                },
            )
        return super()._postprocess_sent_message(
            success_pids, success_emails, failure_reason=failure_reason, failure_type=failure_type
        )
