from datetime import date
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools import SQL

from ..models.dunning_reminder import analyze_grown_tables
from ..tools.request_rows import validate_row
from .test_request_import import RequestImportCommon, _row

# What differs between two invoices of the same values by construction: their ids, names and references, and when.
PER_INVOICE_COLUMNS = frozenset(
    {
        "id",
        "name",
        "sequence_number",
        "made_sequence_gap",
        "ref",
        "payment_reference",
        "dunning_request_ref",
        "create_date",
        "write_date",
    }
)
PER_LINE_COLUMNS = frozenset({"id", "move_id", "move_name", "ref", "create_date", "write_date"})


@tagged("post_install", "-at_install")
class TestRequestBulkPosting(RequestImportCommon):
    """The requests inserted posted in a few statements are the invoices Odoo's create and post would give: every
    stored column, what Odoo does with them afterwards, and the cases left to the ORM."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.eur = cls.env.ref("base.EUR")
        # 1 USD (the company's) = 1.25 EUR on the invoice date: 1000.01 EUR are 800.01 USD (800.008 rounded).
        cls.env["res.currency.rate"].create(
            {"name": "2026-02-20", "rate": 1.25, "currency_id": cls.eur.id, "company_id": cls.company.id}
        )
        # A salesperson of its own: the invoices are the salesperson's, not the importing user's.
        cls.debtor = cls.env["res.partner"].create(
            {"name": "Golden Debtor", "email": "golden@example.com", "user_id": cls.env.ref("base.user_admin").id}
        )

    def _vals_list(self, *rows):
        """The invoice values of ``rows`` as the import gives them to create and post, all for the golden debtor."""
        record = self._import(list(rows))
        context = record._row_context()
        currency_ids = {currency.name: currency.id for currency in self.env["res.currency"].search([])}
        return record, [
            record._request_vals(
                row,
                validate_row(row.raw, context, self.env)[0],
                self.debtor,
                self.journal,
                self.product,
                currency_ids,
            )
            for row in self._rows(record)
        ]

    def _orm_post(self, vals_list):
        moves = self.env["account.move"].with_context(mail_create_nolog=True, mail_notrack=True).create(vals_list)
        moves.action_post()
        return moves

    def _columns(self, table, column, value):
        """Every stored column of the rows of ``table`` whose ``column`` is ``value``, as the database has them."""
        self.env.flush_all()
        rows = self.env.execute_query(
            SQL(
                "SELECT row_to_json(t) FROM %s t WHERE %s = %s ORDER BY id",
                SQL.identifier(table),
                SQL.identifier(column),
                value,
            )
        )
        return [row for (row,) in rows]

    def _followers(self, move):
        return set(move.message_follower_ids.mapped(lambda follower: (follower.partner_id, follower.subtype_ids)))

    def assertSameColumns(self, bulk, orm):
        (bulk_move,), (orm_move,) = (
            self._columns("account_move", "id", bulk.id),
            self._columns("account_move", "id", orm.id),
        )
        self.assertEqual(
            {key: value for key, value in bulk_move.items() if key not in PER_INVOICE_COLUMNS},
            {key: value for key, value in orm_move.items() if key not in PER_INVOICE_COLUMNS},
        )
        bulk_lines = self._columns("account_move_line", "move_id", bulk.id)
        orm_lines = self._columns("account_move_line", "move_id", orm.id)
        self.assertEqual(len(bulk_lines), 2)
        for line_of_bulk, line_of_orm in zip(bulk_lines, orm_lines, strict=True):
            # The receivable line's label is the invoice's references.
            skipped = PER_LINE_COLUMNS | ({"name"} if line_of_bulk["display_type"] == "payment_term" else set())
            self.assertEqual(
                {key: value for key, value in line_of_bulk.items() if key not in skipped},
                {key: value for key, value in line_of_orm.items() if key not in skipped},
            )
        self.assertEqual(self._followers(bulk), self._followers(orm))
        self.assertEqual(bulk.message_ids.mapped("body"), orm.message_ids.mapped("body"))

    def test_golden_same_invoice_as_create_and_post(self):
        rows = [
            _row(external_ref="G1", amount="1234.56", date_invoice="2026-03-01", date_due="2026-04-15"),
            _row(external_ref="G2", amount="1234.56", date_invoice="2026-03-01", date_due="2026-04-15"),
        ]
        record, (bulk_vals, orm_vals) = self._vals_list(*rows)
        rank = self.debtor.customer_rank
        bulk = record.with_user(self.env.user)._insert_posted_requests([bulk_vals])
        self.assertEqual(self.debtor.customer_rank, rank + 1)
        orm = self._orm_post([orm_vals])
        self.assertSameColumns(bulk, orm)
        # The values themselves, by hand: the file's amount, no tax, the journal's next number.
        self.assertEqual(
            (bulk.state, bulk.payment_state, bulk.amount_total, bulk.amount_residual),
            ("posted", "not_paid", 1234.56, 1234.56),
        )
        self.assertEqual((bulk.date, bulk.invoice_date_due), (date(2026, 3, 1), date(2026, 4, 15)))
        self.assertEqual((bulk.ref, bulk.dunning_request_ref), ("G1", "G1"))
        self.assertEqual(bulk.sequence_prefix, orm.sequence_prefix)
        self.assertEqual(orm.sequence_number, bulk.sequence_number + 1)
        self.assertEqual(bulk.name, f"{bulk.sequence_prefix}{bulk.sequence_number:05d}")
        receivable = bulk.line_ids.filtered(lambda line: line.display_type == "payment_term")
        self.assertEqual(receivable.name, f"G1 - {bulk.payment_reference}")
        self.assertEqual(
            (receivable.balance, receivable.amount_residual, receivable.reconciled), (1234.56, 1234.56, False)
        )
        self.assertEqual(self.debtor.credit, 2469.12)
        # Odoo pays it, and the payment reconciles it.
        self.env["account.payment.register"].with_context(active_model="account.move", active_ids=bulk.ids).create(
            {"payment_date": "2026-03-10"}
        )._create_payments()
        self.assertIn(bulk.payment_state, ("paid", "in_payment"))
        self.assertTrue(receivable.reconciled)
        self.debtor.invalidate_recordset(["credit"])  # not stored: read again from the lines
        self.assertEqual(self.debtor.credit, 1234.56)

    def test_golden_foreign_currency(self):
        rows = [
            _row(external_ref="F1", amount="1000.01", currency="EUR", date_invoice="2026-03-01"),
            _row(external_ref="F2", amount="1000.01", currency="EUR", date_invoice="2026-03-01"),
        ]
        record, (bulk_vals, orm_vals) = self._vals_list(*rows)
        bulk = record._insert_posted_requests([bulk_vals])
        orm = self._orm_post([orm_vals])
        self.assertSameColumns(bulk, orm)
        self.assertEqual((bulk.currency_id, bulk.invoice_currency_rate), (self.eur, 1.25))
        self.assertEqual((bulk.amount_total, bulk.amount_total_signed), (1000.01, 800.01))
        receivable = bulk.line_ids.filtered(lambda line: line.display_type == "payment_term")
        self.assertEqual((receivable.amount_currency, receivable.balance), (1000.01, 800.01))
        self.assertEqual(self.debtor.credit, 1600.02)
        # Credited by Odoo: reversed, and nothing left to pay.
        bulk._reverse_moves(cancel=True)
        self.assertEqual(bulk.payment_state, "reversed")
        self.debtor.invalidate_recordset(["credit"])
        self.assertEqual(self.debtor.credit, 800.01)

    def test_golden_without_product(self):
        """Without a request product, Odoo books the line on the income account the debtor's lines use most."""
        self.company.dunning_request_product_id = False
        self.product = self.env["product.product"]
        usual = self.company_data["default_account_revenue"].copy({"code": "700099"})
        earlier = self._orm_post(
            [
                {
                    "move_type": "out_invoice",
                    "partner_id": self.debtor.id,
                    "journal_id": self.journal.id,
                    "invoice_date": fields.Date.today(),
                    "invoice_line_ids": [(0, 0, {"name": "Earlier", "price_unit": 5.0, "account_id": usual.id})],
                }
            ]
        )
        self.assertEqual(earlier.invoice_line_ids.account_id, usual)
        record, (bulk_vals, orm_vals) = self._vals_list(
            _row(external_ref="P1", description="Advice"), _row(external_ref="P2", description="Advice")
        )
        self.assertNotIn("product_id", bulk_vals["invoice_line_ids"][0][2])
        bulk = record._insert_posted_requests([bulk_vals])
        orm = self._orm_post([orm_vals])
        self.assertSameColumns(bulk, orm)
        self.assertEqual(bulk.invoice_line_ids.account_id, usual)

    def test_names_follow_on_in_order(self):
        """A batch takes the journal's next numbers, by date then reference, after the invoices posted before; and
        Odoo's next invoice takes the number after them."""
        record, vals_list = self._vals_list(
            _row(external_ref="B", date_invoice="2026-03-02"),
            _row(external_ref="A", date_invoice="2026-03-02"),
            _row(external_ref="C", date_invoice="2026-03-01"),
        )
        before = self._orm_post([dict(vals_list[0], ref="X", dunning_request_ref="X", payment_reference="X")])
        moves = record._insert_posted_requests(vals_list)
        after = self._orm_post([dict(vals_list[0], ref="Y", dunning_request_ref="Y", payment_reference="Y")])
        start = before.sequence_number
        self.assertEqual(moves.mapped("sequence_number"), [start + 3, start + 2, start + 1])
        self.assertEqual(after.sequence_number, start + 4)
        self.assertFalse(any(moves.mapped("made_sequence_gap")))

    def test_name_taken_meanwhile(self):
        """A name another transaction took since this one read the last number (here: a posted invoice this one's
        read does not count): the batch takes the numbers after it, as sequence.mixin does."""
        record, vals_list = self._vals_list(_row(external_ref="T1"), _row(external_ref="T2"), _row(external_ref="T3"))
        first = self._orm_post([vals_list[0]])
        taken = self._orm_post([vals_list[1]])
        self.env.cr.execute("UPDATE account_move SET sequence_number = 0 WHERE id = %s", [taken.id])
        taken.invalidate_recordset()
        (move,) = record._insert_posted_requests([vals_list[2]])
        self.assertEqual(move.sequence_number, first.sequence_number + 2)
        self.assertEqual(move.name, f"{first.sequence_prefix}{first.sequence_number + 2:05d}")

    def test_table_filled_in_bulk_is_analyzed(self):
        """A table this transaction filled from (nearly) empty is analyzed once it has doubled, so that the foreign
        keys pointing to it are checked through its index; a table that barely grew is left alone."""
        cr = self.env.cr
        cr.execute("CREATE TEMP TABLE rd_filled (id serial PRIMARY KEY, label varchar) ON COMMIT DROP")

        def fill(count):
            cr.execute("INSERT INTO rd_filled (label) SELECT 'row ' || n FROM generate_series(1, %s) n", [count])
            analyze_grown_tables(cr, ["rd_filled"])
            cr.execute("SELECT reltuples FROM pg_class WHERE oid = 'rd_filled'::regclass")
            return cr.fetchone()[0]

        self.assertEqual(fill(2000), 2000, "analyzed: never analyzed before")
        self.assertEqual(fill(100), 2000, "left alone: it grew by a twentieth")
        self.assertEqual(fill(5000), 7100, "analyzed: more than twice its pages")

    def test_stop_supply_still_refuses_the_request(self):
        self.debtor.write({"dunning_stop_supply": True})
        record, vals_list = self._vals_list(_row(external_ref="S1"))
        count = self.env["account.move"].search_count([])
        with self.assertRaisesRegex(UserError, "Golden Debtor is on Stop Supply"), self.env.cr.savepoint():
            record._insert_posted_requests(vals_list)
        self.assertEqual(self.env["account.move"].search_count([]), count)

    def test_import_uses_the_bulk_path(self):
        """An import's batch is inserted in one go, its requests queued for sending as before."""
        Import = type(self.Import)
        with patch.object(
            Import, "_insert_posted_requests", autospec=True, side_effect=Import._insert_posted_requests
        ) as insert:
            record = self._run(self._import([_row(external_ref="I1"), _row(external_ref="I2", amount="7")]))
        self.assertEqual(insert.call_count, 1)
        moves = self._rows(record).move_id
        self.assertEqual(moves.mapped("state"), ["posted", "posted"])
        self.assertEqual(moves.mapped("amount_total"), [100.0, 7.0])
        reminders = self.env["dunning.reminder.line"].search([("move_id", "in", moves.ids)]).reminder_id
        self.assertEqual(reminders.mapped("state"), ["queued", "queued"])
        self.assertEqual(set(reminders.mapped("reminder_type")), {"request"})

    def test_orm_where_the_bulk_path_does_not_apply(self):
        """A journal that hashes its entries, a date in the future or in a locked period: Odoo's create and post."""
        record, vals_list = self._vals_list(_row(external_ref="H1", date_invoice="2026-03-01"))
        self.assertIsNone(record._bulk_posting_obstacle(vals_list))
        self.assertIn("future", record._bulk_posting_obstacle([dict(vals_list[0], invoice_date=date(2999, 1, 1))]))
        self.company.fiscalyear_lock_date = date(2026, 3, 31)
        self.assertIn("locked", record._bulk_posting_obstacle(vals_list))
        self.company.fiscalyear_lock_date = False
        self.journal.restrict_mode_hash_table = True
        self.assertIn("hash", record._bulk_posting_obstacle(vals_list))
        with patch.object(type(record), "_insert_posted_requests") as insert:
            moves = record._post_requests(vals_list)
        insert.assert_not_called()
        self.assertEqual(moves.state, "posted")
        self.assertTrue(moves.inalterable_hash)
