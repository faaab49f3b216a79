"""The light offline speech plugins that run inside a job process: pocketsphinx STT and espeak-ng TTS.

The default offline speech (Whisper and a Piper voice) lives in the shared speech service (services/speech).
"""
