from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from .common import DunningCommon, days_ago, in_days

OPERATIONS = ("read", "write", "create", "unlink")


@tagged("post_install", "-at_install")
class TestAccessRights(DunningCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.users = {
            "manager": cls._create_user("dunning_manager", "receivable_dunning.group_dunning_manager"),
            "user": cls._create_user("dunning_user", "receivable_dunning.group_dunning_user"),
            "invoicing": cls._create_user("invoicing_only", "account.group_account_invoice"),
            "auditor": cls._create_user("auditor", "base.group_user,account.group_account_readonly"),
            "portal": cls._create_user("portal_debtor", "base.group_portal"),
            "public": cls._create_user("public_visitor", "base.group_public"),
        }
        invoice = cls._create_invoice_due(cls.debtor, 100.0, days_ago(40))
        cls.reminder = cls.env["dunning.reminder"].create(
            {
                "partner_id": cls.debtor.id,
                "level_id": cls.level_1.id,
                "line_ids": [(0, 0, {"move_id": invoice.id, "level_id": cls.level_1.id})],
            }
        )

    def _allowed(self, user, model):
        allowed = set()
        for operation in OPERATIONS:
            try:
                self.env[model].with_user(user).check_access(operation)
            except AccessError:
                continue
            allowed.add(operation)
        return allowed

    def test_access_matrix(self):
        everything, read = set(OPERATIONS), {"read"}
        expected = {
            # model: {profile: allowed operations}
            "dunning.policy": {"manager": everything, "user": read, "auditor": read},
            "dunning.level": {"manager": everything, "user": read, "auditor": read},
            "dunning.reminder": {"manager": everything, "user": {"read", "write", "create"}, "auditor": read},
            "dunning.reminder.line": {"manager": everything, "user": {"read", "write", "create"}, "auditor": read},
            "dunning.run": {"manager": everything, "user": {"read", "write", "create"}, "auditor": read},
            "dunning.promise": {"manager": everything, "user": {"read", "write", "create"}, "auditor": read},
            "dunning.debtor": {"manager": read, "user": read, "auditor": read},
        }
        for model, by_profile in expected.items():
            for profile, user in self.users.items():
                with self.subTest(model=model, profile=profile):
                    self.assertEqual(self._allowed(user, model), by_profile.get(profile, set()))

    def _assert_cannot_read(self, profile, record):
        with self.assertRaises(AccessError):
            record.with_user(self.users[profile]).read(["name"])

    def test_portal_user_cannot_read_reminders(self):
        self._assert_cannot_read("portal", self.reminder)

    def test_portal_user_cannot_read_policies(self):
        self._assert_cannot_read("portal", self.policy)

    def test_public_user_cannot_read_reminders(self):
        self._assert_cannot_read("public", self.reminder)

    def test_public_user_cannot_read_policies(self):
        self._assert_cannot_read("public", self.policy)

    def test_invoicing_user_cannot_read_reminders(self):
        self._assert_cannot_read("invoicing", self.reminder)

    def test_invoicing_user_cannot_read_policies(self):
        self._assert_cannot_read("invoicing", self.policy)

    def test_user_runs_dunning_but_cannot_configure(self):
        user = self.users["user"]
        self.assertEqual(self.reminder.with_user(user).partner_id, self.debtor)
        with self.assertRaises(AccessError):
            self.policy.with_user(user).write({"min_interval_days": 1})
        run = self.env["dunning.run"].with_user(user).create({"mode": "review"})
        run.action_execute()
        self.assertEqual(run.state, "review")

    def test_manager_configures(self):
        self.policy.with_user(self.users["manager"]).write({"min_interval_days": 7})
        self.assertEqual(self.policy.min_interval_days, 7)

    def test_sent_reminder_cannot_be_deleted(self):
        manager = self.users["manager"]
        self.reminder.state = "sent"
        with self.assertRaises(UserError):
            self.reminder.with_user(manager).unlink()
        queued = self.reminder.copy({"state": "queued"})
        queued.with_user(manager).unlink()
        self.assertFalse(queued.exists())

    def test_accounting_admins_are_dunning_managers(self):
        admin = self._create_user("accounting_admin", "account.group_account_manager")
        self.assertTrue(admin.has_group("receivable_dunning.group_dunning_manager"))
        self.assertTrue(admin.has_group("receivable_dunning.group_dunning_user"))
        self.assertTrue(self.users["user"].has_group("account.group_account_invoice"))

    def _assert_statement_action_refused(self, profile, action):
        """``profile`` may not call ``action`` (the name of a statement link action) on the debtor."""
        with self.assertRaises(AccessError):
            getattr(self.debtor.with_user(self.users[profile]), action)()

    def test_invoicing_user_cannot_open_a_statement(self):
        self._assert_statement_action_refused("invoicing", "action_dunning_open_statement")

    def test_invoicing_user_cannot_issue_a_new_statement_link(self):
        self._assert_statement_action_refused("invoicing", "action_dunning_new_statement_link")

    def test_invoicing_user_cannot_revoke_statement_links(self):
        self._assert_statement_action_refused("invoicing", "action_dunning_revoke_statement")

    def test_auditor_cannot_open_a_statement(self):
        self._assert_statement_action_refused("auditor", "action_dunning_open_statement")

    def test_auditor_cannot_issue_a_new_statement_link(self):
        self._assert_statement_action_refused("auditor", "action_dunning_new_statement_link")

    def test_auditor_cannot_revoke_statement_links(self):
        self._assert_statement_action_refused("auditor", "action_dunning_revoke_statement")

    def test_statement_links_are_for_dunning_users(self):
        url = self.debtor.with_user(self.users["user"]).action_dunning_open_statement()["url"]
        self.assertIn(f"/dunning/statement/{self.env.company.id}/{self.debtor.id}/", url)
        # The link opens the debtor's statement without a login: only dunning users read it, not auditors.
        self.assertIn("/dunning/statement/", self.reminder.with_user(self.users["user"]).statement_url)
        with self.assertRaises(AccessError):
            self.reminder.with_user(self.users["auditor"]).statement_url  # noqa: B018

    def test_only_dunning_users_change_how_a_customer_is_dunned(self):
        # Both may edit customers (Contact Creation, which internal users get by default).
        invoicing = self._create_user("invoicing_editor", "account.group_account_invoice,base.group_partner_manager")
        collector = self._create_user("collector", "receivable_dunning.group_dunning_user,base.group_partner_manager")
        hold = {"dunning_hold_until": in_days(30)}
        with self.assertRaisesRegex(AccessError, "Dunning on Hold Until"):
            self.debtor.with_user(invoicing).write(hold)
        with self.assertRaisesRegex(AccessError, "Statement Links Revoked"):
            self.debtor.with_user(invoicing).write({"dunning_statement_revoked": True})
        self.debtor.with_user(invoicing).write({"phone": "+32 2 555 01 01"})  # the rest stays theirs to edit
        self.debtor.with_user(collector).write(hold)
        self.assertEqual(self.debtor.dunning_hold_until, hold["dunning_hold_until"])
