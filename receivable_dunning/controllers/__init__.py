from . import portal
from . import portal_claims
from . import plan_autopay
