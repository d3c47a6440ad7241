# Ronghe: `make run` serves a seeded instance, `make test` runs every check.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)
LOCALES := app/i18n/locales
export RONGHE_DATA_DIR ?= data

.PHONY: run test bench lint typecheck dockerlint messages extract-messages system-deps pytest-sqlite pytest-postgres clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv 2>&1 | grep -v "^WARNING" || true
	$(VENV)/bin/uv pip install --python $(PY) -q --compile-bytecode -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

messages: $(STAMP)
	$(VENV)/bin/pybabel --quiet compile -d $(LOCALES) -D messages

# Refresh the template and both catalogues after adding user-facing strings.
extract-messages: $(STAMP)
	$(VENV)/bin/pybabel --quiet extract -F app/i18n/babel.cfg -k N_ --no-location --sort-output -o app/i18n/messages.pot .
	$(VENV)/bin/pybabel --quiet update -i app/i18n/messages.pot -d $(LOCALES) --no-fuzzy-matching

run: $(STAMP) messages
	$(VENV)/bin/ronghe migrate
	$(VENV)/bin/ronghe seed --demo
	@echo ""
	@echo "Ronghe 融合 is starting on http://$${RONGHE_HOST:-127.0.0.1}:$${RONGHE_PORT:-8000}"
	@echo "Demo logins (password: ronghe-demo-2026):"
	@echo "  admin@demo.example.com     体系管理员 / 管理者代表"
	@echo "  ceo@demo.example.com       最高管理者"
	@echo "  auditor@demo.example.com   内审员"
	@echo "  owner@demo.example.com     责任人"
	@echo "  viewer@demo.example.com    只读 (English UI)"
	@echo ""
	$(VENV)/bin/ronghe serve

# Debian packages the tests need: PostgreSQL server, Chromium, a CJK font, Pango for PDFs,
# hey (the load tool of bench/http.py).
system-deps:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v hey >/dev/null 2>&1 || missing="$$missing hey"; \
	fc-list 2>/dev/null | grep -qi "wenquanyi" || missing="$$missing fonts-wqy-zenhei"; \
	ldconfig -p 2>/dev/null | grep -q "libpangoft2-1.0" || missing="$$missing libpango-1.0-0 libpangoft2-1.0-0"; \
	ldconfig -p 2>/dev/null | grep -q "libharfbuzz-subset" || missing="$$missing libharfbuzz-subset0"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $$missing >/dev/null; \
	fi

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache --no-logo

typecheck: $(STAMP)
	$(VENV)/bin/mypy

dockerlint: $(STAMP)
	$(VENV)/bin/hadolint --no-color --failure-threshold warning --ignore DL3008 Dockerfile

pytest-sqlite: $(STAMP) messages
	$(PY) -m pytest -q tests

pytest-postgres: $(STAMP) messages
	bash scripts/with-postgres.sh $(PY) -m pytest -q tests

test: system-deps $(STAMP) messages lint typecheck dockerlint pytest-sqlite pytest-postgres

# The over-HTTP tables of docs/benchmarks.md (minutes; not part of `make test`).
bench: system-deps $(STAMP) messages
	bash bench/http_all.sh

clean:
	rm -rf $(VENV) .ruff_cache .mypy_cache test-artifacts
	find . -name __pycache__ -prune -exec rm -rf {} +
