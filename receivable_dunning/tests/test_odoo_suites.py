"""Odoo's own at_install tests of the modules we extend, run again once this module is installed.

``make test`` runs the post_install suites of ``account_payment``, ``portal``, ``payment``, ``sms`` and the
``account`` form tests with this module installed (see scripts/test.sh). Their at_install tests run while each
module is installed, before this one is loaded, so they would never see our overrides: these subclasses run them
after installation. ``allow_inherited_tests_method`` makes Odoo's loader collect the inherited test methods.
"""

from odoo.tests import tagged

from odoo.addons.portal.tests.test_message_format_portal import TestMessageFormatPortal
from odoo.addons.portal.tests.test_portal_wizard import TestPortalWizard
from odoo.addons.sms.tests.test_sms_composer import TestSMSComposerComment


@tagged("post_install", "-at_install")
class TestOdooPortalWizardWithDunning(TestPortalWizard):
    allow_inherited_tests_method = True


@tagged("post_install", "-at_install")
class TestOdooMessageFormatPortalWithDunning(TestMessageFormatPortal):
    allow_inherited_tests_method = True


@tagged("post_install", "-at_install")
class TestOdooSMSComposerWithDunning(TestSMSComposerComment):
    allow_inherited_tests_method = True
