from . import test_access_rights
from . import test_debtor
from . import test_dunning_policy
from . import test_install
from . import test_multi_company
