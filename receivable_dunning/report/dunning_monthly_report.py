from markupsafe import Markup

from odoo import api, fields, models
from odoo.tools.misc import format_date, formatLang

from ..models.dunning_monthly_report import BUCKETS
from ..tools.svg_charts import bar_chart, line_chart


class ReportDunningMonthly(models.AbstractModel):
    """Values of the monthly receivables PDF: the figures of ``dunning.monthly.report`` formatted for display, and
    the charts drawn as inline SVG (wkhtmltopdf draws SVG, it runs no chart library)."""

    _name = "report.receivable_dunning.report_dunning_monthly"
    _description = "Dunning: Monthly Receivables Report PDF"

    @api.model
    def _get_report_values(self, docids, data=None):
        month = fields.Date.to_date((data or {}).get("month")) or fields.Date.context_today(self).replace(day=1)
        companies = self.env["res.company"].browse(docids)
        return {
            "doc_ids": docids,
            "doc_model": "res.company",
            "docs": companies,
            "reports": {company.id: self._report(company, month) for company in companies},
        }

    @api.model
    def _report(self, company, month):
        Monthly = self.env["dunning.monthly.report"]
        figures = Monthly._figures(company, month)
        currency = figures["currency"]
        formats = {
            "amount": lambda value: formatLang(self.env, value, currency_obj=currency),
            "days": lambda value: formatLang(self.env, value, digits=1),
            "percent": lambda value: formatLang(self.env, value, digits=1) + " %",
            "count": lambda value: str(int(value)),
        }
        return {
            "figures": figures,
            "month_label": Monthly._month_label(figures["month"]),
            "key_figures": [(label, formats[unit](value or 0)) for label, value, unit in Monthly._key_figures(figures)],
            "levels": [
                (
                    level["level"].display_name,
                    formats["amount"](level["recovered"]),
                    "-" if level["rate"] is None else formats["percent"](level["rate"]),
                )
                for level in figures["levels"]
            ],
            "charts": self._charts(figures),
        }

    @api.model
    def _charts(self, figures):
        """The report's three charts as markup: the functions of tools/svg_charts escape every text they write."""
        Monthly = self.env["dunning.monthly.report"]
        bucket_labels = Monthly._selection_labels("dunning.report.ageing", "bucket")
        ageing = [figures["ageing"][bucket] for bucket in BUCKETS]
        recovered = [level["recovered"] for level in figures["levels"]]
        dso = [row["dso_countback"] or 0.0 for row in figures["dso_trend"]]
        return {
            "ageing": Markup(
                bar_chart(
                    [bucket_labels.get(bucket, bucket) for bucket in BUCKETS],
                    ageing,
                    [formatLang(self.env, value, digits=0) for value in ageing],
                )
            ),
            "levels": Markup(
                bar_chart(
                    [level["level"].name for level in figures["levels"]],
                    recovered,
                    [formatLang(self.env, value, digits=0) for value in recovered],
                )
            ),
            "dso": Markup(
                line_chart(
                    [format_date(self.env, row["month"], date_format="MMM yy") for row in figures["dso_trend"]],
                    dso,
                    [formatLang(self.env, value, digits=0) for value in dso],
                )
            ),
        }
