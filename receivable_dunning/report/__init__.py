# Read-only SQL report models (receivables analytics); their QWeb reports sit beside them in this folder.
from . import dunning_monthly_report
