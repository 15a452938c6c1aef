from dateutil.relativedelta import relativedelta

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import date_utils


class DunningEffectivenessWizard(models.TransientModel):
    """Choose two periods and open the reminder effectiveness report with them side by side."""

    _name = "dunning.effectiveness.wizard"
    _description = "Compare Reminder Effectiveness over Two Periods"

    comparison = fields.Selection(
        [
            ("months", "Last month and the month before"),
            ("30_days", "Last 30 days and the 30 days before"),
            ("custom", "Custom"),
        ],
        required=True,
        default="months",
    )
    period_a_from = fields.Date(compute="_compute_periods", store=True, readonly=False)
    period_a_to = fields.Date(compute="_compute_periods", store=True, readonly=False)
    period_b_from = fields.Date(compute="_compute_periods", store=True, readonly=False)
    period_b_to = fields.Date(compute="_compute_periods", store=True, readonly=False)

    @api.depends("comparison")
    def _compute_periods(self):
        today = fields.Date.context_today(self)
        for wizard in self:
            if wizard.comparison == "months":
                last_month = date_utils.start_of(today - relativedelta(months=1), "month")
                month_before = last_month - relativedelta(months=1)
                wizard.period_a_from, wizard.period_a_to = last_month, date_utils.end_of(last_month, "month")
                wizard.period_b_from, wizard.period_b_to = month_before, date_utils.end_of(month_before, "month")
            elif wizard.comparison == "30_days":
                wizard.period_a_from, wizard.period_a_to = today - relativedelta(days=29), today
                wizard.period_b_from, wizard.period_b_to = (
                    today - relativedelta(days=59),
                    today - relativedelta(days=30),
                )
            else:  # custom: the dates chosen stay
                wizard.period_a_from, wizard.period_a_to = wizard.period_a_from, wizard.period_a_to
                wizard.period_b_from, wizard.period_b_to = wizard.period_b_from, wizard.period_b_to

    @api.constrains("period_a_from", "period_a_to", "period_b_from", "period_b_to")
    def _check_periods(self):
        for wizard in self:
            for name, date_from, date_to in (
                ("A", wizard.period_a_from, wizard.period_a_to),
                ("B", wizard.period_b_from, wizard.period_b_to),
            ):
                if date_from and date_to and date_from > date_to:
                    raise ValidationError(
                        self.env._(
                            "Period %(period)s starts on %(date_from)s, after its end on %(date_to)s: change its "
                            "From or To date.",
                            period=name,
                            date_from=date_from,
                            date_to=date_to,
                        )
                    )

    def action_open_report(self):
        """The report over the two periods, period A next to period B in the pivot's columns."""
        self.ensure_one()
        if missing := [
            self._fields[name]._description_string(self.env)
            for name in ("period_a_from", "period_a_to", "period_b_from", "period_b_to")
            if not self[name]
        ]:
            raise UserError(self.env._("Give both periods their dates (%(fields)s).", fields=", ".join(missing)))
        action = self.env["ir.actions.act_window"]._for_xml_id("receivable_dunning.dunning_report_effectiveness_action")
        action["context"] = {
            "dunning_effectiveness_periods": [
                [fields.Date.to_string(self.period_a_from), fields.Date.to_string(self.period_a_to)],
                [fields.Date.to_string(self.period_b_from), fields.Date.to_string(self.period_b_to)],
            ],
            "pivot_row_groupby": ["level_id"],
            "pivot_column_groupby": ["period"],
            "graph_groupbys": ["level_id", "period"],
        }
        return action
