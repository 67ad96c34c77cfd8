# One entry point for every check. `make check` is what CI runs.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: install check lint typecheck test bench bench-poll bench-series bench-actions bench-scale bench-outage snapshot-dict demo clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: install
	$(VENV)/bin/mypy

test: install
	$(VENV)/bin/pytest -q

check: lint typecheck test

bench: install
	$(PY) bench/ingest.py $(or $(ARGS),--backends sqlite,postgresql,nats+postgresql)
	$(PY) bench/poll.py --families $(POLL_FAMILIES)
	$(PY) bench/series.py
	$(PY) bench/actions.py
	$(PY) bench/scale.py

# Polls per second per core of each family against its simulator, beside pyasic.
POLL_FAMILIES ?= antminer,xmrig,whatsminer,avalon,iceriver,braiins,luxos,vnish,lolminer,trex,gminer,bzminer,srbminer,teamredminer,modbus_meter,modbus_sensor,container,pool_account,chia
bench-poll: install
	$(PY) bench/poll.py --families $(POLL_FAMILIES) $(ARGS)

bench-series: install
	$(PY) bench/series.py $(ARGS)

bench-actions: install
	$(PY) bench/actions.py $(ARGS)

# listThings over 100,000 things, diffs to 1,000 WebSockets, server RSS, agent polls.
bench-scale: install
	$(PY) bench/scale.py $(ARGS)

# A 10-minute server outage with the real agent spooling: 0 lost, 0 duplicated, spool size,
# drain time, agent RSS. Not part of `make bench`: it takes 11+ minutes (the CI version is
# tests/faults/test_server_outage.py, 20 s). make bench-outage ARGS="--db postgresql --miners 500"
bench-outage: install
	$(PY) bench/outage.py $(ARGS)

# Rebuild the zstd dictionary the live index packs latest snapshots with (checked in).
snapshot-dict: install
	$(PY) bench/snapshot_dict.py $(ARGS)

# make demo ARGS="--miners 1000 --port 8080"
demo: install
	$(VENV)/bin/hashfleet demo $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
