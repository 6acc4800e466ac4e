# The two commands: `make run` (set up and serve the demo) and `make test` (the whole suite).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test setup install demo messages lint typecheck worker beat listener serve bench clean

run: setup demo
	HOST=$(HOST) PORT=$(PORT) $(PY) manage.py runserver $(HOST):$(PORT)

test: install messages
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports --no-logo
	$(PY) -m mypy .
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest $(PYTEST_ARGS)

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

setup: install messages
	$(PY) manage.py migrate --no-input

demo: setup
	$(PY) manage.py seed_demo

messages: install
	@if command -v msgfmt >/dev/null; then $(PY) manage.py compilemessages --ignore=.venv -v0; \
	else echo "msgfmt (gettext) not found: using the committed .mo files"; fi

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports --no-logo

typecheck: install
	$(PY) -m mypy .

worker: install
	$(VENV)/bin/celery -A portal worker -Q interactive,bulk --loglevel=INFO

beat: install
	mkdir -p var
	$(VENV)/bin/celery -A portal beat --schedule var/celerybeat-schedule --loglevel=INFO

listener: install
	$(PY) manage.py dicom_listener

serve: setup
	$(PY) manage.py collectstatic --no-input -v0
	HOST=$(HOST) PORT=$(PORT) $(VENV)/bin/gunicorn portal.wsgi --bind $(HOST):$(PORT) --workers 4 --worker-class gthread --threads 4

bench: install
	$(PY) bench/ingest_import.py

clean:
	rm -rf var staticfiles .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
