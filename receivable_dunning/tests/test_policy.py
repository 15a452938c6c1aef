from odoo.tests import TransactionCase, tagged


@tagged("post_install", "-at_install")
class TestPolicySmoke(TransactionCase):
    def test_default_policy_installed(self):
        policy = self.env.ref("receivable_dunning.dunning_policy_default")
        self.assertEqual(len(policy.level_ids), 5)
