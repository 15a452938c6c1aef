import copy
from unittest.mock import patch

from markupsafe import Markup

from odoo.tests import tagged
from odoo.tools import SQL

from ..tools.request_rows import validate_row
from .test_request_import import IBAN_BE, VAT_BE, RequestImportCommon, _row

# What differs between two contacts of the same values by construction: their ids, and when.
PER_PARTNER_COLUMNS = frozenset({"id", "commercial_partner_id", "create_date", "write_date"})


@tagged("post_install", "-at_install")
class TestRequestBulkDebtors(RequestImportCommon):
    """The new debtors inserted in one statement are the contacts ``res.partner.create`` would give: every stored
    column, their followers, notes and bank accounts, and the cases left to the ORM."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.policy = cls.env["dunning.policy"].create({"name": "Imported debtors", "company_id": cls.company.id})
        cls.importer = cls._create_user(
            "importer", "receivable_dunning.group_dunning_user,account.group_account_invoice,base.group_partner_manager"
        )

    def _debtor_vals(self, *rows, **vals):
        """The values of the new debtors of ``rows`` as the import gives them to create, and the import."""
        record = self._import(list(rows), **vals)
        context = record._row_context()
        country_ids = record._country_ids()
        return record, [
            record._new_debtor_vals(validate_row(row.raw, context, self.env)[0], country_ids)
            for row in self._rows(record)
        ]

    def _columns(self, partner):
        self.env.flush_all()
        (row,) = self.env.execute_query(SQL("SELECT row_to_json(t) FROM res_partner t WHERE id = %s", partner.id))
        return {key: value for key, value in row[0].items() if key not in PER_PARTNER_COLUMNS}

    def assertSameDebtors(self, bulk, orm):
        self.assertEqual(len(bulk), len(orm))
        for debtor_of_bulk, debtor_of_orm in zip(bulk, orm, strict=True):
            self.assertEqual(self._columns(debtor_of_bulk), self._columns(debtor_of_orm))
            self.assertEqual(debtor_of_bulk.commercial_partner_id, debtor_of_bulk)
            self.assertEqual(
                debtor_of_bulk.message_follower_ids.partner_id, debtor_of_orm.message_follower_ids.partner_id
            )
            self.assertEqual(
                [
                    (message.message_type, message.subtype_id, message.author_id)
                    for message in debtor_of_bulk.message_ids
                ],
                [
                    (message.message_type, message.subtype_id, message.author_id)
                    for message in debtor_of_orm.message_ids
                ],
            )
            self.assertEqual(
                debtor_of_bulk.bank_ids.mapped("sanitized_acc_number"),
                debtor_of_orm.bank_ids.mapped("sanitized_acc_number"),
            )

    def _orm_create(self, record, vals_list):
        # A copy: create changes the values it is given.
        partners = record.env["res.partner"].with_company(record.company_id).create(copy.deepcopy(vals_list))
        # Its computed fields written now, by the importer (the last to write them).
        record.env.flush_all()
        return partners

    def _bulk_insert(self, record, vals_list):
        partners = record._insert_debtors(vals_list)
        record.env.flush_all()
        return partners

    def test_golden_same_debtors_as_create(self):
        rows = [
            # Every value a row gives: country, VAT number, mobile, IBAN, language, reference.
            _row(
                external_ref="D1",
                name=" Maison  Dupont ",
                email="Jean.Dupont@Example.com",
                mobile="0470 12 34 56",
                country_code="BE",
                vat=VAT_BE,
                iban=IBAN_BE,
                lang="fr",
                partner_ref="C-001",
            ),
            # Only a mobile number, national, read in the company's country; the company's language.
            _row(external_ref="D2", name="Marie Curie", email="", mobile="0470 65 43 21"),
            # Only an email.
            _row(external_ref="D3", name="Paul Otlet", email="paul@example.org"),
        ]
        record, vals_list = self._debtor_vals(*rows, policy_id=self.policy.id)
        # As in a running server: the creator follows the new contacts, and a note says they were created.
        record = record.with_user(self.importer).with_context(
            tracking_disable=False, mail_create_nolog=False, mail_create_nosubscribe=False
        )
        self.assertIsNone(record._bulk_debtor_obstacle(vals_list))
        orm = self._orm_create(record, vals_list)
        bulk = self._bulk_insert(record, vals_list)
        self.assertSameDebtors(bulk, orm)
        # The values themselves, by hand.
        first = bulk[0]
        self.assertEqual(
            (first.name, first.complete_name, first.email_normalized, first.phone_sanitized, first.lang),
            ("Maison  Dupont", "Maison  Dupont", "jean.dupont@example.com", "+32470123456", "fr_FR"),
        )
        self.assertEqual((first.vat, first.ref, first.country_id.code, first.customer_rank), (VAT_BE, "C-001", "BE", 1))
        self.assertEqual(first.with_company(self.company).dunning_policy_id, self.policy)
        self.assertTrue(first.with_company(self.company).dunning_policy_pinned)
        self.assertEqual(first.bank_ids.sanitized_acc_number, "BE71096123456769")
        self.assertEqual(bulk.mapped("active"), [True] * 3)
        self.assertFalse(any(bulk.mapped("is_company")))
        self.assertEqual(first.message_follower_ids.partner_id, self.importer.partner_id)
        # The notes of the bank account's creation, then of the contact's (the newest first).
        self.assertEqual(len(first.message_ids), 2)
        self.assertEqual(first.message_ids[0].body, Markup("<p>Contact created</p>"))

    def test_golden_without_policy_nor_tracking(self):
        """Without a policy of the import, and with the creation notes and followers turned off as a caller (here the
        test's environment) may."""
        record, vals_list = self._debtor_vals(_row(external_ref="N1", name="Ada Lovelace", country_code="FR"))
        self.assertTrue(record.env.context.get("tracking_disable"))
        orm = self._orm_create(record, vals_list)
        bulk = self._bulk_insert(record, vals_list)
        self.assertSameDebtors(bulk, orm)
        self.assertFalse(bulk.message_ids)
        self.assertFalse(bulk.with_company(self.company).dunning_policy_id)

    def test_import_uses_the_bulk_path(self):
        """A batch's new debtors are inserted together, two rows of one debtor sharing it."""
        Import = type(self.Import)
        with patch.object(Import, "_insert_debtors", autospec=True, side_effect=Import._insert_debtors) as insert:
            record = self._run(
                self._import(
                    [
                        _row(external_ref="I1", name="New One", email="one@example.com"),
                        _row(external_ref="I2", name="New One", email="one@example.com"),
                        _row(external_ref="I3", name="New Two", email="two@example.com"),
                    ]
                )
            )
        self.assertEqual(insert.call_count, 1)
        partners = self._rows(record).partner_id
        self.assertEqual(partners.mapped("name"), ["New One", "New Two"])
        self.assertEqual(partners.mapped("email_normalized"), ["one@example.com", "two@example.com"])
        self.assertEqual(self._rows(record).move_id.mapped("state"), ["posted"] * 3)
        self.assertEqual(self._rows(record).move_id.partner_id, partners)

    def test_orm_where_the_bulk_path_does_not_apply(self):
        """Values the insert does not write, defaults or a partner search mode in the context: Odoo's create."""
        record, vals_list = self._debtor_vals(_row(external_ref="O1"))
        self.assertIn("website", record._bulk_debtor_obstacle([{**vals_list[0], "website": "example.com"}]))
        self.assertIn("default", record.with_context(default_comment="x")._bulk_debtor_obstacle(vals_list))
        searching = record.with_context(res_partner_search_mode="supplier")
        self.assertIn("context", searching._bulk_debtor_obstacle(vals_list))
        with patch.object(type(record), "_insert_debtors") as insert:
            (partner,) = searching._create_debtors(vals_list)
        insert.assert_not_called()
        # The ORM's create, with what the context asks for.
        self.assertEqual((partner.customer_rank, partner.supplier_rank), (1, 1))

    def test_display_names_of_the_invoices(self):
        """The debtors' names on their invoices: the stored complete name where Odoo's display name is the same,
        Odoo's display name otherwise (a contact of a company, display options in the context)."""
        Partner = self.env["res.partner"]
        company = Partner.create({"name": "Acme", "is_company": True, "email": "acme@example.com"})
        debtors = (
            company
            | Partner.create({"name": "Jane Roe", "parent_id": company.id})
            | Partner.create({"name": "Solo Trader", "email": "solo@example.com"})
        )
        record = self.Import.create({"name": "Names"})
        for context in ({}, {"show_email": True}):
            record = record.with_context(**context)
            self.assertEqual(
                record._bulk_display_names(debtors.with_context(**context)),
                {debtor.id: debtor.with_context(**context).display_name for debtor in debtors},
            )
        names = record.with_context(show_email=False)._bulk_display_names(debtors)
        self.assertEqual([names[debtor.id] for debtor in debtors], ["Acme", "Acme, Jane Roe", "Solo Trader"])
