"""Offline speech plugins for livekit-agents: Whisper and pocketsphinx STT, Piper and espeak-ng TTS."""
