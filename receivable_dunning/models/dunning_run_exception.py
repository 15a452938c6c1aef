from odoo import fields, models


class DunningRunException(models.Model):
    """A debtor that a run did not remind, or could not reach, and why: the collector's to-check list."""

    _name = "dunning.run.exception"
    _description = "Dunning Run Exception"
    _order = "run_id desc, id"
    _check_company_auto = True

    run_id = fields.Many2one("dunning.run", required=True, index=True, ondelete="cascade")
    company_id = fields.Many2one("res.company", required=True, index=True)
    partner_id = fields.Many2one("res.partner", string="Debtor", required=True, check_company=True)
    reason = fields.Selection(
        [
            ("no_contact", "No usable contact"),
            ("no_channel", "No allowed channel"),
            ("on_hold", "On hold"),
            ("interval", "Interval not reached"),
            ("under_minimum", "Under minimum"),
            ("disputed", "Disputed"),
            ("promise", "Promise pending"),
            ("plan", "Instalment plan"),
            ("credits", "Covered by credits"),
            ("payment_claim", "Payment claimed"),
        ],
        required=True,
    )
    detail = fields.Char()
