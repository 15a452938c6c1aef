import itertools
import logging

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL, format_amount, split_every

from odoo.addons.account.tools.structured_reference import format_structured_reference_iso

from ..tools.request_rows import DuplicateTracker, RowContext, validate_row

_logger = logging.getLogger(__name__)

# Rows validated or turned into requests per transaction: a batch is created and committed whole, or not at all.
DEFAULT_BATCH_SIZE = 500
# Files with more rows are validated by the scheduled action rather than in the web request.
INLINE_VALIDATION_ROWS = 2000
# The debtor fields an import fills or changes on an existing debtor: row field -> partner field.
DEBTOR_UPDATES = {"email": "email", "mobile": "phone", "lang": "lang", "vat": "vat"}


def request_payment_reference(row_id):
    """The ISO 11649 (RF) reference of the request created from import row ``row_id``: unique, and apart from the
    reminders' (which start with 9)."""
    return format_structured_reference_iso(f"7{row_id:08d}")


class DunningRequestImport(models.Model):
    """A file of payment requests: its rows, validated, then turned into posted invoices and sent, in batches.

    The rows are checked by :func:`~..tools.request_rows.validate_row` before anything is created; the valid ones
    become customer invoices on the settings' request journal, found again by their external reference
    (``account.move.dunning_request_ref``) when the same file comes back, and go to their debtors through the
    reminders' dispatch. A big file is validated and created by the scheduled action, a batch per transaction:
    a row is marked done in the transaction that creates its request, so that a crash resumes where it stopped.
    """

    _name = "dunning.request.import"
    _description = "Payment Request Import"
    _inherit = ["mail.thread"]
    _order = "id desc"
    _check_company_auto = True

    name = fields.Char(required=True, default=lambda self: self.env._("Payment requests"))
    company_id = fields.Many2one("res.company", required=True, index=True, default=lambda self: self.env.company)
    state = fields.Selection(
        [
            ("draft", "Draft"),
            ("validating", "Validating"),
            ("validated", "Validated"),
            ("queued", "Queued"),
            ("running", "Running"),
            ("done", "Done"),
            ("cancelled", "Cancelled"),
        ],
        required=True,
        default="draft",
        index=True,
        tracking=True,
        copy=False,
    )
    file = fields.Binary(attachment=True, copy=False)
    file_name = fields.Char()
    options = fields.Json(help="How the file is read: separator, date format, decimal and thousands separators.")
    mapping = fields.Json(help="Which row field each column of the file holds: {column index: row field}.")
    policy_id = fields.Many2one(
        "dunning.policy",
        string="Dunning Policy",
        check_company=True,
        help="The policy that reminds the new debtors, and the existing ones without a policy of their own, once "
        "their requests fall due. Empty: the company's default policy.",
    )
    send_email = fields.Boolean(string="Send by Email", default=True)
    send_sms = fields.Boolean(string="Send by SMS")
    send_at = fields.Datetime(string="Send On", help="When the requests go out; empty: as soon as they are created.")
    row_ids = fields.One2many("dunning.request.import.row", "import_id", string="Rows", readonly=True)
    row_count = fields.Integer(readonly=True, copy=False)
    valid_count = fields.Integer(string="Valid Rows", readonly=True, copy=False)
    error_count = fields.Integer(string="Rows with Errors", readonly=True, copy=False)
    created_count = fields.Integer(string="Created", readonly=True, copy=False)
    updated_count = fields.Integer(string="Updated", readonly=True, copy=False)
    unchanged_count = fields.Integer(string="Unchanged", readonly=True, copy=False)
    failed_count = fields.Integer(string="Failed", readonly=True, copy=False)
    done_count = fields.Integer(string="Done", readonly=True, copy=False)
    progress = fields.Float(compute="_compute_progress", help="Share of the valid rows processed, in percent.")
    error_summary = fields.Text(readonly=True, copy=False)

    @api.depends("valid_count", "done_count", "failed_count", "state")
    def _compute_progress(self):
        for record in self:
            if record.valid_count:
                record.progress = 100.0 * (record.done_count + record.failed_count) / record.valid_count
            else:
                record.progress = 100.0 if record.state == "done" else 0.0

    # === ACTIONS === #

    def action_validate(self):
        """Read the file's rows and validate them: here for a small file, in the background for a big one."""
        self.ensure_one()
        if self.state not in ("draft", "validated"):
            raise UserError(self.env._("Import %(name)s is %(state)s: it cannot be validated again.", **self._names()))
        self.row_ids.unlink()
        rows = self._iter_file_rows()
        head = list(itertools.islice(rows, INLINE_VALIDATION_ROWS + 1))
        if len(head) <= INLINE_VALIDATION_ROWS:
            self._set_rows(head)
            return True
        self.write({"state": "validating", "row_count": 0})
        self._trigger_processing()
        return True

    def action_import(self):
        """Queue the creation of the valid rows' requests; the scheduled action creates them in batches."""
        for record in self:
            if record.state != "validated":
                raise UserError(self.env._("Import %(name)s is %(state)s: validate it first.", **record._names()))
            if not record.valid_count:
                raise UserError(self.env._("Import %(name)s has no valid row to import.", name=record.name))
        self.write({"state": "queued"})
        self._trigger_processing()
        self._notify_progress()
        return True

    def action_cancel(self):
        self.filtered(lambda record: record.state != "done").write({"state": "cancelled"})
        return True

    def _names(self):
        states = dict(self._fields["state"]._description_selection(self.env))
        return {"name": self.name, "state": states[self.state]}

    # === HOOKS OF THE FILE READER === #

    def _iter_file_rows(self):
        """The file's rows as (row number, {row field: raw value}); the reader of the uploaded file overrides it."""
        raise UserError(
            self.env._("Import %(name)s has no file reader: send its rows with import_rows.", name=self.name)
        )

    # === VALIDATION === #

    def _batch_size(self):
        return int(
            self.env["ir.config_parameter"]
            .sudo()  # sudo: a technical setting, read by whoever runs an import
            .get_param("receivable_dunning.import_batch_size", DEFAULT_BATCH_SIZE)
        )

    def _row_context(self):
        company = self.company_id
        currencies = self.env["res.currency"].search_fetch([], ["name", "decimal_places"])
        return RowContext.from_options(
            self.options,
            company_currency=company.currency_id.name,
            currencies=frozenset(currencies.mapped("name")),
            currency_digits={currency.name: currency.decimal_places for currency in currencies},
            languages=frozenset(code for code, _name in self.env["res.lang"].get_installed()),
            default_country=company.country_id.code or None,
            today=fields.Date.context_today(self),
        )

    def _set_rows(self, raw_rows):
        """Validate ``raw_rows`` and record them, in batches, and mark the import validated.

        :param raw_rows: iterable of (row number, {row field: raw value}); rows already recorded are skipped, so
            that a validation interrupted by a crash resumes
        """
        self.ensure_one()
        self._validate_rows(raw_rows)
        self.write({"state": "validated"})
        self._update_counters()

    def _validate_rows(self, raw_rows, commit=False):
        """Validate and record ``raw_rows`` a batch at a time; with ``commit``, commit each batch (scheduled action)."""
        Row = self.env["dunning.request.import.row"]
        Row.flush_model()
        recorded = dict(
            self.env.execute_query(
                SQL(
                    "SELECT external_ref, min(row_number) FROM dunning_request_import_row "
                    "WHERE import_id = %s AND external_ref IS NOT NULL GROUP BY external_ref",
                    self.id,
                )
            )
        )
        last = self.env.execute_query(
            SQL("SELECT coalesce(max(row_number), 0) FROM dunning_request_import_row WHERE import_id = %s", self.id)
        )[0][0]
        tracker = DuplicateTracker(recorded)
        context = self._row_context()
        pending = ((number, raw) for number, raw in raw_rows if number > last)
        for batch in split_every(self._batch_size(), pending):
            Row.create(self._check_rows(batch, context, tracker))
            if commit:
                self._update_counters()
                self._notify_progress()
                if self.env["ir.cron"]._commit_progress(len(batch)) <= 0:
                    return False
        return True

    def _check_rows(self, batch, context, tracker):
        """The values of the row records of ``batch``: each row's errors by field, its debtor and its outcome."""
        checked = []
        for row_number, raw in batch:
            values, errors = validate_row(raw, context, self.env)
            duplicate = tracker.check(row_number, values, self.env)
            if duplicate:
                errors.setdefault("external_ref", duplicate)
            checked.append((row_number, raw, values, errors))
        valid_values = [values for _number, _raw, values, errors in checked if not errors]
        debtors = dict(zip(map(id, valid_values), self._match_debtors(valid_values), strict=True))
        existing = self._existing_requests([values["external_ref"] for values in valid_values])
        vals_list = []
        for row_number, raw, values, errors in checked:
            vals = {
                "import_id": self.id,
                "row_number": row_number,
                "raw": raw,
                "external_ref": values["external_ref"],
            }
            if not errors:
                partner, action, changes = debtors[id(values)]
                result, amount_error = self._compare_request(existing.get(values["external_ref"]), values)
                if amount_error:
                    errors["amount"] = amount_error
                vals.update(
                    partner_id=partner.id,
                    partner_action=action,
                    partner_changes=changes,
                    result=result,
                    move_id=existing[values["external_ref"]].id if result == "unchanged" else False,
                )
            vals.update(state="error" if errors else "valid", errors=errors or False)
            vals_list.append(vals)
        return vals_list

    # === DEBTORS === #

    def _match_debtors(self, values_list):
        """The existing debtor of each row: the debtor of the request imported before under the row's external
        reference, else the one found by VAT number, then by its reference in the other system (``res.partner.ref``,
        the row's ``partner_ref``), then by email; with what the import would change on it.

        :return: list of (partner or empty recordset, partner_action, text of the changes), in the rows' order
        """
        Partner = self.env["res.partner"]
        Partner.flush_model(["active", "parent_id", "company_id", "vat", "ref", "email_normalized"])
        by_key = {}
        company_ids = [self.company_id.id]
        for key, column, sql_value in (
            ("vat", "vat", SQL("upper(regexp_replace(vat, '[^0-9A-Za-z]', '', 'g'))")),
            ("partner_ref", "ref", SQL("ref")),
            ("email", "email", SQL("email_normalized")),
        ):
            wanted = list({values[key] for values in values_list if values[key]})
            if not wanted:
                continue
            # One query per key for the batch: the commercial partners of the company (or shared) with these keys;
            # the lowest id wins when several have the same.
            for value, partner_id in self.env.execute_query(
                SQL(
                    "SELECT DISTINCT ON (%(value)s) %(value)s, id FROM res_partner "
                    "WHERE active AND parent_id IS NULL AND (company_id IS NULL OR company_id = ANY(%(companies)s)) "
                    "AND %(column)s IS NOT NULL AND %(value)s = ANY(%(wanted)s) ORDER BY %(value)s, id",
                    value=sql_value,
                    companies=company_ids,
                    column=SQL.identifier(column),
                    wanted=wanted,
                )
            ):
                by_key[key, value] = partner_id
        # A row already imported keeps the debtor of its request, even one no key finds (a mobile number alone).
        requested = {
            reference: move.partner_id.id
            for reference, move in self._existing_requests([values["external_ref"] for values in values_list]).items()
        }
        partners = Partner.browse(set(by_key.values()) | set(requested.values()))
        partners.fetch(["name", "email", "phone", "lang", "vat"])
        results = []
        for values in values_list:
            partner_id = requested.get(values["external_ref"]) or next(
                (by_key[key, values[key]] for key in ("vat", "partner_ref", "email") if (key, values[key]) in by_key),
                None,
            )
            if not partner_id:
                results.append((Partner, "new", False))
                continue
            partner = Partner.browse(partner_id)
            changes = self._debtor_changes(partner, values)
            text = "; ".join(
                f"{partner._fields[fname]._description_string(self.env)}: {partner[fname] or ''} → {new}"
                for fname, new in changes.items()
            )
            results.append((partner, "matched_updates" if changes else "matched", text or False))
        return results

    @api.model
    def _debtor_changes(self, partner, values):
        """{partner field: new value} of the row's contact data that differ from the existing debtor's."""
        changes = {}
        for key, fname in DEBTOR_UPDATES.items():
            new, old = values[key], partner[fname] or ""
            if key == "vat":
                old = "".join(filter(str.isalnum, old)).upper()
            if key == "email":
                old = old.lower()
            if new and new != old:
                changes[fname] = new
        return changes

    def _new_debtor_vals(self, values, country_ids):
        vals = {
            "name": values["name"],
            "email": values["email"] or False,
            "phone": values["mobile"] or False,
            "vat": values["vat"] or False,
            "ref": values["partner_ref"] or False,
            "lang": values["lang"] or self.company_id.partner_id.lang or self.env.lang,
            "customer_rank": 1,
            "company_id": False,
        }
        if values["country_code"]:
            vals["country_id"] = country_ids.get(values["country_code"], False)
        if values["iban"]:
            vals["bank_ids"] = [fields.Command.create({"acc_number": values["iban"]})]
        policy = self.policy_id
        if policy:
            vals["dunning_policy_id"] = policy.id
        return vals

    def _country_ids(self):
        return {country.code: country.id for country in self.env["res.country"].search_fetch([], ["code"])}

    # === REQUESTS === #

    def _existing_requests(self, references):
        """The current requests of the company with these external references: {reference: account.move}."""
        if not references:
            return {}
        moves = self.env["account.move"].search_fetch(
            [("company_id", "=", self.company_id.id), ("dunning_request_ref", "in", list(set(references)))],
            ["dunning_request_ref", "amount_total", "amount_residual", "currency_id", "payment_state", "state", "name"],
        )
        return {move.dunning_request_ref: move for move in moves}

    def _compare_request(self, move, values):
        """What importing ``values`` does to the existing request ``move``: (result, error message or None)."""
        if not move:
            return "created", None
        amount = move.currency_id.round(float(values["amount"]))
        if move.currency_id.name == values["currency"] and not move.currency_id.compare_amounts(
            move.amount_total, amount
        ):
            return "unchanged", None
        if move.state == "posted" and move.payment_state == "not_paid":
            return "updated", None
        return None, self.env._(
            "Request %(request)s is already paid in part (%(residual)s left of %(total)s): its amount cannot "
            "change. Credit it in Odoo and import the row under a new external reference.",
            request=move.name,
            residual=format_amount(self.env, move.amount_residual, move.currency_id),
            total=format_amount(self.env, move.amount_total, move.currency_id),
        )

    def _request_journal(self):
        company = self.company_id
        journal = company.dunning_request_journal_id or self.env["account.journal"].search(
            [*self.env["account.journal"]._check_company_domain(company), ("type", "=", "sale")], limit=1
        )
        if not journal:
            raise UserError(
                self.env._("Company %(company)s has no sales journal for payment requests.", company=company.name)
            )
        return journal

    def _create_requests(self, rows):
        """Turn the valid ``rows`` of this import into posted requests sent to their debtors, all together.

        Debtors are matched again (an earlier batch may have created one), created in one ``create`` and updated
        as the preview said; the requests are created and posted together, amended ones credited first; the
        emails and SMS are queued as payment request reminders, or held until ``send_at``. The rows are marked
        done in the same transaction.
        """
        self.ensure_one()
        company = self.company_id
        Move = self.env["account.move"].with_company(company)
        context = self._row_context()
        checked = [(row, validate_row(row.raw, context, self.env)[0]) for row in rows]
        debtors = self._match_debtors([values for _row, values in checked])
        existing = self._existing_requests([values["external_ref"] for _row, values in checked])

        # Debtors: the rows of one new debtor (same VAT, reference or email) share it.
        country_ids = self._country_ids()
        planned, new_vals, partner_of = {}, [], {}
        for (row, values), (partner, _action, _changes) in zip(checked, debtors, strict=True):
            if partner:
                partner_of[row.id] = partner
                continue
            keys = [(key, values[key]) for key in ("vat", "partner_ref", "email") if values[key]]
            index = next((planned[key] for key in keys if key in planned), None)
            if index is None:
                index = len(new_vals)
                new_vals.append(self._new_debtor_vals(values, country_ids))
            planned.update(dict.fromkeys(keys, index))
            partner_of[row.id] = index
        new_partners = self.env["res.partner"].with_company(company).create(new_vals)
        partner_of = {
            row_id: new_partners[partner] if isinstance(partner, int) else partner
            for row_id, partner in partner_of.items()
        }
        self._update_debtors(checked, partner_of, new_partners)

        # Requests: unchanged ones are left, amended ones credited, the others created and posted together.
        journal = self._request_journal()
        product = company.dunning_request_product_id
        currency_ids = {currency.name: currency.id for currency in self.env["res.currency"].search_fetch([], ["name"])}
        to_create, results = [], {}
        for row, values in checked:
            move = existing.get(values["external_ref"])
            result, error = self._compare_request(move, values)
            if error:
                raise UserError(self.env._("Row %(row)s: %(error)s", row=row.row_number, error=error))
            results[row.id] = (result, move)
            if result != "unchanged":
                to_create.append((row, values))
        amended = self.env["account.move"].union(
            *(results[row.id][1] for row, _values in to_create if results[row.id][0] == "updated")
        )
        if amended:
            amended.dunning_request_ref = False
            amended._reverse_moves(
                [{"ref": self.env._("Amended by import %(name)s", name=self.name)}] * len(amended), cancel=True
            )
        # No creation message or tracking on each request: the import lists them, and the debtor's chatter the
        # requests sent.
        moves = Move.with_context(mail_create_nolog=True, mail_notrack=True).create(
            [
                self._request_vals(row, values, partner_of[row.id], journal, product, currency_ids)
                for row, values in to_create
            ]
        )
        moves.action_post()
        move_of = dict(zip((row.id for row, _values in to_create), moves, strict=True))
        self._queue_sending(moves)
        self._mark_done(
            [
                (row.id, results[row.id][0], partner_of[row.id].id, (move_of.get(row.id) or results[row.id][1]).id)
                for row, _values in checked
            ]
        )
        return moves

    def _mark_done(self, outcomes):
        """Mark rows done with their outcome, in one statement: [(row id, result, partner id, move id)]."""
        Row = self.env["dunning.request.import.row"]
        Row.flush_model()
        self.env.cr.execute(
            SQL(
                "UPDATE dunning_request_import_row AS row SET state = 'done', result = outcome.result, "
                "partner_id = outcome.partner_id, move_id = outcome.move_id, errors = NULL, "
                "write_uid = %s, write_date = now() at time zone 'UTC' "
                "FROM (VALUES %s) AS outcome(id, result, partner_id, move_id) WHERE row.id = outcome.id",
                self.env.uid,
                SQL(", ").join(SQL("(%s, %s, %s::int, %s::int)", *outcome) for outcome in outcomes),
            )
        )
        Row.browse(outcome[0] for outcome in outcomes).invalidate_recordset()

    def _update_debtors(self, checked, partner_of, new_partners):
        """Write on the existing debtors the contact data the preview announced, give the import's policy to those
        without a policy of their own, and add their new IBANs."""
        changed = {}
        ibans = {}
        for row, values in checked:
            partner = partner_of[row.id]
            if partner in new_partners:
                continue
            if values["iban"]:
                ibans.setdefault(values["iban"], partner)
            changes = self._debtor_changes(partner, values)
            if changes:
                changed.setdefault(partner, {}).update(changes)
        for partner, vals in changed.items():  # the few debtors whose data the file changes, one write each
            partner.write(vals)
        existing = self.env["res.partner"].union(*partner_of.values()) - new_partners
        if self.policy_id and existing:
            existing.with_company(self.company_id).filtered(lambda partner: not partner.dunning_policy_id).write(
                {"dunning_policy_id": self.policy_id.id}
            )
        known = {
            (bank.partner_id.id, bank.sanitized_acc_number)
            for bank in self.env["res.partner.bank"].search_fetch(
                [("partner_id", "in", [partner.id for partner in ibans.values()])],
                ["partner_id", "sanitized_acc_number"],
            )
        }
        self.env["res.partner.bank"].create(
            [
                {"partner_id": partner.id, "acc_number": iban}
                for iban, partner in ibans.items()
                if (partner.id, iban) not in known
            ]
        )

    def _request_vals(self, row, values, partner, journal, product, currency_ids):
        line = {
            "name": values["description"] or product.name or values["external_ref"],
            "quantity": 1,
            "price_unit": float(values["amount"]),
            # The file's amount is what the debtor owes: no tax is added to it.
            "tax_ids": [fields.Command.clear()],
        }
        if product:
            line["product_id"] = product.id
        return {
            "move_type": "out_invoice",
            "company_id": self.company_id.id,
            "journal_id": journal.id,
            "partner_id": partner.id,
            "currency_id": currency_ids[values["currency"]],
            "invoice_date": values["date_invoice"],
            "invoice_date_due": values["date_due"],
            "invoice_payment_term_id": False,
            "ref": values["external_ref"],
            "dunning_request_ref": values["external_ref"],
            "payment_reference": request_payment_reference(row.id),
            "invoice_line_ids": [fields.Command.create(line)],
        }

    def _queue_sending(self, moves):
        """Queue the payment request email and SMS of ``moves`` in the reminders' dispatch, or hold them as
        proposed until ``send_at``: by each channel chosen for which the debtor has a contact."""
        contact_of = {"email": "email", "sms": "phone"}
        channels = [channel for channel, wanted in (("email", self.send_email), ("sms", self.send_sms)) if wanted]
        if not moves or not channels:
            return
        now = fields.Datetime.now()
        later = self.send_at and self.send_at > now
        date_scheduled = fields.Date.context_today(self, self.send_at) if later else fields.Date.context_today(self)
        vals_list = [
            {
                "run_id": None,
                "company_id": move.company_id.id,
                "currency_id": move.currency_id.id,
                "partner_id": move.commercial_partner_id.id,
                "recipient_id": move.partner_id.id,
                "level_id": None,
                "reminder_type": "request",
                "channel": channel,
                "state": "draft" if later else "queued",
                "trigger": "import",
                "date_scheduled": date_scheduled,
                "line_ids": [
                    {
                        "move_id": move.id,
                        "level_id": None,
                        "is_escalation": False,
                        "date_due": move.invoice_date_due,
                        "days_overdue": (date_scheduled - move.invoice_date_due).days,
                        "amount_residual": move.amount_residual,
                    }
                ],
            }
            for move in moves
            for channel in channels
            if move.partner_id[contact_of[channel]]
        ]
        self.env["dunning.reminder"]._bulk_create(vals_list)

    # === BACKGROUND PROCESSING === #

    def _trigger_processing(self):
        self.env.ref("receivable_dunning.ir_cron_dunning_request_import")._trigger()

    @api.model
    def _cron_process_imports(self):
        """Validate the big files, create the queued imports' requests, a batch per commit, and release the
        requests whose sending time has come.

        Each import is processed as the user who created it, in its company. A row is marked done in the
        transaction that creates its request: after a crash, the next call takes the rows still valid, and the
        unique external reference per company refuses a second request for a row whatever happens.
        """
        self._release_scheduled()
        done = set()
        while True:
            record = self._claim_next(exclude=done)
            if not record:
                return
            record = record.with_user(record.create_uid).with_company(record.company_id)
            if record.state == "validating":
                finished = record._validate_rows(record._iter_file_rows(), commit=True)
                if not finished:
                    return
                record.write({"state": "validated"})
                record._update_counters()
                record._notify_progress()
                done.add(record.id)
                self.env["ir.cron"]._commit_progress(0)
                continue
            rows = record._process_batch()
            remaining = record.valid_count - record.done_count - record.failed_count
            if rows is not None and not remaining:
                # The last batch: finish at once, not at the next run (the time left may end the loop here).
                record._finish()
            if rows is None or not remaining:
                done.add(record.id)
            if self.env["ir.cron"]._commit_progress(len(rows or ()), remaining=remaining) <= 0:
                return

    @api.model
    def _claim_next(self, exclude=()):
        """The oldest import with work left that no other worker holds, locked until the next commit."""
        self.flush_model(["state"])
        rows = self.env.execute_query(
            SQL(
                "SELECT id FROM dunning_request_import WHERE state IN ('validating', 'queued', 'running') "
                "AND NOT id = ANY(%s) ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
                list(exclude),
            )
        )
        return self.browse(rows[0][0]) if rows else self.browse()

    def _process_batch(self):
        """Create the requests of the next batch of valid rows; finish the import when none is left.

        A batch that fails is rolled back and its rows created one at a time: the row at fault is marked failed
        with the reason, the others go on.

        :return: the rows processed, or None when the import is finished
        """
        self.ensure_one()
        if self.state == "queued":
            self.state = "running"
        rows = self.env["dunning.request.import.row"].search(
            [("import_id", "=", self.id), ("state", "=", "valid")], order="row_number", limit=self._batch_size()
        )
        if not rows:
            self._finish()
            return None
        try:
            with self.env.cr.savepoint():
                self._create_requests(rows)
        except Exception:
            _logger.info("dunning: a batch of %s request rows failed; creating them one at a time", len(rows))
            for row in rows:
                try:
                    with self.env.cr.savepoint():
                        self._create_requests(row)
                except Exception as error:
                    row.write({"state": "failed", "errors": {"external_ref": str(error)}})
        self._update_counters()
        self._notify_progress()
        return rows

    def _finish(self):
        self.write({"state": "done"})
        self._update_counters()
        if self.send_at and self.send_at > fields.Datetime.now():
            self.env.ref("receivable_dunning.ir_cron_dunning_request_import")._trigger(self.send_at)
        else:
            self.env["dunning.reminder"]._trigger_dispatch()
        self._notify_progress()
        self.create_uid.partner_id._bus_send(
            "simple_notification",
            {
                "type": "success" if not self.failed_count else "warning",
                "title": self.env._("Payment requests imported"),
                "message": self.env._(
                    "%(name)s: %(created)s created, %(updated)s updated, %(unchanged)s unchanged, %(failed)s failed.",
                    name=self.name,
                    created=self.created_count,
                    updated=self.updated_count,
                    unchanged=self.unchanged_count,
                    failed=self.failed_count,
                ),
            },
        )

    @api.model
    def _release_scheduled(self):
        """Queue the payment requests held until their import's sending time, now past."""
        self.flush_model(["state", "send_at"])
        self.env["dunning.request.import.row"].flush_model(["move_id"])
        self.env["dunning.reminder"].flush_model(["state", "reminder_type"])
        self.env["dunning.reminder.line"].flush_model(["move_id"])
        rows = self.env.execute_query(
            SQL(
                """
                SELECT DISTINCT reminder.id
                  FROM dunning_request_import import
                  JOIN dunning_request_import_row row ON row.import_id = import.id
                  JOIN dunning_reminder_line line ON line.move_id = row.move_id
                  JOIN dunning_reminder reminder ON reminder.id = line.reminder_id
                 WHERE import.state = 'done' AND import.send_at <= %s
                   AND reminder.state = 'draft' AND reminder.reminder_type = 'request'
                """,
                fields.Datetime.now(),
            )
        )
        if not rows:
            return
        reminders = self.env["dunning.reminder"].browse(reminder_id for (reminder_id,) in rows)
        reminders.write({"date_scheduled": fields.Date.context_today(self)})
        reminders._update_state(("draft",), "queued")
        self.env["dunning.reminder"]._trigger_dispatch()

    # === COUNTERS AND PROGRESS === #

    def _update_counters(self):
        """Count the rows of these imports by state and result, in one query."""
        self.env["dunning.request.import.row"].flush_model()
        counts = {
            (import_id, state, result): count
            for import_id, state, result, count in self.env.execute_query(
                SQL(
                    "SELECT import_id, state, result, count(*) FROM dunning_request_import_row "
                    "WHERE import_id = ANY(%s) GROUP BY import_id, state, result",
                    self.ids,
                )
            )
        }
        for record in self:
            mine = {
                (state, result): count for (import_id, state, result), count in counts.items() if import_id == record.id
            }

            def total(states=None, result=None, mine=mine):
                return sum(
                    count
                    for (state, row_result), count in mine.items()
                    if (states is None or state in states) and (result is None or row_result == result)
                )

            errors = self.env["dunning.request.import.row"].search_fetch(
                [("import_id", "=", record.id), ("state", "in", ("error", "failed"))], ["errors"], limit=1000
            )
            record.write(
                {
                    "row_count": total(),
                    "valid_count": total(("valid", "done", "failed")),
                    "error_count": total(("error",)),
                    "done_count": total(("done",)),
                    "failed_count": total(("failed",)),
                    "created_count": total(("done",), "created"),
                    "updated_count": total(("done",), "updated"),
                    "unchanged_count": total(("done",), "unchanged"),
                    "error_summary": record._summarize_errors(errors),
                }
            )

    def _summarize_errors(self, rows):
        """'Email: 3 rows; Amount: 1 row', from the errors of (at most a thousand of) the rows at fault."""
        if not rows:
            return False
        labels = self.env["dunning.request.import.row"]._row_field_labels()
        counts = {}
        for row in rows:
            for key in row.errors or {}:
                counts[key] = counts.get(key, 0) + 1
        return "\n".join(
            self.env._("%(field)s: %(count)s row(s)", field=labels.get(key, key), count=count)
            for key, count in sorted(counts.items(), key=lambda item: -item[1])
        )

    def _progress_values(self):
        """What the progress bar shows: rows done, failed and left, the percentage and the state."""
        self.ensure_one()
        return {
            "id": self.id,
            "state": self.state,
            "done": self.done_count,
            "failed": self.failed_count,
            "left": max(self.valid_count - self.done_count - self.failed_count, 0),
            "errors": self.error_count,
            "progress": self.progress,
        }

    def _notify_progress(self):
        """Tell the import's creator how far it got, on the bus (after each committed batch)."""
        for record in self:
            record.create_uid.partner_id._bus_send("dunning_request_import_progress", record._progress_values())

    # === RPC === #

    @api.model
    def import_rows(self, rows, policy_id=None, send_email=True, send_sms=False, send_at=None, company_id=None):
        """Import payment requests sent as data, with the file's validation and idempotency, in this transaction.

        :param list rows: dicts {row field: value} (``name``, ``email``, ``mobile``, ``amount``, ...): see the
            usage documentation; dates as ``YYYY-MM-DD``, amounts as numbers or text with a decimal point
        :param int policy_id: the policy of the new debtors, else the company's
        :param bool send_email: send each new request by email
        :param bool send_sms: send each new request by SMS
        :param str send_at: when to send (``YYYY-MM-DD HH:MM:SS`` UTC), else at once
        :param int company_id: the company of the requests, else the user's current one
        :return: one dict per row, in order: ``row`` (its index in ``rows``), ``result`` (``created``,
            ``updated``, ``unchanged`` or ``error``), ``errors`` ({field: message}), ``move_id``, ``partner_id``
        """
        company = self.env["res.company"].browse(company_id) if company_id else self.env.company
        if company not in self.env.companies:
            raise UserError(self.env._("You cannot import payment requests into company %(id)s.", id=company_id))
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise UserError(self.env._("rows must be a list of objects, one per payment request."))
        record = self.with_company(company).create(
            {
                "name": self.env._("Import over RPC"),
                "company_id": company.id,
                "policy_id": policy_id or False,
                "send_email": send_email,
                "send_sms": send_sms,
                "send_at": send_at or False,
            }
        )
        record._set_rows(
            (index + 1, {key: row[key] for key in row if row[key] is not None}) for index, row in enumerate(rows)
        )
        record.state = "running"
        while record._process_batch() is not None:
            pass
        return [
            {
                "row": row.row_number - 1,
                "result": row.result if row.state == "done" else "error",
                "errors": row.errors or {},
                "move_id": row.move_id.id or None,
                "partner_id": row.partner_id.id or None,
            }
            for row in record.row_ids.sorted("row_number")
        ]
