"""The offline LLM service: llama.cpp's OpenAI-compatible server (xllamacpp) with a local GGUF."""
