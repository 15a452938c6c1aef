from psycopg2.errors import SerializationFailure

from odoo import models
from odoo.tools import SQL


class MailMail(models.Model):
    _inherit = "mail.mail"

    def _send(
        self,
        auto_commit=False,
        raise_exception=False,
        smtp_session=None,
        alias_domain_id=False,
        mail_server=False,
        post_send_callback=None,
    ):
        """Send each mail only if this transaction could claim it, just before sending it.

        Odoo reads each mail's state before sending it, without a lock, and commits after each mail when it empties
        the queue: two processes emptying the queue together (the mail queue beside a dispatch worker, or on several
        servers) both find a mail outgoing and send it twice. Each mail is locked with ``SKIP LOCKED`` and its state
        read again right before it is sent: a mail another process holds is its to send; one it has sent since is
        no longer outgoing. The lock lasts until the mail's commit.
        """
        send_options = {
            "auto_commit": auto_commit,
            "raise_exception": raise_exception,
            "smtp_session": smtp_session,
            "alias_domain_id": alias_domain_id,
            "mail_server": mail_server,
            "post_send_callback": post_send_callback,
        }
        mails = self
        if mail_server:
            if not self._filter_mail_mail_servers(mail_server):
                # Odoo's own refusal of the server, for the whole batch before any mail is sent
                return super()._send(**send_options)
            # Odoo checks the server once for its batch; each mail's own call would read it again after each commit
            mails = self.with_context(dunning_allowed_mail_server_ids=tuple(mail_server.ids))
        for mail in mails:
            claimed = mail._dunning_claim_outgoing()
            if claimed:
                super(MailMail, claimed)._send(**send_options)
        return True

    def _filter_mail_mail_servers(self, mail_servers):
        if self.env.context.get("dunning_allowed_mail_server_ids") == tuple(mail_servers.ids):
            return mail_servers
        return super()._filter_mail_mail_servers(mail_servers)

    def _dunning_claim_outgoing(self):
        """The mails of ``self`` still outgoing that this transaction could lock; the others are another process's.

        A mail another process has sent and committed after this transaction's snapshot cannot be locked (Odoo's
        transactions are repeatable read): PostgreSQL refuses with a serialization failure, which means the same
        as a mail already sent. The claim is in a savepoint, so that the refusal does not abort the transaction.
        """
        if not self:
            return self
        self.flush_recordset(["state"])
        try:
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute(
                    SQL(
                        "SELECT id FROM mail_mail WHERE id = ANY(%s) AND state = 'outgoing' FOR UPDATE SKIP LOCKED",
                        self.ids,
                    ),
                    log_exceptions=False,
                )
                claimed = {mail_id for (mail_id,) in self.env.cr.fetchall()}
        except SerializationFailure:
            claimed = set()
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
