# mybox — `make up` runs it, `make test` tests it.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DOCKER_OK := $(shell docker info >/dev/null 2>&1 && echo yes)
PYTEST_ARGS ?=

.PHONY: install up down logs status test test-all bench migrate clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

install: $(STAMP) ## Python venv with every dependency

up: install ## start the whole stack in the background; returns when /readyz is 200
ifeq ($(DOCKER_OK),yes)
	docker compose up -d --wait
	@echo "mybox is up: http://127.0.0.1:$${MYBOX_API_PORT:-8000}/"
else
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
