# The two commands of the README: `make demo` (main job) and `make test`.
# Each creates the pip-only environment in .venv when it is missing or stale.
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.dp_ros.stamp
PYTHON3 ?= python3
DEMO_ARGS ?= --seeds 100000 100001 100002 --video outputs/demo/pusht.gif

# The ROS wheels find their libraries and message packages through the ament index.
export AMENT_PREFIX_PATH := $(abspath $(VENV))
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST

.PHONY: venv test lint demo bench clean-venv

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON3) -m venv $(VENV)
	$(VENV)/bin/pip install -r requirements.txt
	touch $@

# A regular (non-editable) install, redone each time (about a second): editable installs do
# not place data_files, and `ros2 run`-style lookups need share/dp_ros and the ament marker.
venv: $(STAMP)
	$(VENV)/bin/pip install --no-deps --no-build-isolation --quiet .
	$(VENV)/bin/pip check

lint: venv
	$(VENV)/bin/ruff check .

# Three pytest-xdist workers, a test file to each at a time (module fixtures made once): its
# ROS tests wait on processes and discovery, so two kept the two cores 78 % busy (19.8 min of
# CI), three 90 % (17.4 min: README, Tests). PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= 3
test: venv
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

demo: venv
	$(VENV)/bin/dp-ros sim $(DEMO_ARGS)

# every bench that needs no input; bench_open_loop_selection.py compares a run's snapshots,
# which you name (its docstring)
NEEDS_INPUT := bench/bench_open_loop_selection.py
bench: venv
	for b in $(filter-out $(NEEDS_INPUT),$(wildcard bench/bench_*.py)); do $(PY) $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
