"""The web service: session API and the voice-agent selector page (Flask, under gunicorn)."""
