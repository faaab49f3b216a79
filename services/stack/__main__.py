"""`python -m services.stack …`: see services/stack/cli.py."""

import sys

from services.stack.cli import main

sys.exit(main())
