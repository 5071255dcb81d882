"""``python -m trendscope`` is the ``trendscope`` command."""

from __future__ import annotations

import sys

from trendscope.cli import main

sys.exit(main())
