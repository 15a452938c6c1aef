import base64
from urllib.parse import quote

from dateutil.relativedelta import relativedelta

from odoo import api, fields, models
from odoo.exceptions import UserError


class DunningMonthlyReportWizard(models.TransientModel):
    """The monthly receivables report of any month on demand: download its PDF or workbook, or email it now."""

    _name = "dunning.monthly.report.wizard"
    _description = "Dunning: Monthly Receivables Report Wizard"

    company_id = fields.Many2one("res.company", required=True, default=lambda self: self.env.company)
    month = fields.Date(
        required=True,
        default=lambda self: fields.Date.context_today(self).replace(day=1) - relativedelta(months=1),
        help="The report covers this date's whole month, its figures taken at the month's last day.",
    )
    xlsx_file = fields.Binary(string="Workbook", readonly=True, attachment=False)
    xlsx_file_name = fields.Char(readonly=True)

    @api.onchange("month")
    def _onchange_month(self):
        if self.month:
            self.month = self.month.replace(day=1)

    def action_download_pdf(self):
        self.ensure_one()
        return self.env.ref("receivable_dunning.action_report_dunning_monthly").report_action(
            self.company_id, data={"month": fields.Date.to_string(self.month.replace(day=1))}, config=False
        )

    def action_download_xlsx(self):
        self.ensure_one()
        Monthly = self.env["dunning.monthly.report"]
        self.write(
            {
                "xlsx_file": base64.b64encode(Monthly._render_xlsx(self.company_id, self.month)),
                "xlsx_file_name": Monthly._file_name(self.company_id, self.month, "xlsx"),
            }
        )
        return {
            "type": "ir.actions.act_url",
            "url": f"/web/content/{self._name}/{self.id}/xlsx_file/{quote(self.xlsx_file_name)}?download=true",
            "target": "download",
        }

    def action_send(self):
        """Email the report to the company's recipients now (the monthly cron does not count it as sent)."""
        self.ensure_one()
        Monthly = self.env["dunning.monthly.report"]
        if not Monthly._recipients(self.company_id):
            raise UserError(
                self.env._(
                    "%(company)s has no one to send the report to: name the recipients in the settings (field "
                    "Monthly Report Recipients) or give an accounting manager of the company an email address.",
                    company=self.company_id.name,
                )
            )
        mails = Monthly._send(self.company_id, self.month)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": self.env._(
                    "The report of %(month)s is on its way to %(recipients)s.",
                    month=Monthly._month_label(self.month),
                    recipients=", ".join(mails.recipient_ids.mapped("name")),
                ),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }
