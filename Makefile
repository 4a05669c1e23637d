# Everything bootstraps from nothing: `make demo` and `make test` create .venv first.
VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install demo dev test pytest lint typecheck compose-check bench clean db-upgrade chromium browser-test messages catalogs

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib activities calendars models reports runtime security service starter web workflows worker.py  # bytecode even where PYTHONDONTWRITEBYTECODE is set
	rm -f $(VENV)/.installed-*
	touch $@

# The Khmer catalog, compiled from its .po (runtime/i18n.py reads the .po itself when this is stale).
CATALOGS := $(patsubst %.po,%.mo,$(wildcard runtime/locale/*/LC_MESSAGES/messages.po))
runtime/locale/%/LC_MESSAGES/messages.mo: runtime/locale/%/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile --statistics -D messages -l $* -i $< -o $@

catalogs: $(CATALOGS)

install: $(STAMP) $(CATALOGS)

# After changing a sentence: extract every marked one, and update each catalog for its translator.
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k gettext --no-location --sort-output \
	  --project=smo-orchestrator -o runtime/locale/messages.pot .
	$(BIN)/pybabel update -D messages -i runtime/locale/messages.pot -d runtime/locale --no-fuzzy-matching --ignore-obsolete --width 100

demo: install  ## the service on the embedded default, with the demo case driven to CLOSED
	$(BIN)/smo dev --demo

dev: install
	$(BIN)/smo dev

test: install lint typecheck compose-check chromium pytest  ## the whole suite

# `make test TEST_WORKERS=2` runs the suite in two processes (pytest-xdist); the default is one
# process until a teardown that once hung in a parallel run is understood (README, "Dependencies").
TEST_WORKERS ?= 0
pytest: install chromium
	$(BIN)/pytest $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS))

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy .

# docker-compose (Debian's package) validates the file without a Docker engine.
compose-check:
	@command -v docker-compose >/dev/null || { [ "$$(id -u)" = 0 ] && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null); } \
	  || { echo "docker-compose is needed: apt-get install docker-compose"; exit 1; }
	docker-compose -f docker-compose.yml config -q && echo "docker-compose.yml: valid"

db-upgrade: install  ## bring the case DB (DATABASE_URL, default .smo/cases.db) to the newest schema
	$(BIN)/python -m starter.db_cli upgrade

bench: install
	$(BIN)/python bench/calendar.py
	$(BIN)/python bench/case_cost.py
	$(BIN)/python bench/lifecycle.py --cases 5 --rounds 1
	$(BIN)/python bench/parked.py --cases 50
	$(BIN)/python bench/floor.py --cases 20
	$(BIN)/python bench/cli.py --repeat 2

clean:
	rm -rf $(VENV) .smo .pytest_cache .mypy_cache .ruff_cache

# The browser tests drive Debian's chromium through playwright; no browser is downloaded.
# A Khmer font too: without one, a Khmer page shows boxes in place of its letters.
chromium:
	@test -x /usr/bin/chromium || { [ "$$(id -u)" = 0 ] && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); } \
	  || { echo "chromium is needed for the browser tests: apt-get install chromium"; exit 1; }
	@fc-list :lang=km | grep -q . || { [ "$$(id -u)" = 0 ] && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-khmeros >/dev/null); } \
	  || { echo "a Khmer font is needed for the browser tests: apt-get install fonts-khmeros"; exit 1; }

browser-test: install chromium
	$(BIN)/pytest -m browser
