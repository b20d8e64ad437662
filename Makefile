# The two commands a newcomer needs are `make demo` and `make test`; both set up what they need.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")

.PHONY: setup demo test check lint typecheck imports i18n i18n-check bench clean

setup:
	@scripts/setup

PORT ?= 8000

demo: setup
	@$(UV) run zorgid demo --port $(PORT)

test: setup
	@$(UV) run pytest -q

lint: setup
	$(UV) run ruff check src tests bench scripts
	$(UV) run ruff format --check src tests bench scripts

typecheck: setup
	$(UV) run mypy

imports: setup
	$(UV) run lint-imports

# Extract messages, merge them into the catalogues, and compile (run after changing messages).
i18n: setup
	$(UV) run pybabel extract -F babel.cfg -k N_ -k _ -o src/zorgid/locales/zorgid.pot src/zorgid --no-location --omit-header --sort-output
	$(UV) run pybabel update -i src/zorgid/locales/zorgid.pot -d src/zorgid/locales -D zorgid --no-fuzzy-matching --ignore-obsolete
	$(UV) run pybabel compile -d src/zorgid/locales -D zorgid

i18n-check: setup
	$(UV) run python scripts/check-translations.py

check: lint typecheck imports i18n-check test

bench: setup
	$(UV) run python bench/verify.py
	$(UV) run python bench/login.py

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache
