"""Offline speech plugins for livekit-agents: pocketsphinx STT and espeak-ng TTS."""
