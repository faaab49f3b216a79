"""Deployment helpers for the containerised stack: `.env` secrets, container health probes, constraints."""
