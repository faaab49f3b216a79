"""The local speech service: Whisper STT and a Piper voice behind OpenAI-compatible audio endpoints."""
