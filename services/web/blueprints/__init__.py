"""Blueprints of the web service, one per resource."""
