from . import dunning_run_wizard
from . import statement_match_wizard
from . import statement_match_wizard_line
from . import dunning_debtor_wizard_mixin
from . import dunning_hold_wizard
from . import dunning_stop_supply_wizard
from . import dunning_handover_wizard
from . import dunning_call_outcome
