from odoo import fields, models

# The reports computed at a date, with the model opening them.
DATED_REPORTS = {
    "ageing": "dunning.report.ageing",
    "dso": "dunning.report.dso",
    "forecast": "dunning.report.cash.forecast",
}


class DunningReportDateWizard(models.TransientModel):
    """Open a receivables report at a chosen date: the ageing of what was open then, the DSO up to then, or the
    cash forecast from then."""

    _name = "dunning.report.date.wizard"
    _description = "Open a Receivables Report at a Date"

    report = fields.Selection(
        [("ageing", "Aged Receivables"), ("dso", "Days Sales Outstanding"), ("forecast", "Cash Forecast")],
        required=True,
        default="ageing",
    )
    date = fields.Date(required=True, default=fields.Date.context_today)

    def action_open(self):
        self.ensure_one()
        return self.env[DATED_REPORTS[self.report]].action_open_at_date(self.date)
