"""Models: backbones, necks, heads, losses, estimators and sub-blocks."""
from . import backbones  # noqa: F401
from . import estimators  # noqa: F401
from . import heads  # noqa: F401
from . import losses  # noqa: F401
from . import necks  # noqa: F401
from . import utils  # noqa: F401
