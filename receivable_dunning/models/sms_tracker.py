from odoo import models


class SmsTracker(models.Model):
    _inherit = "sms.tracker"

    def _update_sms_notifications(self, notification_status, failure_type=False, failure_reason=False):
        """A reminder whose SMS the provider refused, at sending or in a later delivery report, is marked failed:
        retried by the next run, or replaced by a fallback when the number is at fault
        (``dunning.reminder._report_delivery_failures``)."""
        result = super()._update_sms_notifications(
            notification_status, failure_type=failure_type, failure_reason=failure_reason
        )
        if notification_status in ("exception", "bounce"):
            notifications = self.mail_notification_id.filtered(
                lambda n: n.notification_status == notification_status and n.mail_message_id.model == "dunning.reminder"
            )
            if notifications:
                self.env["dunning.reminder"]._report_delivery_failures(
                    "sms", {"notifications": notifications, "failure_type": failure_type}
                )
        return result
