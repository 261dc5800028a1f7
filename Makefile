# gr-semcod: `make demo` and `make test` are all a new machine needs (as root).
SHELL   := /bin/bash
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.setup-done
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# gnuradio: the runtime and GRC; gir1.2-gtk-3.0: GTK for gnuradio-companion (Debian's gnuradio
# does not pull it); xvfb: the CI test that opens every flowgraph in GRC; the Fashion-MNIST test set
APT_PKGS := gnuradio gir1.2-gtk-3.0 xvfb dataset-fashion-mnist
# `make install` also needs GNU Radio's CMake package and a C++ toolchain (as gr_modtool's modules)
APT_INSTALL_PKGS := gnuradio-dev cmake g++
GR_PREFIX := $(shell /usr/bin/python3 -c "from gnuradio import gr; print(gr.prefix())" 2>/dev/null || echo /usr)
#: the lowest timm the ToMe code supports (Attention.attn_dim); `make test-floor` runs against it
TIMM_FLOOR := 1.0.23

.PHONY: setup demo grc test test-fast test-floor bench install clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@if ! /usr/bin/python3 -c "import gnuradio.gr" 2>/dev/null || \
	    [ ! -d /usr/share/datasets/fashion-mnist ] || ! command -v xvfb-run >/dev/null || \
	    ! ls /usr/lib/*/girepository-1.0/Gtk-3.0.typelib >/dev/null 2>&1; then \
	  echo "== installing $(APT_PKGS) from Debian"; \
	  $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q $(APT_PKGS); \
	fi
	@test -x $(PY) || /usr/bin/python3 -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q -c constraints.txt -e ".[train,dev]"
	$(PY) -c "import numpy, gnuradio.gr as gr; assert int(numpy.__version__.split('.')[0]) < 2, numpy.__version__; print('GNU Radio', gr.version(), '/ numpy', numpy.__version__)"
	@touch $@

demo: setup
	$(VENV)/bin/semcod demo

# GNU Radio Companion with the venv's interpreter (flowgraphs then run with onnxruntime & co.);
# GRC_BLOCKS_PATH shows the source tree's blocks -- not needed after `make install`
grc: setup
	GRC_BLOCKS_PATH=$(CURDIR)/grc PYTHONPATH=$(CURDIR) $(PY) /usr/bin/gnuradio-companion $(FLOWGRAPH)

test: setup
	$(PY) -m pytest -q tests

test-fast: setup
	$(PY) -m pytest -q -m "not slow" tests

# the ToMe tests against the lowest supported timm (installed beside the venv, not into it)
test-floor: setup
	$(PY) -m pip install -q --no-deps --target build/timm-$(TIMM_FLOOR) "timm==$(TIMM_FLOOR)"
	PYTHONPATH=build/timm-$(TIMM_FLOOR) $(PY) -c "import timm; assert timm.__version__ == '$(TIMM_FLOOR)', timm.__version__"
	PYTHONPATH=build/timm-$(TIMM_FLOOR) $(PY) -m pytest -q tests/semantic

# the radio-side benchmarks (no downloads): OFDM PHY throughput, images/s through the loopback
bench: setup
	$(VENV)/bin/semcod bench phy
	$(VENV)/bin/semcod bench e2e

# the module into GNU Radio's own prefix: GRC and every flowgraph find the blocks with no
# environment variable (GRC_BLOCKS_PATH / PYTHONPATH are then not needed)
install:
	@if ! ls /usr/lib/*/cmake/gnuradio/GnuradioConfig.cmake >/dev/null 2>&1 || ! command -v cmake >/dev/null || \
	    ! command -v c++ >/dev/null; then \
	  echo "== installing $(APT_INSTALL_PKGS) from Debian"; \
	  $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q $(APT_INSTALL_PKGS); \
	fi
	cmake -S . -B build/cmake -DCMAKE_INSTALL_PREFIX=$(GR_PREFIX)
	cmake --build build/cmake
	$(SUDO) cmake --install build/cmake

clean:
	rm -rf build out .pytest_cache
