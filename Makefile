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

# `make test`: the tests that start ROS 2 processes (test/ros: mostly waiting on the
# middleware) run beside the rest, each half in its own pytest and ROS domain, which saves a
# third of the wall time on the 2-core CI machine; the ROS half's report follows the other's
# and either half failing fails the target. PYTEST_ARGS=...: one pytest run with them.
ROS_TEST_LOG := $(VENV)/pytest_ros.log
test: venv
ifeq ($(strip $(PYTEST_ARGS)),)
	@base=$${DP_ROS_TEST_DOMAIN_ID:-$$(( $$$$ % 100 + 1 ))}; \
	DP_ROS_TEST_DOMAIN_ID=$$(( (base + 100) % 200 + 1 )) $(PY) -m pytest test/ros \
	    > $(ROS_TEST_LOG) 2>&1 & ros=$$!; \
	trap 'kill $$ros 2>/dev/null; exit 130' INT TERM; \
	DP_ROS_TEST_DOMAIN_ID=$$base $(PY) -m pytest --ignore=test/ros; rest=$$?; \
	wait $$ros; ros_rc=$$?; \
	echo '== test/ros (run beside the tests above) =='; cat $(ROS_TEST_LOG); \
	echo "make test: test/ exit $$rest, test/ros exit $$ros_rc"; \
	[ $$rest -eq 0 ] && [ $$ros_rc -eq 0 ]
else
	$(PY) -m pytest $(PYTEST_ARGS)
endif

demo: venv
	$(VENV)/bin/dp-ros sim $(DEMO_ARGS)

# every bench that needs no input; bench_open_loop_selection.py compares a run's snapshots,
# which you name (its docstring)
NEEDS_INPUT := bench/bench_open_loop_selection.py
bench: venv
	for b in $(filter-out $(NEEDS_INPUT),$(wildcard bench/bench_*.py)); do $(PY) $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
