"""``python -m engine.cli``: the ``kafkaban`` command."""

import sys

from engine.cli.main import main

sys.exit(main())
