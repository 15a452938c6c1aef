# Read-only SQL report models (receivables analytics); their QWeb reports sit beside them in this folder.
from . import dunning_report_ageing
from . import dunning_report_dso
from . import dunning_monthly_report
from . import dunning_report_effectiveness
from . import dunning_report_cash_forecast
