"""Letta Voice Stack services: agent worker, web service, recovery sidecar and the native stack runner."""
