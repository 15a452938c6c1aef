from markupsafe import Markup

from odoo import api, fields, models

# The outcomes after which the call is made for the debtor's current level; after "no answer" it is tried again.
CALL_DONE_OUTCOMES = ("reached", "wrong_number", "promise", "dispute", "plan")


class DunningCallLog(models.Model):
    """The outcome of a collector's call to a debtor, one row per call: what the Today list and the payer profile
    count (calls reached, unanswered, wrong numbers, what the debtor asked for)."""

    _name = "dunning.call.log"
    _description = "Dunning Call Outcome"
    _order = "date desc, id desc"
    _check_company_auto = True

    partner_id = fields.Many2one(
        "res.partner", string="Debtor", required=True, index=True, check_company=True, ondelete="cascade"
    )
    company_id = fields.Many2one("res.company", required=True, index=True, default=lambda self: self.env.company)
    user_id = fields.Many2one("res.users", string="Collector", required=True, default=lambda self: self.env.user)
    date = fields.Date(required=True, default=fields.Date.context_today)
    outcome = fields.Selection(
        [
            ("reached", "Reached"),
            ("no_answer", "No answer"),
            ("wrong_number", "Wrong number"),
            ("promise", "Promise to pay"),
            ("dispute", "Dispute"),
            ("plan", "Asked for a plan"),
        ],
        required=True,
    )
    note = fields.Text()

    _partner_company_date_idx = models.Index("(partner_id, company_id, date)")

    @api.model
    def _log(self, partners, company, outcome, note=False):
        """Record a call outcome for each debtor, on its timeline too, and close or postpone its calls to make.

        After "no answer" the call activities move to tomorrow; after any other outcome they are done, with the
        outcome as feedback.

        :param partners: the debtors (commercial partners)
        :param company: the ``res.company`` whose invoices the call was about
        :param str outcome: a key of the ``outcome`` selection
        :return: the new ``dunning.call.log`` records
        """
        partners = partners.commercial_partner_id
        logs = self.create(
            [
                {"partner_id": partner.id, "company_id": company.id, "outcome": outcome, "note": note}
                for partner in partners
            ]
        )
        summary = self._summary(outcome)
        body = Markup("<p>%s</p>") % summary
        if note:
            body += Markup("<p>%s</p>") % note
        partners._message_log_batch(bodies=dict.fromkeys(partners.ids, body))
        activities = self._call_activities(partners, company)
        if outcome == "no_answer":
            activities.date_deadline = fields.Date.add(fields.Date.context_today(self), days=1)
        else:
            activities.action_feedback(feedback=summary)
        # The promise, dispute or plan an outcome opened counts in the payer profile at once, not the next night.
        # sudo: collectors read profiles, the recomputation writes them.
        self.env["dunning.payer.profile"].sudo()._recompute(partners=partners, companies=company)
        return logs

    @api.model
    def _summary(self, outcome):
        label = dict(self._fields["outcome"]._description_selection(self.env))[outcome]
        return self.env._("Call: %(outcome)s", outcome=label.lower())

    @api.model
    def _call_activities(self, partners, company):
        """The open activities asking to call these debtors: those of their call reminders and broken promises."""
        reminders = self.env["dunning.reminder"].search(
            [("partner_id", "in", partners.ids), ("company_id", "=", company.id), ("channel", "=", "call")]
        )
        promises = self.env["dunning.promise"].search(
            [("partner_id", "in", partners.ids), ("company_id", "=", company.id), ("state", "=", "broken")]
        )
        return self.env["mail.activity"].search(
            [
                "|",
                "&",
                ("res_model", "=", "dunning.reminder"),
                ("res_id", "in", reminders.ids),
                "&",
                ("res_model", "=", "dunning.promise"),
                ("res_id", "in", promises.ids),
            ]
        )
