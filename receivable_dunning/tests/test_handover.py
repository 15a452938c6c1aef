from freezegun import freeze_time

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from .common import on
from .engine_common import DunningEngineCommon
from .test_letters import pdf_pages


@tagged("post_install", "-at_install")
class TestHandover(DunningEngineCommon):
    """Hand-over to an agency or legal with its dossier, and holds with a reason and a note."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # wkhtmltopdf loads the report's styles from Odoo's HTTP server (see test_letters).
        cls.registry_enter_test_mode_cls()
        cls.level_3.is_last_auto_step = True
        cls.level_2.send_sms = False
        cls.manager = cls._create_user("handover_manager", "receivable_dunning.group_dunning_manager")
        cls.collector = cls._create_collector("handover_collector")
        cls.invoice = cls._create_invoice_due(cls.debtor, 1000.0, on(0))
        cls.disputed = cls._create_invoice_due(cls.debtor, 250.0, on(0))
        cls.agency = cls._create_debtor("Recover & Co")

    def _dun_to_the_last_level(self):
        """Reminders of levels 1 to 3 sent, a broken promise and a rejected dispute on the way."""
        with freeze_time(on(11)):
            self._run()
            self._dispatch()
            self.env["dunning.promise"].create(
                {"partner_id": self.debtor.id, "move_ids": self.invoice.ids, "date_promised": on(15), "amount": 777.0}
            )
            dispute = self.env["dunning.dispute"].create(
                {"partner_id": self.debtor.id, "move_id": self.disputed.id, "reason": "defective"}
            )
            dispute.action_reject()
        for day in (21, 31):
            with freeze_time(on(day)):
                self._run()
                self._dispatch()
        self.assertEqual(self.invoice.dunning_level_id, self.level_3)

    def _wizard(self, user=None, **values):
        """The hand-over wizard, opened from the debtor's form."""
        action = self.debtor.with_user(user or self.manager).action_dunning_hand_over()
        return (
            self.env["dunning.handover.wizard"]
            .with_user(user or self.manager)
            .with_context(**action["context"])
            .create({"handed_to": "agency", "agency_id": self.agency.id, "note": "Call first", **values})
        )

    def test_hand_over_builds_the_dossier_and_stops_dunning(self):
        self._dun_to_the_last_level()
        with freeze_time(on(35)):
            wizard = self._wizard()
            self.assertFalse(wizard.warning, "past the last automatic level")
            self.assertEqual(wizard.move_ids, self.invoice | self.disputed)
            self.assertEqual(wizard.amount, 1250.0)
            action = wizard.action_hand_over()
        handover = self.env["dunning.handover"].browse(action["res_id"])
        self.assertRecordValues(
            handover,
            [{"partner_id": self.debtor.id, "amount": 1250.0, "state": "handed_over", "handed_to": "agency"}],
        )
        self.assertEqual(handover.move_ids, self.invoice | self.disputed)
        self.assertTrue(
            all(
                self.invoice.line_ids.filtered(lambda line: line.account_type == "asset_receivable").mapped(
                    "no_followup"
                )
            )
        )

        dossier = handover.attachment_id
        self.assertEqual((dossier.res_model, dossier.res_id), ("res.partner", self.debtor.id))
        text = dossier.raw.decode()
        sent = self._reminders(state="sent")
        self.assertEqual(sent.level_id, self.level_1 | self.level_2 | self.level_3)
        for reminder in sent:
            self.assertIn(reminder.name, text)
        for expected in [
            self.invoice.name,
            "Level 1",
            "Level 2",
            "Level 3",
            "Email",
            "777.00",
            "Broken",
            "Defective",
            "Rejected",
            "Recover &amp; Co",
            "Call first",
        ]:
            self.assertIn(expected, text)
        note = self.debtor.message_ids[:1]
        self.assertIn("handed over to Recover &amp; Co", note.body)
        self.assertEqual(note.attachment_ids, dossier)

        # The invoices leave the runs, and the debtors' list shows them apart.
        with freeze_time(on(60)):
            run = self._run()
            self.assertFalse(run.reminder_ids.filtered(lambda reminder: reminder.partner_id == self.debtor))
            debtor_row = self.env["dunning.debtor"].search([("partner_id", "=", self.debtor.id)])
        self.assertRecordValues(debtor_row, [{"amount_overdue": 0.0, "invoice_count": 0, "amount_handed_over": 1250.0}])
        self.assertEqual(self.debtor.dunning_handover_count, 1)

        handover.with_user(self.manager).action_withdraw()
        self.assertFalse(self.invoice.no_followup, "withdrawn: back to dunning")

    def test_hand_over_before_the_last_level_warns_but_is_allowed(self):
        with freeze_time(on(11)):
            self._run()
            self._dispatch()
            wizard = self._wizard()
            self.assertIn("has not passed the last automatic level", wizard.warning)
            self.assertIn("Level 1", wizard.warning)
            wizard.action_hand_over()
        self.assertTrue(self.invoice.no_followup)

    def test_only_managers_hand_over(self):
        with self.assertRaises(AccessError):
            self._wizard(user=self.collector)
        wizard = self._wizard()
        wizard.move_ids = False
        with self.assertRaises(UserError):
            wizard.action_hand_over()

    def test_real_pdf_dossier(self):
        self._dun_to_the_last_level()
        with freeze_time(on(35)):
            action = self._wizard().with_context(force_report_rendering=True).action_hand_over()
        dossier = self.env["dunning.handover"].browse(action["res_id"]).attachment_id
        self.assertEqual(dossier.mimetype, "application/pdf")
        text = " ".join(pdf_pages(dossier.raw))
        self.assertIn("Hand-over Dossier: Debtor One", text)
        self.assertIn(self.invoice.name, text)
        self.assertIn("Reminders Sent", text)

    # --- holds ------------------------------------------------------------------------------------------------

    def test_hold_wizard_sets_and_releases_reason_and_note(self):
        with freeze_time(on(11)):
            row = self.env["dunning.debtor"].search([("partner_id", "=", self.debtor.id)])
            wizard = (
                self.env["dunning.hold.wizard"]
                .with_user(self.collector)
                .with_context(active_model="dunning.debtor", active_ids=row.ids)
                .create({"hold_until": on(40), "reason": "negotiation", "note": "Meeting on Friday"})
            )
            self.assertEqual(wizard.partner_ids, self.debtor)
            wizard.action_apply()
            self.assertRecordValues(
                self.debtor,
                [
                    {
                        "dunning_hold_until": on(40),
                        "dunning_hold_reason": "negotiation",
                        "dunning_hold_note": "Meeting on Friday",
                    }
                ],
            )
            row.invalidate_recordset()
            self.assertEqual(row.hold_reason, "negotiation")
            action = self.debtor.with_user(self.collector).action_dunning_put_on_hold()
            self.assertEqual(action["res_model"], "dunning.hold.wizard")
            reopened = (
                self.env["dunning.hold.wizard"].with_user(self.collector).with_context(**action["context"]).create({})
            )
            self.assertEqual((reopened.reason, reopened.note), ("negotiation", "Meeting on Friday"))
            reopened.action_release()
        self.assertRecordValues(
            self.debtor, [{"dunning_hold_until": False, "dunning_hold_reason": False, "dunning_hold_note": False}]
        )

    def test_hold_needs_a_date_and_a_reason_and_a_collector(self):
        wizard = (
            self.env["dunning.hold.wizard"]
            .with_context(active_model="res.partner", active_ids=self.debtor.ids)
            .create({"hold_until": on(40)})
        )
        with self.assertRaises(UserError):
            wizard.action_apply()
        accountant = self._create_user("hold_accountant", "account.group_account_invoice")
        with self.assertRaises(AccessError):
            self.debtor.with_user(accountant).dunning_hold_reason = "other"
