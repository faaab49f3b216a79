"""`python -m services.deploy.default_agent`: the default Letta agent, as `make up` makes it natively.

Compose mode runs it in the web container once every service is healthy (scripts/compose.sh up): it
creates the default agent on first start and moves existing agents to a newly configured model.
"""

from __future__ import annotations

import sys

from services.shared.letta_agents import ModelNotFound, ensure_default_agent
from services.shared.settings import load_settings_or_exit


def main() -> int:
    settings = load_settings_or_exit()
    try:
        print(f"    {ensure_default_agent(settings)}", flush=True)
    except ModelNotFound as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
