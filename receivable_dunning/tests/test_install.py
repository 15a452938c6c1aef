from odoo.modules.neutralize import get_neutralization_queries
from odoo.tests import tagged

from .common import DunningCommon


@tagged("post_install", "-at_install")
class TestInstall(DunningCommon):
    def test_module_data_without_demo(self):
        module = self.env["ir.module.module"].search([("name", "=", "receivable_dunning")])
        self.assertEqual(module.state, "installed")
        self.assertFalse(module.demo, "the test database is installed without demo data")
        self.assertFalse(self.env["res.partner"].search([("name", "=", "Boulangerie Martin")]))
        # sudo: the module's records belong to the main company, not to the test company of this class.
        policy = self.env.ref("receivable_dunning.dunning_policy_default").sudo()
        self.assertEqual(policy.level_ids.sorted().mapped("delay_days"), [-3, 7, 21, 35, 50])
        self.assertEqual(self.env.ref("base.main_company").sudo().dunning_policy_id, policy)
        for xmlid in (
            "receivable_dunning.mail_template_dunning_courtesy",
            "receivable_dunning.mail_template_dunning_reminder",
            "receivable_dunning.mail_template_dunning_formal",
            "receivable_dunning.mail_template_dunning_thanks",
            "receivable_dunning.sms_template_dunning_reminder",
            "receivable_dunning.ir_cron_dunning_run",
            "receivable_dunning.ir_cron_dunning_dispatch",
            "receivable_dunning.action_report_dunning_letter",
            "receivable_dunning.charge_rule_fr",
        ):
            with self.subTest(xmlid=xmlid):
                self.assertTrue(self.env.ref(xmlid, raise_if_not_found=False))

    def test_every_company_has_a_policy(self):
        companies = self.env["res.company"].sudo().search([])
        self.assertFalse(companies.filtered(lambda company: not company.dunning_policy_id))
        for company in companies:
            self.assertEqual(company.dunning_policy_id.company_id, company)

    def test_views_and_actions_load(self):
        views = self.env["ir.ui.view"].search([("model_data_id.module", "=", "receivable_dunning")])
        self.assertTrue(views)
        for view in views.filtered(lambda v: v.type != "qweb"):
            with self.subTest(view=view.xml_id):
                self.env[view.model].get_views([(view.id, view.type)])
        actions = self.env["ir.actions.act_window"].search([("res_model", "like", "dunning.")])
        for action in actions:
            with self.subTest(action=action.name):
                self.env[action.res_model].get_views([(False, mode) for mode in action.view_mode.split(",")])

    def test_neutralize_stops_crons(self):
        crons = self.env.ref("receivable_dunning.ir_cron_dunning_run") | self.env.ref(
            "receivable_dunning.ir_cron_dunning_dispatch"
        )
        self.assertTrue(all(crons.mapped("active")))
        self.env.flush_all()
        for query in get_neutralization_queries(["receivable_dunning"]):
            self.env.cr.execute(query)
        crons.invalidate_recordset(["active"])
        self.assertFalse(any(crons.mapped("active")))
