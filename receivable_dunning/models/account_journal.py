from odoo import fields, models
from odoo.fields import Domain


class AccountJournal(models.Model):
    _inherit = "account.journal"

    dunning_auto_reconcile_threshold = fields.Integer(
        string="Auto-Reconcile Threshold",
        default=0,
        help="Statement lines of this bank journal whose best match scores at least this much (0-100) are "
        "reconciled with their invoices automatically; ambiguous matches never are. 0 turns it off.",
    )

    _dunning_threshold_range = models.Constraint(
        "CHECK(dunning_auto_reconcile_threshold BETWEEN 0 AND 100)",
        "The auto-reconcile threshold is a score between 0 and 100.",
    )

    def write(self, vals):
        result = super().write(vals)
        if "dunning_auto_reconcile_threshold" in vals:
            # A lower threshold may now accept what the cron once left to the wizard.
            self.env["account.bank.statement.line"]._dunning_auto_match_again(Domain("journal_id", "in", self.ids))
        return result
