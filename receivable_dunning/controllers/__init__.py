from . import portal
from . import plan_autopay
