from markupsafe import Markup

from odoo import api, fields, models

from .dunning_reminder import _mimetype


class DunningHandover(models.Model):
    """A debtor's invoices handed over to a collection agency or to legal after the last automatic level.

    The handed-over invoices leave dunning (``no_followup`` on their receivable lines, which the run's selection
    and the debtors' list honour); the dossier (statement, reminders, promises, disputes) is a PDF attached to
    the debtor.
    """

    _name = "dunning.handover"
    _description = "Dunning Hand-over"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "date desc, id desc"
    _check_company_auto = True

    name = fields.Char(compute="_compute_name", store=True)
    company_id = fields.Many2one("res.company", required=True, index=True, default=lambda self: self.env.company)
    currency_id = fields.Many2one(related="company_id.currency_id")
    partner_id = fields.Many2one(
        "res.partner", string="Debtor", required=True, index=True, check_company=True, readonly=True
    )
    date = fields.Date(required=True, default=fields.Date.context_today, readonly=True)
    handed_to = fields.Selection(
        [("agency", "Collection Agency"), ("legal", "Legal")], required=True, default="agency", tracking=True
    )
    agency_id = fields.Many2one(
        "res.partner", string="Agency or Lawyer", check_company=True, tracking=True, help="Who the debt went to."
    )
    note = fields.Text()
    amount = fields.Monetary(
        string="Amount Handed Over",
        readonly=True,
        help="What the handed-over invoices still owed on the hand-over date, in the company currency.",
    )
    move_ids = fields.Many2many(
        "account.move",
        "dunning_handover_move_rel",
        "handover_id",
        "move_id",
        string="Invoices",
        readonly=True,
        check_company=True,
    )
    attachment_id = fields.Many2one("ir.attachment", string="Dossier", readonly=True, copy=False)
    user_id = fields.Many2one("res.users", string="Handed Over By", default=lambda self: self.env.user, readonly=True)
    state = fields.Selection(
        [("handed_over", "Handed Over"), ("closed", "Closed"), ("withdrawn", "Withdrawn")],
        required=True,
        default="handed_over",
        index=True,
        tracking=True,
        help="Closed: the agency or court is done with it. Withdrawn: the invoices came back to dunning.",
    )

    # === COMPUTE METHODS === #

    @api.depends("partner_id.name", "date")
    def _compute_name(self):
        for handover in self:
            handover.name = self.env._(
                "Hand-over of %(debtor)s on %(date)s", debtor=handover.partner_id.name, date=handover.date
            )

    # === ACTION METHODS === #

    def action_close(self):
        self.filtered(lambda handover: handover.state == "handed_over").state = "closed"

    def action_withdraw(self):
        """Take the debt back: the invoices still open return to dunning."""
        handovers = self.filtered(lambda handover: handover.state == "handed_over")
        handovers.state = "withdrawn"
        handovers.move_ids.filtered(lambda move: move.payment_state in ("not_paid", "partial")).no_followup = False

    # === BUSINESS METHODS === #

    @api.model
    def _hand_over(self, partner, moves, values):
        """Hand ``moves`` of debtor ``partner`` over, in the current company: the hand-over, its dossier attached
        to the debtor, the invoices out of dunning and out of the reminders not yet sent, a note on the debtor.

        :param values: the hand-over's other values (handed_to, agency_id, note)
        :return: the ``dunning.handover``
        """
        company = self.env.company
        handover = self.create(
            {
                **values,
                "company_id": company.id,
                "partner_id": partner.id,
                "move_ids": [fields.Command.set(moves.ids)],
                "amount": sum(moves.mapped("amount_residual_signed")),
            }
        )
        moves.no_followup = True
        moves._dunning_withdraw_from_pending()
        handover.attachment_id = handover._render_dossier()
        handover_link = Markup('<a href="#" data-oe-model="%s" data-oe-id="%s">%s</a>') % (
            handover._name,
            handover.id,
            handover.name,
        )
        # sudo: dunning managers hand over without the right to edit contacts, which a note on one requires.
        partner.sudo().message_post(
            body=Markup("<p>%s</p>")
            % self.env._(
                "%(handover)s: %(count)s invoice(s) handed over to %(to)s, their dunning stopped.",
                handover=handover_link,
                count=len(moves),
                to=handover.agency_id.name
                or dict(self._fields["handed_to"]._description_selection(self.env))[handover.handed_to],
            ),
            attachment_ids=handover.attachment_id.ids,
            message_type="comment",
            subtype_xmlid="mail.mt_note",
        )
        return handover

    def _render_dossier(self):
        """Render the hand-over's dossier and attach it to the debtor.

        :return: the ``ir.attachment``
        """
        self.ensure_one()
        content, report_type = self.env["ir.actions.report"]._render_qweb_pdf(
            "receivable_dunning.action_report_dunning_handover", self.ids
        )
        # sudo: attached to the debtor, which dunning managers may not edit (attaching requires it).
        return (
            self.env["ir.attachment"]
            .sudo()
            .create(
                {
                    "name": f"{self.name.replace('/', '-')}.{report_type}",
                    "raw": content,
                    "res_model": "res.partner",
                    "res_id": self.partner_id.id,
                    "mimetype": _mimetype(report_type),
                }
            )
        )

    def _dossier_reminders(self):
        """Every reminder the debtor was sent in the company, oldest first (for the dossier)."""
        self.ensure_one()
        return self.env["dunning.reminder"].search(
            [
                ("partner_id", "=", self.partner_id.id),
                ("company_id", "=", self.company_id.id),
                ("reminder_type", "=", "reminder"),
                ("state", "=", "sent"),
            ],
            order="date_done, id",
        )

    def _dossier_promises(self):
        self.ensure_one()
        return self.env["dunning.promise"].search(
            [("partner_id", "=", self.partner_id.id), ("company_id", "=", self.company_id.id)],
            order="create_date, id",
        )

    def _dossier_disputes(self):
        self.ensure_one()
        return self.env["dunning.dispute"].search(
            [("partner_id", "=", self.partner_id.id), ("company_id", "=", self.company_id.id)],
            order="create_date, id",
        )
