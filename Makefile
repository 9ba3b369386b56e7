# Kontor: the two commands a new user needs are `make run` and `make test`.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres

.PHONY: run test test-sqlite test-postgres install install-test debian-packages postgres bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

## make run: the whole hub with demo data on embedded defaults (SQLite under var/).
run: install
	$(BIN)/kontor run --demo

## make test: install what the tests need, type-check edi/ and adapters/, then the suite
## on SQLite and the database part again on PostgreSQL.
test: install-test debian-packages
	$(BIN)/python -m mypy
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres

test-sqlite:
	$(BIN)/python -m pytest -q

# The database-touching part of the suite again, on the local PostgreSQL.
test-postgres: postgres
	$(BIN)/python -m pytest -q tests/hub tests/extranet tests/e2e tests/adapters/test_sftp_hub.py --db-url "$(PG_URL)"

# Install the Debian packages the tests drive as real peers when they are
# missing and we can: OpenSSH's sshd and sftp client (and sshpass for its
# password login), the openssl command line (the other side of AS2), Chromium,
# poppler's pdftotext/pdftoppm (reading the invoice PDFs back) and the DejaVu
# font the PDFs embed.
debian-packages:
	@missing=""; \
	command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || missing="$$missing openssh-server"; \
	command -v sftp >/dev/null 2>&1 || missing="$$missing openssh-client"; \
	command -v sshpass >/dev/null 2>&1 || missing="$$missing sshpass"; \
	command -v openssl >/dev/null 2>&1 || missing="$$missing openssl"; \
	command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v pdftotext >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing="$$missing fonts-dejavu-core"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else SUDO=none; fi; \
	  if [ "$$SUDO" = none ]; then echo "missing Debian packages:$$missing (cannot install: not root); their tests will be skipped"; \
	  else echo "installing Debian packages:$$missing"; \
	    $$SUDO apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; fi; \
	fi

# Make sure the local PostgreSQL answers (start the Debian cluster if it is down).
postgres:
	@if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1; then \
	  pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | head -n1) main start 2>/dev/null || true; \
	  sleep 2; \
	fi
	@pg_isready -q -h 127.0.0.1 || { echo "PostgreSQL is not reachable at 127.0.0.1:5432"; exit 1; }

bench: install-test
	$(BIN)/python bench/edi_throughput.py --quick

lint: install-test
	$(BIN)/python -m mypy

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache
