"""What the operator's status page shows, one module per source: services, sessions, workers, recovery, model."""
