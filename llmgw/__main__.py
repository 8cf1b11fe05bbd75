"""`python -m llmgw` runs the command line."""

import sys

from llmgw.cli import main

sys.exit(main())
