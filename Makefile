# mybox — `make up` runs it, `make test` tests it.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DOCKER_OK := $(shell docker info >/dev/null 2>&1 && echo yes)
PYTEST_ARGS ?=
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
BUNDLE_DIR ?= dist
BUNDLE ?=

.PHONY: install up down logs status test test-all bench migrate clean env bundle load

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

install: $(STAMP) ## Python venv with every dependency

ifeq ($(DOCKER_OK),yes)
# with a Docker engine: compose.yaml (no Python venv needed on the host, so this works air-gapped)
up: ## start the whole stack in the background; returns when /readyz is 200
	@test -f .env || { echo "no .env: run 'make env' (or copy .env.example to .env and fill in the secrets)"; exit 1; }
	docker compose up -d --wait
	@port=$$(sed -n 's/^MYBOX_API_PORT=//p' .env); echo "mybox is up: http://127.0.0.1:$${port:-8000}/"
else
up: install ## start the whole stack in the background; returns when /readyz is 200
	./deploy/local/stack.sh up
endif

down: ## stop what `make up` started
ifeq ($(DOCKER_OK),yes)
	docker compose down
else
	./deploy/local/stack.sh down
endif

logs: ## follow the stack's logs
ifeq ($(DOCKER_OK),yes)
	docker compose logs -f
else
	./deploy/local/stack.sh logs
endif

status:
	./deploy/local/stack.sh status

migrate: install
	$(PY) -m service.migrate

test: install ## the whole test suite against real Postgres, Redis and S3 (benchmarks in quick form)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: install ## everything, including the long forms of benchmarks and soaks
	MYBOX_SLOW=1 $(PY) -m pytest $(PYTEST_ARGS)

bench: install ## full benchmarks on the local stack; results in bench/results/
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf .state .pytest_cache

env: ## write .env for compose from .env.example with random secrets (PUBLIC_HOST=<name> sets the URLs)
	./deploy/make-env.sh .env

bundle: ## build + pull + save every image compose.yaml needs into dist/mybox-<version>-images.tar.gz (+ .sha256)
	./deploy/bundle.sh save "$(VERSION)" "$(BUNDLE_DIR)"

load: ## air-gapped host: verify the bundle's checksum and docker-load it (BUNDLE=path, default newest in dist/)
	./deploy/bundle.sh load $(BUNDLE)
