"""Code every service shares: settings, logging, clients."""
