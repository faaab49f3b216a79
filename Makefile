# Letta Voice Stack. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY := .stack/venv/bin/python
PYTEST := .stack/venv/bin/pytest
# native (supervisord on this machine) or compose (containers); compose when a Docker engine answers.
MODE ?= $(shell docker info >/dev/null 2>&1 && echo compose || echo native)
export MODE
ifeq ($(filter $(MODE),native compose),)
$(error MODE must be native or compose, not '$(MODE)')
endif

.PHONY: user-add user-passwd user-remove users help up down config status logs restart rooms smoke probe test test-unit test-stack test-compose mutation lint bench chaos deploy backup restore clean clean-data

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

up: ## install what is missing, start every service, wait until healthy (MODE=native|compose)
ifeq ($(MODE),compose)
	@bash scripts/compose.sh up
else
	@bash scripts/up.sh
endif

down: ## stop every service (data is kept)
ifeq ($(MODE),compose)
	@bash scripts/compose.sh down
else
	@if [ -x $(PY) ]; then $(PY) -m services.stack down; else echo "The stack is not installed."; fi
endif

config: ## every effective setting and where it comes from (default, .env, environment, secrets file)
	@if [ -x $(PY) ]; then $(PY) -m services.stack config; else echo "The stack is not installed: run 'make up' first."; exit 1; fi

status: ## service, pid, port, health, uptime
ifeq ($(MODE),compose)
	@bash scripts/compose.sh status
else
	@$(PY) -m services.stack status
endif

logs: ## last log lines of every service, or one: make logs s=letta (f=1 follows)
ifeq ($(MODE),compose)
	@bash scripts/compose.sh logs $(s) $(if $(f),--follow,)
else
	@$(PY) -m services.stack logs $(s) $(if $(f),--follow,)
endif

restart: ## restart one service: make restart s=agent
	@$(PY) -m services.stack restart $(s)

user-add: ## add a web account: make user-add NAME=ann (ADMIN=1 for an admin); asks for the password
ifeq ($(MODE),compose)
	@bash scripts/compose.sh users add "$(NAME)" $(if $(ADMIN),--admin,)
else
	@$(PY) -m services.web.users add "$(NAME)" $(if $(ADMIN),--admin,)
endif

user-passwd: ## change a web account's password: make user-passwd NAME=ann
	@$(PY) -m services.web.users passwd "$(NAME)"

user-remove: ## remove a web account: make user-remove NAME=ann
	@$(PY) -m services.web.users remove "$(NAME)"

users: ## list the web accounts
	@$(PY) -m services.web.users list

rooms: ## list LiveKit rooms and participants
	@bash scripts/inspect-rooms

smoke: ## prove the running stack works end to end (json=1 for JSON)
ifeq ($(MODE),compose)
	@bash scripts/compose.sh smoke $(if $(json),--json,)
else
	@$(PY) -m services.smoke $(if $(json),--json,)
endif

probe: ## the smoke round trip every 5 min as a probe, metrics on :9102 (every=SECONDS, port=N)
	@$(PY) -m services.smoke --every $(or $(every),300) --metrics-port $(or $(port),9102)

test: ## lint, every test: unit, the native stack, browser, chaos (started and stopped), then test-compose
	@bash scripts/test.sh

test-compose: ## compose.yaml for real: local engine, stand-in images, make up/smoke, faults, down MODE=compose
	@bash scripts/test-compose.sh

test-unit: ## unit tests only (seconds, no services)
	@$(PYTEST) -m unit tests/unit

mutation: ## mutation testing of the policy modules and settings validators (minutes; m=services.web.policy for one)
	@bash scripts/mutation.sh

lint: ## ruff (lint and format check)
	@.stack/venv/bin/ruff check services tests && .stack/venv/bin/ruff format --check services tests

bench: ## benchmarks; results appended to docs/benchmarks.md
	@$(PY) -m tests.bench

chaos: ## scripted faults against the native stack; figures appended to docs/benchmarks.md
	@CHAOS_REPORT=1 $(PYTEST) -m chaos tests/chaos

deploy: ## deploy to a VM: make deploy HOST=user@host DOMAIN=voice.example.com
	@bash scripts/deploy-vm.sh HOST=$(HOST) DOMAIN=$(DOMAIN)

backup: ## dump Letta's database to backups/
	@bash scripts/backup.sh

restore: ## restore a dump: make restore FILE=backups/....dump (asks first; CONFIRM=yes skips)
	@bash scripts/restore.sh FILE=$(FILE) $(if $(CONFIRM),CONFIRM=$(CONFIRM),)

clean: ## remove builds and venvs (keeps .stack/data)
	@$(MAKE) --no-print-directory down
	rm -rf .stack/venv .stack/letta-venv .stack/letta-migrations .stack/run .stack/cache/bin .stack/cache/stamps
	@echo "Removed builds; data kept in .stack/data."

clean-data: ## delete all data (Letta memory, database) after asking
	@$(MAKE) --no-print-directory down
	@read -r -p "Delete every assistant's memory in .stack/data? Type 'yes': " answer; \
	  if [ "$$answer" = yes ]; then rm -rf .stack/data && echo "Data deleted."; else echo "Kept."; fi
