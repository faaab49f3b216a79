"""Recovery sidecar: sweeps stale rooms, ghost and duplicate participants, and heals orphaned sessions."""
