"""``python -m advtrojan`` (and ``torchrun ... -m advtrojan train ...``): the ``advtrojan`` command."""

import sys

from .cli.main import main

sys.exit(main())
