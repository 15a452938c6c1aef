from odoo import fields, models


class DunningReportCashForecastWizard(models.TransientModel):
    """Choose the date the cash forecast starts from."""

    _name = "dunning.report.cash.forecast.wizard"
    _description = "Cash Forecast from a Date"

    report_date = fields.Date(string="Forecast From", required=True, default=fields.Date.context_today)

    def action_open(self):
        self.ensure_one()
        return self.env["dunning.report.cash.forecast"].action_open_forecast(self.report_date)
