"""``python -m pyro_autoregressive``: the command line."""

import sys

from .cli import main

sys.exit(main())
