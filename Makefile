# gr-semcod: `make demo` and `make test` are all a new machine needs (as root).
SHELL   := /bin/bash
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.setup-done
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PKGS := gnuradio dataset-fashion-mnist

.PHONY: setup demo test test-fast bench export clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@if ! /usr/bin/python3 -c "import gnuradio.gr" 2>/dev/null || \
	    [ ! -d /usr/share/datasets/fashion-mnist ]; then \
	  echo "== installing $(APT_PKGS) from Debian"; \
	  $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q $(APT_PKGS); \
	fi
	@test -x $(PY) || /usr/bin/python3 -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q -c constraints.txt -e ".[train,dev]"
	$(PY) -c "import numpy, gnuradio.gr as gr; assert int(numpy.__version__.split('.')[0]) < 2, numpy.__version__; print('GNU Radio', gr.version(), '/ numpy', numpy.__version__)"
	@touch $@

demo: setup
	$(VENV)/bin/semcod demo

test: setup
	$(PY) -m pytest -q tests

test-fast: setup
	$(PY) -m pytest -q -m "not slow" tests

clean:
	rm -rf build out .pytest_cache
