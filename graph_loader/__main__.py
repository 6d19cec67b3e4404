"""``python -m graph_loader``: the same as the ``kgreason-load`` command."""
import sys

from graph_loader.cli import main

sys.exit(main())
