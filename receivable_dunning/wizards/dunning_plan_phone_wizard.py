from odoo import api, fields, models
from odoo.fields import Domain


class DunningPlanPhoneWizard(models.TransientModel):
    """A collector records the instalment plan agreed with a debtor on the phone: the limits of the debtor's
    policy apply as on the statement page, the plan is approved, and the debtor is sent its schedule, with the
    link to agree to automatic charges when asked."""

    _name = "dunning.plan.phone.wizard"
    _description = "Record a Plan Agreed by Phone"

    partner_id = fields.Many2one("res.partner", string="Debtor", required=True, domain="[('is_company', '=', True)]")
    company_id = fields.Many2one("res.company", required=True, default=lambda self: self.env.company)
    move_ids = fields.Many2many(
        "account.move",
        string="Invoices",
        required=True,
        domain="[('commercial_partner_id', '=', partner_id), ('company_id', '=', company_id),"
        " ('move_type', '=', 'out_invoice'), ('state', '=', 'posted'),"
        " ('payment_state', 'in', ('not_paid', 'partial')), ('dunning_plan_id', '=', False)]",
    )
    instalment_count = fields.Integer(string="Number of Instalments", required=True, default=3)
    frequency = fields.Selection(
        selection=lambda self: self.env["dunning.plan"]._frequency_labels(), required=True, default="monthly"
    )
    first_date = fields.Date(string="First Payment", required=True, default=fields.Date.context_today)
    note = fields.Text(string="What Was Agreed")
    request_autopay = fields.Boolean(
        string="Ask for Automatic Charges",
        help="The schedule sent to the debtor links to the plan's page, where the debtor agrees to automatic "
        "charges and saves a payment method by paying the first instalment.",
    )

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        debtor = self.env["dunning.debtor.wizard.mixin"]._active_debtors()[:1]
        if debtor and "partner_id" in fields_list:
            values.setdefault("partner_id", debtor.id)
            if "move_ids" in fields_list:
                open_invoices = self.env["account.move"].search(
                    self.env["account.move"]._dunning_open_invoice_domain(debtor, self.env.company)
                    & Domain("dunning_plan_id", "=", False)
                )
                values.setdefault("move_ids", [fields.Command.set(open_invoices.ids)])
        return values

    def action_confirm(self):
        """Create and approve the plan, send the debtor its schedule and open the plan."""
        self.ensure_one()
        plan = self.env["dunning.plan"]._propose(
            self.partner_id,
            self.company_id,
            self.move_ids,
            self.instalment_count,
            self.first_date,
            frequency=self.frequency,
            note=self.note,
            source="collector",
        )
        if plan.state == "proposed":
            # Agreed by the collector on the call: nobody else has to approve it.
            plan._approve()
            plan.activity_unlink(["mail.mail_activity_data_todo"])
        plan.with_context(dunning_plan_autopay_link=self.request_autopay)._send_debtor_mail(
            "receivable_dunning.mail_template_dunning_plan_schedule"
        )
        return plan._get_records_action(name=plan.display_name)
