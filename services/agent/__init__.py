"""The livekit-agents voice worker: dispatch handling, the Letta brain and offline speech plugins."""
