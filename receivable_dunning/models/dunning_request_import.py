import itertools
import logging
import re

import psycopg2

from odoo import api, fields, models, tools
from odoo.exceptions import UserError
from odoo.tools import SQL, format_amount, split_every

from odoo.addons.account.tools.structured_reference import format_structured_reference_iso

from ..tools.request_rows import DuplicateTracker, RowContext, validate_row
from .dunning_reminder import analyze_grown_tables
from .dunning_request_import_row import insert_records

_logger = logging.getLogger(__name__)

# Rows validated or turned into requests per transaction: a batch is created and committed whole, or not at all.
DEFAULT_BATCH_SIZE = 500
# Files with more rows are validated by the scheduled action rather than in the web request.
INLINE_VALIDATION_ROWS = 2000
# The columns of account_move and account_move_line the set-based requests write (see _insert_posted_requests), and
# those they leave empty as Odoo's create and post leave them for a posted customer invoice of one line without tax.
BULK_MOVE_COLUMNS = frozenset(
    {
        "always_tax_exigible",
        "amount_residual",
        "amount_residual_signed",
        "amount_tax",
        "amount_tax_signed",
        "amount_total",
        "amount_total_in_currency_signed",
        "amount_total_signed",
        "amount_untaxed",
        "amount_untaxed_in_currency_signed",
        "amount_untaxed_signed",
        "auto_post",
        "checked",
        "commercial_partner_id",
        "company_id",
        "currency_id",
        "date",
        "dunning_request_ref",
        "fiscal_position_id",
        "invoice_currency_rate",
        "invoice_date",
        "invoice_date_due",
        "invoice_incoterm_id",
        "invoice_partner_display_name",
        "invoice_user_id",
        "is_manually_modified",
        "journal_id",
        "made_sequence_gap",
        "move_type",
        "name",
        "narration",
        "partner_bank_id",
        "partner_id",
        "partner_shipping_id",
        "payment_reference",
        "payment_state",
        "posted_before",
        "ref",
        "sequence_number",
        "sequence_prefix",
        "state",
    }
)
BULK_MOVE_EMPTY = frozenset(
    {
        "access_token",
        "auto_post_origin_id",
        "auto_post_until",
        "delivery_date",
        "dunning_hold_until",
        "dunning_last_date",
        "dunning_level_id",
        "dunning_plan_id",
        "id",
        "inalterable_hash",
        "incoterm_location",
        "invoice_cash_rounding_id",
        "invoice_origin",
        "is_move_sent",
        "invoice_payment_term_id",
        "invoice_source_email",
        "message_main_attachment_id",
        "origin_payment_id",
        "preferred_payment_method_line_id",
        "qr_code_method",
        "quick_edit_total_amount",
        "reversed_entry_id",
        "secure_sequence_number",
        "sending_data",
        "statement_line_id",
        "tax_cash_basis_origin_move_id",
        "tax_cash_basis_rec_id",
        "taxable_supply_date",
    }
)
BULK_LINE_COLUMNS = frozenset(
    {
        "account_id",
        "amount_currency",
        "amount_residual",
        "amount_residual_currency",
        "balance",
        "company_currency_id",
        "company_id",
        "credit",
        "currency_id",
        "date",
        "date_maturity",
        "debit",
        "deductible_amount",
        "discount",
        "discount_amount_currency",
        "discount_balance",
        "display_type",
        "invoice_date",
        "is_storno",
        "journal_id",
        "move_id",
        "move_name",
        "name",
        "no_followup",
        "parent_state",
        "partner_id",
        "price_subtotal",
        "price_total",
        "price_unit",
        "product_id",
        "product_uom_id",
        "quantity",
        "reconciled",
        "ref",
        "sequence",
    }
)
BULK_LINE_EMPTY = frozenset(
    {
        "analytic_distribution",
        "collapse_composition",
        "collapse_prices",
        "discount_date",
        "extra_tax_data",
        "full_reconcile_id",
        "group_tax_id",
        "id",
        "is_imported",
        "matching_number",
        "payment_id",
        "reconcile_model_id",
        "statement_id",
        "statement_line_id",
        "tax_base_amount",
        "tax_group_id",
        "tax_line_id",
        "tax_repartition_line_id",
    }
)
# The values of an invoice that come from its debtor (see _bulk_debtor_values).
BULK_DEBTOR_MOVE_KEYS = (
    "partner",
    "commercial_partner",
    "shipping",
    "bank",
    "fiscal_position",
    "invoice_user",
    "display_name",
)
# The values of a new debtor (see _new_debtor_vals) that the set-based insert of debtors writes as given.
BULK_DEBTOR_KEYS = frozenset(
    {
        "name",
        "email",
        "phone",
        "vat",
        "ref",
        "lang",
        "customer_rank",
        "company_id",
        "country_id",
        "dunning_policy_id",
        "dunning_policy_pinned",
        "bank_ids",
        "image_1920",
        "image_1024",
        "image_512",
        "image_256",
        "image_128",
    }
)
# The stored computed fields of res.partner the insert of debtors fills itself, as Odoo computes them for a contact
# without parent and without company name (see _insert_debtors); Odoo computes the others after the insert.
BULK_DEBTOR_COMPUTED = frozenset(
    {
        "commercial_partner_id",
        "complete_name",
        "commercial_company_name",
        "email_normalized",
        "phone_sanitized",
        "partner_share",
        "user_id",
    }
)
# The modules whose create on res.partner the insert of debtors does as they would for the import's debtors: Odoo's
# base (nothing to synchronise without parent or children) and mail (the creator as follower, the creation note),
# account (a rank from the context the import does not set), base_vat (only for base_import's files), Peppol (its
# endpoint check, called after the insert) and the module's own (the rights on the dunning fields, called first).
BULK_DEBTOR_REVIEWED_MODULES = frozenset(
    {"base", "mail", "account", "base_vat", "account_peppol", "receivable_dunning"}
)
# The context keys that change a contact's display name (res.partner._compute_display_name).
PARTNER_DISPLAY_OPTIONS = ("show_address", "partner_show_db_id", "show_email", "show_vat", "formatted_display_name")
# The modules whose _post on account.move the set-based requests do as they would: Odoo's, the module's own, and
# Peppol's answer to received vendor bills (it does nothing to a customer invoice).
BULK_POSTING_REVIEWED_MODULES = frozenset({"account", "receivable_dunning", "account_peppol_response"})
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
            Row._bulk_create(self._check_rows(batch, context, tracker))
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
            # No picture: its sizes are empty too, given rather than computed one debtor at a time from none.
            **dict.fromkeys(("image_1920", "image_1024", "image_512", "image_256", "image_128"), False),
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

    # === DEBTORS CREATED IN BULK === #

    def _create_debtors(self, vals_list):
        """Create the new debtors of ``vals_list`` (from :meth:`_new_debtor_vals`): inserted in one statement when
        :meth:`_bulk_debtor_obstacle` finds nothing against it, else by ``res.partner.create``.

        :return: the debtors, in the order of ``vals_list``
        """
        Partner = self.env["res.partner"].with_company(self.company_id)
        if not vals_list:
            return Partner
        obstacle = self._bulk_debtor_obstacle(vals_list)
        if obstacle:
            _logger.info("dunning: import %s creates its new debtors through the ORM: %s", self.id, obstacle)
            return Partner.create(vals_list)
        return self._insert_debtors(vals_list)

    def _bulk_debtor_obstacle(self, vals_list):
        """Why the debtors of ``vals_list`` must go through ``res.partner.create``, or None: values the insert does
        not know, a context that changes what ``create`` writes, a ``create`` of another module, a default that is
        not a column."""
        Partner = self.env["res.partner"]
        unknown = {key for vals in vals_list for key in vals} - BULK_DEBTOR_KEYS
        if unknown:
            return "values the insert does not write: " + ", ".join(sorted(unknown))
        context = self.env.context
        if context.get("import_file") or context.get("res_partner_search_mode"):
            return "a context that changes what create writes"
        if any(key.startswith("default_") for key in context):
            return "default values in the context"
        foreign = self._modules_defining("res.partner", "create") - BULK_DEBTOR_REVIEWED_MODULES
        if foreign:
            return "res.partner.create of other modules: " + ", ".join(sorted(foreign))
        defaults = self._bulk_debtor_defaults(vals_list)
        other = [name for name in defaults if not Partner._fields[name].column_type]
        if other:
            return "defaults of fields that are not columns: " + ", ".join(sorted(other))
        return None

    def _bulk_debtor_defaults(self, vals_list):
        """The default values ``create`` gives the stored fields that ``vals_list`` does not: the same for every
        debtor (they depend on the user, the company and ``ir.default``, not on the values), read once."""
        Partner = self.env["res.partner"].with_company(self.company_id)
        given = {key for vals in vals_list for key in vals}
        missing = [
            name
            for name, field in Partner._fields.items()
            if field.store
            and name not in given
            and name not in BULK_DEBTOR_COMPUTED
            and name not in models.MAGIC_COLUMNS
        ]
        return {
            name: value
            for name, value in Partner.default_get(missing).items()
            # Not the container of the properties default_get adds, nor the empty ones that are not columns (tags).
            if name in missing
            and value is not None
            and (Partner._fields[name].column_type or Partner._fields[name].convert_to_cache(value, Partner))
        }

    def _insert_debtors(self, vals_list):
        """Insert the new debtors of ``vals_list`` in one statement, with every stored value ``res.partner.create``
        gives a contact without parent: the values given, the defaults, the computed fields (the others computed
        by Odoo afterwards, as after ``create``), then do what ``create`` does next: constraints, the creator as
        follower, the creation note, the bank accounts, Peppol's endpoint check.

        :return: the debtors, in the order of ``vals_list``
        """
        Partner = self.env["res.partner"].with_company(self.company_id)
        Partner.check_access("create")
        for name in {key for vals in vals_list for key in vals}:
            Partner._check_field_access(Partner._fields[name], "write")
        vals_list = Partner._dunning_prepare_create_vals(vals_list)
        defaults = self._bulk_debtor_defaults(vals_list)
        company_country = Partner.env.company.country_id
        countries = self.env["res.country"].browse({vals["country_id"] for vals in vals_list if vals.get("country_id")})
        ids = [
            partner_id
            for (partner_id,) in self.env.execute_query(
                SQL(
                    "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                    Partner._table,
                    len(vals_list),
                )
            )
        ]
        rows = []
        for partner_id, vals in zip(ids, vals_list, strict=True):
            country = countries.browse(vals.get("country_id")) or company_country
            row = {
                **defaults,
                **{
                    key: value
                    for key, value in vals.items()
                    if Partner._fields[key].store and Partner._fields[key].column_type
                },
                # A contact without parent is its own commercial entity, named by its name alone.
                "id": partner_id,
                "commercial_partner_id": partner_id,
                "complete_name": (vals["name"] or "").strip(),
                "commercial_company_name": False,
                "email_normalized": tools.email_normalize(vals.get("email"), strict=False),
                "phone_sanitized": vals.get("phone") and Partner._phone_format(number=vals["phone"], country=country),
                # A new contact has no user of its own, and no parent to take a salesperson from.
                "partner_share": True,
                "user_id": False,
            }
            rows.append(row)
        names = insert_records(Partner, rows)
        analyze_grown_tables(self.env.cr, ["res_partner"])  # the invoices' foreign key checks read it
        # The rows are the database's now. Nothing is cached about them, only the one2many fields the ORM would
        # have updated (those whose inverse is a many2one just written) may miss them: those are dropped.
        for name in names:
            for inverse in self.env.registry.field_inverses[Partner._fields[name]]:
                self.env[inverse.model_name].invalidate_model([inverse.name])
        partners = Partner.browse(ids)
        # What Odoo's create does next: compute the other stored fields (Peppol's address, VIES, ...) and what
        # depends on the new contacts, keeping the values written or given; check the constraints and the
        # companies of the fields written. (Odoo computes the pictures' sizes again, from the empty picture given:
        # empty too, but read from the database here one debtor at a time.)
        given = {name for vals in vals_list for name in vals}
        protected = [Partner._fields[name] for name in set(names) | given]
        with self.env.protecting(protected, partners):
            partners.modified(Partner._fields, create=True)
        partners._validate_fields(names)
        # The companies of the fields written: the verdict depends on the debtor's company and these values only,
        # mostly the same for all (defaults, the import's policy), so one debtor of each combination is checked.
        checked = [name for name in names if Partner._fields[name].relational and Partner._fields[name].check_company]
        combinations = {}
        for partner_id, row in zip(ids, rows, strict=True):
            combinations.setdefault(tuple(repr(row.get(name)) for name in ["company_id", *checked]), partner_id)
        Partner.browse(combinations.values())._check_company(checked)
        self._after_debtors_insert(partners, vals_list)
        return partners

    def _after_debtors_insert(self, partners, vals_list):
        """What ``create`` does after its insert, in its order: the new debtors' IBANs (``bank_ids``), then mail's
        creator as follower and creation note, then Peppol's endpoint check."""
        banks = [
            {**command[2], "partner_id": partner.id}
            for partner, vals in zip(partners, vals_list, strict=True)
            for command in vals.get("bank_ids", ())
        ]
        if banks:
            self.env["res.partner.bank"].create(banks)
        context = self.env.context
        user = self.env.user
        # mail's create: with tracking disabled nothing, else the creator follows and a note is logged.
        if not context.get("tracking_disable"):
            if not context.get("mail_create_nosubscribe") and user.active and not user.share:
                self.env["mail.followers"]._insert_followers(
                    partners._name,
                    partners.ids,
                    user.partner_id.ids,
                    subtypes=None,
                    customer_ids=[],
                    check_existing=False,
                )
            if not context.get("mail_create_nolog"):
                partners._message_log_batch(bodies={partner.id: partner._creation_message() for partner in partners})
        if hasattr(partners, "_update_peppol_state_per_company"):  # account_peppol's create
            # It checks the debtors of the countries of Peppol only: those without a country are left out here.
            partners.browse(
                partner.id for partner, vals in zip(partners, vals_list, strict=True) if vals.get("country_id")
            )._update_peppol_state_per_company()

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
        as the preview said; the requests are posted together (:meth:`_post_requests`), amended ones credited first; the
        emails and SMS are queued as payment request reminders, or held until ``send_at``. The rows are marked
        done in the same transaction.
        """
        self.ensure_one()
        company = self.company_id
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
        new_partners = self._create_debtors(new_vals)
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
        moves = self._post_requests(
            [
                self._request_vals(row, values, partner_of[row.id], journal, product, currency_ids)
                for row, values in to_create
            ]
        )
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

    # === REQUESTS POSTED IN BULK === #

    def _post_requests(self, vals_list):
        """Create and post the customer invoices of ``vals_list`` (from :meth:`_request_vals`): inserted posted in a
        few statements when :meth:`_bulk_posting_obstacle` finds nothing against it, else created and posted by
        the ORM.

        :return: the invoices, in the order of ``vals_list``
        """
        Move = self.env["account.move"].with_company(self.company_id)
        if not vals_list:
            return Move
        obstacle = self._bulk_posting_obstacle(vals_list)
        if obstacle:
            _logger.info("dunning: import %s posts its requests through the ORM: %s", self.id, obstacle)
            # No creation message or tracking on each request: the import lists them, and the debtor's chatter the
            # requests sent.
            moves = Move.with_context(mail_create_nolog=True, mail_notrack=True).create(vals_list)
            moves.action_post()
            return moves
        return self._insert_posted_requests(vals_list)

    def _bulk_posting_obstacle(self, vals_list):
        """Why the invoices of ``vals_list`` must go through Odoo's create and post, or None: the first of
        :meth:`_bulk_posting_obstacles`."""
        return next(self._bulk_posting_obstacles(vals_list), None)

    def _bulk_posting_obstacles(self, vals_list):
        """What the insert in bulk would not do as Odoo's create and post for the invoices of ``vals_list``: a hash
        chain, a date moved or held, analytic distributions, a posting hook or a stored field of another module, a
        bank account to check; cheapest first."""
        company = self.company_id
        journal = self.env["account.journal"].browse({vals["journal_id"] for vals in vals_list})
        if len(journal) != 1 or journal.restrict_mode_hash_table:
            yield "the journal secures its entries with a hash"
        dates = {fields.Date.to_date(vals["invoice_date"]) for vals in vals_list}
        if max(dates) > fields.Date.context_today(self):
            yield "an invoice dated in the future, which Odoo posts at its date"
        if any(not vals["invoice_line_ids"][0][2]["price_unit"] for vals in vals_list):
            yield "an invoice of zero, which Odoo marks paid"
        template = (
            self.env["account.move"].with_company(company).new({"move_type": "out_invoice", "journal_id": journal.id})
        )
        if any(template._get_violated_lock_dates(invoice_date, False) for invoice_date in dates):
            yield "an invoice date in a locked period, which Odoo moves"
        if self.env["account.analytic.distribution.model"].search_count([], limit=1):
            yield "analytic distribution models, which Odoo applies to the invoice lines"
        foreign = [
            f"account.move._post ({module})"
            for module in self._modules_defining("account.move", "_post")
            if module not in BULK_POSTING_REVIEWED_MODULES
        ] + [
            # A field of another module with a default: the insert would leave it empty. Plain ones stay empty as
            # with the ORM; computed ones are computed after the insert.
            f"{model}.{name} (default)"
            for model, name, field in self._bulk_posting_unknown_fields()
            if field.default and not field.compute
        ]
        if foreign:
            yield "posting hooks or stored fields of other modules: " + ", ".join(foreign)
        partners = self.env["res.partner"].browse({vals["partner_id"] for vals in vals_list}).with_company(company)
        if any(partners.mapped("property_inbound_payment_method_line_id")):
            yield "a debtor with a preferred payment method of its own"
        bank = self._bulk_company_bank(journal)
        if bank and not bank.allow_out_payment:
            yield "the company's bank account on the invoices is not trusted yet"

    @api.model
    def _modules_defining(self, model, method):
        """The modules whose classes of ``model`` define ``method``: those whose override the inserts in bulk
        must have reviewed."""
        return {
            cls._module
            for cls in type(self.env[model]).__mro__
            if method in vars(cls) and getattr(cls, "_module", None)
        }

    @api.model
    def _bulk_posting_unknown_fields(self):
        """The stored fields of the invoices and their lines that the insert does not write, that are not left
        empty on purpose, as (model, field name, field): other modules' fields."""
        unknown = []
        for model, columns in (
            ("account.move", BULK_MOVE_COLUMNS | BULK_MOVE_EMPTY),
            ("account.move.line", BULK_LINE_COLUMNS | BULK_LINE_EMPTY),
        ):
            for name, field in self.env[model]._fields.items():
                if field.store and field.column_type and name not in columns and name not in models.LOG_ACCESS_COLUMNS:
                    unknown.append((model, name, field))
        return unknown

    def _insert_posted_requests(self, vals_list):
        """Insert the posted invoices of ``vals_list`` and their two lines (the product's, the receivable's) in a few
        statements, with every stored value Odoo's create and post would give them, and apply what posting does:
        the module's checks and notes, the debtors' customer rank, the creator as follower.

        The names come from the journal's sequence, consecutive: the insert takes their entries in the unique index
        of posted names as ``sequence.mixin`` does, so that an invoice posted meanwhile by a user in the same
        journal waits for this transaction, then takes the next free number.
        """
        company = self.company_id
        Move = self.env["account.move"].with_company(company)
        self.env.flush_all()
        journal = self.env["account.journal"].browse(vals_list[0]["journal_id"])
        company_currency = company.currency_id
        currencies = self.env["res.currency"].browse({vals["currency_id"] for vals in vals_list})
        debtors = self._bulk_debtor_values(
            self.env["res.partner"].browse(dict.fromkeys(vals["partner_id"] for vals in vals_list)), journal
        )
        rates = {
            (currency.id, invoice_date): self.env["res.currency"]._get_conversion_rate(
                company_currency, currency, company, invoice_date
            )
            for currency in currencies
            for invoice_date in {fields.Date.to_date(vals["invoice_date"]) for vals in vals_list}
        }
        use_terms = self.env["ir.config_parameter"].sudo().get_param("account.use_invoice_terms")  # sudo: setting
        now = self.env.cr.now()
        uid = self.env.uid
        moves, lines = [], []
        for vals in vals_list:
            line = vals["invoice_line_ids"][0][2]
            currency = currencies.browse(vals["currency_id"])
            invoice_date = fields.Date.to_date(vals["invoice_date"])
            debtor = debtors[vals["partner_id"]]
            rate = rates[currency.id, invoice_date]
            amount = currency.round(line["price_unit"])
            balance = company_currency.round(amount / rate)
            moves.append(
                {
                    "date": invoice_date,
                    "ref": vals["ref"],
                    "currency": currency.id,
                    "rate": rate,
                    "amount": amount,
                    "balance": balance,
                    "due": fields.Date.to_date(vals["invoice_date_due"]),
                    "payment_reference": vals["payment_reference"],
                    "request_ref": vals["dunning_request_ref"],
                    "narration": (use_terms and debtor["narration"]) or None,
                    **{key: debtor[key] for key in BULK_DEBTOR_MOVE_KEYS},
                }
            )
            lines.append(
                {
                    "label": line["name"],
                    "product": line.get("product_id"),
                    "uom": debtor["uom"],
                    "income": debtor["income"],
                    "receivable": debtor["receivable"],
                    "term_label": (
                        f"{vals['ref']} - {vals['payment_reference']}"
                        if vals["ref"] and vals["payment_reference"] != vals["ref"]
                        else vals["payment_reference"]
                    ),
                }
            )
        order = sorted(range(len(moves)), key=lambda index: (moves[index]["date"], moves[index]["ref"] or "", index))
        skip = 0
        while True:
            names = self._bulk_sequence_names(journal, [moves[index]["date"] for index in order], skip)
            for index, (name, prefix, number, gap) in zip(order, names, strict=True):
                moves[index].update(name=name, prefix=prefix, number=number, gap=gap)
            try:
                with self.env.cr.savepoint(flush=False):
                    move_ids = self._bulk_insert_moves(journal, moves, now)
                break
            except psycopg2.errors.UniqueViolation as error:
                # A name taken by a transaction that committed since this one started: the next ones, as
                # sequence.mixin._locked_increment does.
                if error.diag.constraint_name != f"{Move._table}_unique_name":  # account.move's _unique_name
                    raise
                skip += 1
        # Odoo's own posts in this transaction take their numbers after these ones, not from what it cached.
        cache = Move._get_sequence_cache()
        for key in [key for key in cache if key[1] == journal]:
            del cache[key]

        def column(key, rows):
            return [row[key] for row in rows]

        for move, move_id in zip(moves, move_ids, strict=True):
            move["id"] = move_id
        analyze_grown_tables(self.env.cr, ["account_move"])  # the lines' foreign key checks read it
        self.env.execute_query(
            SQL(
                """
                INSERT INTO account_move_line (
                    move_id, move_name, journal_id, company_id, company_currency_id, currency_id, partner_id, date,
                    invoice_date, ref, parent_state, display_type, sequence, account_id, name, product_id,
                    product_uom_id, quantity, price_unit, price_subtotal, price_total, discount, balance, debit,
                    credit, amount_currency, amount_residual, amount_residual_currency, date_maturity,
                    discount_amount_currency, discount_balance, reconciled, is_storno, no_followup,
                    deductible_amount, create_uid, create_date, write_uid, write_date
                )
                SELECT r.move, r.name, %(journal)s, %(company)s, %(company_currency)s, r.currency,
                       r.commercial_partner, r.date, r.date, r.ref, 'posted', kind.display_type, kind.sequence,
                       CASE WHEN kind.is_term THEN r.receivable ELSE r.income END,
                       CASE WHEN kind.is_term THEN r.term_label ELSE r.label END,
                       CASE WHEN kind.is_term THEN NULL ELSE r.product END,
                       CASE WHEN kind.is_term THEN NULL ELSE r.uom END,
                       CASE WHEN kind.is_term THEN 0.0 ELSE 1.0 END,
                       CASE WHEN kind.is_term THEN 0.0 ELSE r.amount END,
                       CASE WHEN kind.is_term THEN 0.0 ELSE r.amount END,
                       CASE WHEN kind.is_term THEN 0.0 ELSE r.amount END,
                       0.0,
                       kind.sign * r.balance,
                       CASE WHEN kind.is_term THEN r.balance ELSE 0.0 END,
                       CASE WHEN kind.is_term THEN 0.0 ELSE r.balance END,
                       kind.sign * r.amount,
                       CASE WHEN kind.is_term THEN r.balance ELSE 0.0 END,
                       CASE WHEN kind.is_term THEN r.amount ELSE 0.0 END,
                       CASE WHEN kind.is_term THEN r.due END,
                       CASE WHEN kind.is_term THEN 0.0 END,
                       CASE WHEN kind.is_term THEN 0.0 END,
                       FALSE, FALSE, FALSE, 100, %(uid)s, %(now)s, %(uid)s, %(now)s
                  FROM unnest(
                        %(move)s::int[], %(name)s::varchar[], %(currency)s::int[], %(commercial_partner)s::int[],
                        %(date)s::date[], %(due)s::date[], %(ref)s::varchar[], %(amount)s::numeric[],
                        %(balance)s::numeric[], %(label)s::varchar[], %(term_label)s::varchar[],
                        %(product)s::int[], %(uom)s::int[], %(income)s::int[], %(receivable)s::int[]
                       ) AS r(
                        move, name, currency, commercial_partner, date, due, ref, amount, balance, label,
                        term_label, product, uom, income, receivable
                       )
                 CROSS JOIN (VALUES ('product', 100, -1, FALSE), ('payment_term', 12000, 1, TRUE))
                       AS kind(display_type, sequence, sign, is_term)
                 ORDER BY r.move, kind.sequence
                """,
                journal=journal.id,
                company=company.id,
                company_currency=company_currency.id,
                uid=uid,
                now=now,
                move=column("id", moves),
                **{
                    key: column(key, moves)
                    for key in ("name", "currency", "commercial_partner", "date", "due", "ref", "amount", "balance")
                },
                **{
                    key: column(key, lines) for key in ("label", "term_label", "product", "uom", "income", "receivable")
                },
            )
        )
        # The rows are the database's now: nothing cached about these invoices, their debtors' balances included.
        self.env.invalidate_all()
        posted = Move.browse(move_ids)
        self._after_bulk_posting(posted)
        return posted

    def _bulk_insert_moves(self, journal, moves, now):
        """Insert the posted invoices ``moves`` (dicts of their values); their names take their entries in the
        unique index of posted names, or fail when another transaction has one.

        :return: their ids, in order
        """
        company = self.company_id

        def column(key):
            return [move[key] for move in moves]

        self.env.cr.execute(
            SQL(
                """
                    INSERT INTO account_move (
                        journal_id, company_id, move_type, state, auto_post, payment_state, posted_before, checked,
                        always_tax_exigible, made_sequence_gap, is_manually_modified,
                        name, sequence_prefix, sequence_number, date, invoice_date, invoice_date_due, ref,
                        payment_reference, dunning_request_ref, partner_id, commercial_partner_id,
                        partner_shipping_id, partner_bank_id, fiscal_position_id, invoice_user_id,
                        invoice_incoterm_id, invoice_partner_display_name, narration, currency_id,
                        invoice_currency_rate, amount_untaxed, amount_tax, amount_total, amount_residual,
                        amount_untaxed_signed, amount_untaxed_in_currency_signed, amount_tax_signed,
                        amount_total_signed, amount_total_in_currency_signed, amount_residual_signed,
                        create_uid, create_date, write_uid, write_date
                    )
                    SELECT %(journal)s, %(company)s, 'out_invoice', 'posted', 'no', 'not_paid', TRUE, %(checked)s,
                           FALSE, r.gap, FALSE,
                           r.name, r.prefix, r.number, r.date, r.date, r.due, r.ref,
                           r.payment_reference, r.request_ref, r.partner, r.commercial_partner,
                           r.shipping, r.bank, r.fiscal_position, r.invoice_user,
                           %(incoterm)s, r.display_name, r.narration, r.currency,
                           r.rate, r.amount, 0.0, r.amount, r.amount,
                           r.balance, r.amount, 0.0,
                           r.balance, r.amount, r.balance,
                           %(uid)s, %(now)s, %(uid)s, %(now)s
                      FROM unnest(
                            %(gap)s::boolean[], %(name)s::varchar[], %(prefix)s::varchar[], %(number)s::int[],
                            %(date)s::date[], %(due)s::date[], %(ref)s::varchar[], %(payment_reference)s::varchar[],
                            %(request_ref)s::varchar[], %(partner)s::int[], %(commercial_partner)s::int[],
                            %(shipping)s::int[], %(bank)s::int[], %(fiscal_position)s::int[],
                            %(invoice_user)s::int[], %(display_name)s::varchar[], %(narration)s::text[],
                            %(currency)s::int[], %(rate)s::numeric[], %(amount)s::numeric[], %(balance)s::numeric[]
                           ) WITH ORDINALITY AS r(
                            gap, name, prefix, number, date, due, ref, payment_reference, request_ref, partner,
                            commercial_partner, shipping, bank, fiscal_position, invoice_user, display_name,
                            narration, currency, rate, amount, balance, position
                           )
                     ORDER BY r.position
                 RETURNING id
                    """,
                journal=journal.id,
                company=company.id,
                checked=journal.type == "general" or self.env["account.move"]._is_user_able_to_review(),
                incoterm=company.incoterm_id.id or None,
                uid=self.env.uid,
                now=now,
                **{
                    key: column(key)
                    for key in (
                        "gap",
                        "name",
                        "prefix",
                        "number",
                        "date",
                        "due",
                        "ref",
                        "payment_reference",
                        "request_ref",
                        "partner",
                        "commercial_partner",
                        "shipping",
                        "bank",
                        "fiscal_position",
                        "invoice_user",
                        "display_name",
                        "narration",
                        "currency",
                        "rate",
                        "amount",
                        "balance",
                    )
                },
            ),
            log_exceptions=False,
        )
        return [move_id for (move_id,) in self.env.cr.fetchall()]

    def _after_bulk_posting(self, moves):
        """What Odoo's create and post (and the module's overrides of them) do after the invoices are in the
        database: the computed fields of other modules, the creator and the salespersons as followers, the debtors'
        customer rank, and the module's checks and notes."""
        for model, records in (("account.move", moves), ("account.move.line", moves.line_ids)):
            for _model, _name, field in self._bulk_posting_unknown_fields():
                if _model == model and field.compute:
                    self.env.add_to_compute(field, records)
        user = self.env.user
        if not self.env.context.get("mail_create_nosubscribe") and user.active and not user.share:
            self.env["mail.followers"]._insert_followers(
                moves._name, moves.ids, user.partner_id.ids, subtypes=None, customer_ids=[], check_existing=False
            )
        counts = {}
        for move in moves:
            counts[move.partner_id] = counts.get(move.partner_id, 0) + 1
        for partner, count in counts.items():
            (partner | partner.commercial_partner_id)._increase_rank("customer_rank", count)
        overridden = moves._dunning_check_stop_supply()
        moves._dunning_log_notes(moves._dunning_override_notes(overridden))
        moves._dunning_log_notes(moves._dunning_over_credit_limit_notes(moves))
        self.env["account.bank.statement.line"]._dunning_auto_match_again_for_invoices(moves)
        self.env.flush_all()

    def _bulk_debtor_values(self, partners, journal):
        """What the invoices of each debtor take from it: {partner id: {key: value}} (the keys of
        ``BULK_DEBTOR_MOVE_KEYS``, the accounts of its lines, the invoice terms in its language)."""
        company = self.company_id
        partners = partners.with_company(company)
        partners.fetch(
            [
                "commercial_partner_id",
                "user_id",
                "child_ids",
                "lang",
                "country_id",
                "state_id",
                "zip",
                "vat",
                "property_account_position_id",
                "parent_id",
                "company_name",
                "complete_name",
            ]
        )
        display_names = self._bulk_display_names(partners)
        FiscalPosition = self.env["account.fiscal.position"].with_company(company)
        auto_positions = FiscalPosition.search(
            [*FiscalPosition._check_company_domain(company), ("auto_apply", "=", True)]
        )
        product = self.env["product.product"].browse(company.dunning_request_product_id.id).with_company(company)
        bank = self._bulk_company_bank(journal)
        frequent_accounts = {} if product else self._most_frequent_income_accounts(partners.commercial_partner_id)
        terms, product_income, values = {}, {}, {}
        for partner in partners:
            commercial = partner.commercial_partner_id
            shipping = (
                self.env["res.partner"].browse(partner.address_get(["delivery"])["delivery"])
                if partner.child_ids
                else partner
            )
            if shipping != partner:
                position = FiscalPosition._get_fiscal_position(partner, delivery=shipping)
            else:
                # Odoo's _get_fiscal_position for a debtor that is its own delivery address, with the positions
                # applied automatically searched once for the batch, not once per debtor.
                position = partner.property_account_position_id or (
                    auto_positions._get_first_matching_fpos(partner) if partner.country_id else FiscalPosition
                )
            receivable = commercial.property_account_receivable_id or company.partner_id.property_account_receivable_id
            if product:
                if position not in product_income:
                    product_income[position] = product.product_tmpl_id.get_product_accounts(fiscal_pos=position)[
                        "income"
                    ]
                income = product_income[position]
            else:
                income = self.env["account.account"].browse(frequent_accounts.get(commercial.id))
            income = income or journal.default_account_id
            lang = partner.lang or self.env.user.lang
            if lang not in terms:
                terms[lang] = (
                    self.env["account.move"]
                    .with_company(company)
                    .with_context(lang=lang)
                    .new({"move_type": "out_invoice", "journal_id": journal.id, "partner_id": partner.id})
                    .narration
                    or None
                )
            values[partner.id] = {
                "partner": partner.id,
                "commercial_partner": commercial.id,
                "shipping": shipping.id,
                "bank": bank.id or None,
                "fiscal_position": position.id or None,
                "invoice_user": (partner.user_id or commercial.user_id or self.env.user).id,
                "display_name": display_names[partner.id],
                "narration": terms[lang],
                "receivable": position.map_account(receivable).id if position else receivable.id,
                "income": income.id,
                "uom": product.uom_id.id or None,
            }
        return values

    def _bulk_display_names(self, partners):
        """{partner id: its display name}, which its invoices show (``invoice_partner_display_name``).

        Odoo computes it one contact at a time, in a context of the contact's own, translating the address types each
        time. For a contact without parent nor company name, in a context without display options, it is the stored
        ``complete_name`` (the name, trimmed) without spaces before a line break (``res.partner``'s
        ``_compute_display_name`` and ``_get_complete_name``): read so for the batch, unless another module computes
        display names of its own.
        """
        computed_by = self._modules_defining("res.partner", "_compute_display_name")
        plain = computed_by == {"base"} and not any(self.env.context.get(key) for key in PARTNER_DISPLAY_OPTIONS)
        names = {
            partner.id: re.sub(r"\s+\n", "\n", partner.complete_name or "").strip()
            for partner in partners
            if plain and not partner.parent_id and not partner.company_name
        }
        others = partners.browse(partner.id for partner in partners if partner.id not in names)
        names.update((partner.id, partner.display_name) for partner in others)
        return names

    def _most_frequent_income_accounts(self, partners):
        """{partner id: the income account of its invoice lines of the last two years used most}, for ``partners``
        together: ``account.account._get_most_frequent_account_for_partner``, the account Odoo gives an invoice
        line without product, in one query."""
        AccountLine = self.env["account.move.line"]
        query = AccountLine._search(
            [
                *AccountLine._check_company_domain(self.company_id.id),
                ("partner_id", "in", partners.ids),
                ("account_id.active", "=", True),
                ("date", ">=", fields.Date.add(fields.Date.today(), days=-365 * 2)),
                ("account_id.internal_group", "=", "income"),
            ],
            bypass_access=True,  # as Odoo's own: the most used account, whoever may read the lines
        )
        code_sql = (
            self.env["account.account"]
            .with_company(self.company_id)
            ._field_to_sql("account_move_line__account_id", "code", query)
        )
        return dict(
            self.env.execute_query(
                SQL(
                    """
                    SELECT DISTINCT ON (account_move_line.partner_id)
                           account_move_line.partner_id, account_move_line__account_id.id
                      FROM %(from_clause)s
                     WHERE %(where_clause)s
                  GROUP BY account_move_line.partner_id, account_move_line__account_id.id
                  ORDER BY account_move_line.partner_id, COUNT(account_move_line.id) DESC, MAX(%(code_sql)s)
                    """,
                    from_clause=query.from_clause,
                    where_clause=query.where_clause or SQL("TRUE"),
                    code_sql=code_sql,
                )
            )
        )

    def _bulk_company_bank(self, journal):
        """The company's bank account Odoo puts on a customer invoice of ``journal`` (its debtors have no preferred
        payment method: see :meth:`_bulk_posting_obstacle`)."""
        return (
            self.env["account.move"]
            .with_company(self.company_id)
            .new({"move_type": "out_invoice", "journal_id": journal.id, "company_id": self.company_id.id})
            .partner_bank_id
        )

    def _bulk_sequence_names(self, journal, dates, skip=0):
        """The next names of ``journal``'s invoice sequence for invoices of these ``dates`` (in posting order), as
        Odoo's ``sequence.mixin`` gives them: [(name, prefix, number, made_sequence_gap)].

        :param int skip: numbers to leave after the last one this transaction sees, taken by another meanwhile
        """
        Move = self.env["account.move"].with_company(self.company_id)
        split = re.compile(Move._make_regex_non_capturing(Move._sequence_fixed_regex.replace("?P<seq>", "")))
        formats, last, names = {}, {}, []
        for invoice_date in dates:
            if invoice_date not in formats:
                template = Move.new({"move_type": "out_invoice", "journal_id": journal.id, "date": invoice_date})
                format_string, format_values = template._get_next_sequence_format()
                last_number = format_values.pop("seq")
                key = format_string.format(**format_values, seq=0)
                last.setdefault(key, last_number + skip)
                formats[invoice_date] = (format_string, format_values, key)
            format_string, format_values, key = formats[invoice_date]
            last[key] += 1
            name = format_string.format(**format_values, seq=last[key])
            matching = split.match(name)
            names.append((name, name[: matching.start(1)], int(matching.group(1) or 0)))
        first_numbers = {}
        for _name, prefix, number in names:
            first_numbers.setdefault(prefix, number)
        present = set(
            self.env.execute_query(
                SQL(
                    "SELECT sequence_prefix, sequence_number FROM account_move WHERE journal_id = %s AND (%s)",
                    journal.id,
                    SQL(" OR ").join(
                        SQL("(sequence_prefix = %s AND sequence_number = %s)", prefix, number - 1)
                        for prefix, number in first_numbers.items()
                    ),
                )
            )
        )
        return [
            (
                name,
                prefix,
                number,
                number == first_numbers[prefix] and number > 1 and (prefix, number - 1) not in present,
            )
            for name, prefix, number in names
        ]

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
