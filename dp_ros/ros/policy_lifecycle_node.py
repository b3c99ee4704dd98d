"""The policy as a managed (lifecycle) node: `ros2 run dp_ros policy_lifecycle_node`.

The same wiring as the plain node (PolicyCore), driven by the lifecycle_msgs services a
launch file or nav2's lifecycle manager calls:

- start (unconfigured): the parameters are read and checked against the checkpoint's
  metadata, so a bad parameter still ends the process at once (one line, exit 2);
- configure: load the policy onto its device and warm it up; subscribe (inputs are filed,
  nothing is published); a load or a wiring that fails (a topic of two message types) is
  logged, releases what it made (the loaded policy, its worker thread, the entities made so
  far) and returns FAILURE: the node stays unconfigured and may be configured again;
- activate: publish, or with start_enabled false wait for ~/enable (each activation starts
  as start_enabled says: a robot that must be readied by hand is not moved by a lifecycle
  manager's activate alone);
- deactivate: stop safely: the hold (runtime/safety.py) goes out, then nothing;
- cleanup: release the policy and every subscription, service and timer;
- shutdown: hold if active, release, and end the process.

An exception in any transition callback is logged with its traceback (rclpy turns it into
ERROR without a word) before on_error releases what was made.

Plain publishers, not lifecycle ones: the hold of a deactivation must still go out while the
node deactivates; what is published when is decided by the planning loop's enable state.
~/enable is refused unless the node is active.
"""
from __future__ import annotations

import functools
import gc
import sys
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from rclpy.guard_condition import GuardCondition
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.publisher import Publisher
from rclpy.service import Service
from rclpy.timer import Timer

from dp_ros.ros.node_main import (
    freeze_built_objects,
    interrupt_without_rclpy_shutdown,
    run_node,
)
from dp_ros.ros.param_files import warn_unmatched_blocks
from dp_ros.ros.parameters import read_parameters
from dp_ros.ros.policy_node import NODE_NAME, PolicyCore, read_config
from dp_ros.runtime.policy_node_config import PolicyNodeConfig

Transition = Callable[[Any, LifecycleState], TransitionCallbackReturn]


def logged(transition: Transition) -> Transition:
    """An exception in the transition is logged, with its traceback, and returns ERROR:
    rclpy returns ERROR too but says nothing, and on_error then finds nothing to explain."""
    @functools.wraps(transition)
    def run(node: PolicyLifecycleNode, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            return transition(node, state)
        except Exception:
            name = transition.__name__.removeprefix('on_')
            node.get_logger().error(f'{name} failed:\n{traceback.format_exc()}')
            return TransitionCallbackReturn.ERROR
    return run


class PolicyLifecycleNode(LifecycleNode):
    def __init__(self, **kwargs: Any):
        super().__init__(NODE_NAME, **kwargs)
        warn_unmatched_blocks(self, sys.argv, NODE_NAME)  # the file's blocks that miss it
        self.cfg, self.setup = read_config(self)
        self.core: PolicyCore | None = None
        self._finalized = False
        self.get_logger().info(f'unconfigured: configure loads {self.cfg.checkpoint}')

    # ------------------------------------------------------------------ transitions
    @logged
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        from dp_ros.runtime.inference_runner import load_runner
        from dp_ros.runtime.policy_node_config import load_setup

        # the parameters as given (load_setup resolves an hf:// checkpoint into the config: a
        # later configure must resolve the spec again, to the newest push)
        self.cfg = read_parameters(self, PolicyNodeConfig)
        try:  # the checkpoint as it is now: cleanup -> configure takes a replaced one whole
            self.setup = load_setup(self.cfg)
        except ValueError as exc:
            self.get_logger().error(f'configure: {exc}')
            return TransitionCallbackReturn.FAILURE
        for warning in self.setup.start_warnings:
            self.get_logger().warning(warning)
        try:
            loaded = load_runner(self.cfg)
        except Exception as exc:  # a GPU out of memory, a broken artifact: stay unconfigured
            gc.collect()  # what the failed load held (load_runner closed its runner), before a
            # retry loads the model again
            self.get_logger().error(f'configure: could not load the policy: {exc!r}')
            return TransitionCallbackReturn.FAILURE
        before = self._entities()
        error = self._wire(loaded)
        if error is not None:  # rcl refused a publisher or subscription: release the policy
            self._destroy(self._entities() - before)
            loaded[0].close()
            del loaded
            gc.collect()  # the model and the half-built core's cycles, before a retry
            self.get_logger().error(f'configure: could not wire the policy: {error}')
            return TransitionCallbackReturn.FAILURE
        self.core.enable_allowed = False
        freeze_built_objects()  # the policy lives until cleanup (_release unfreezes)
        # which weights: a replaced directory or a newer hf:// push reads the same otherwise
        self.get_logger().info(f'configured: loaded {self.cfg.checkpoint}')
        return TransitionCallbackReturn.SUCCESS

    def _wire(self, loaded: tuple) -> str | None:
        """The core on the loaded policy, or the error's repr (its traceback, which holds
        the half-built core, is gone once this returns)."""
        try:
            self.core = PolicyCore(self, self.cfg, self.setup, *loaded, enabled=False)
        except Exception as exc:
            return repr(exc)
        return None

    @logged
    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.core.enable_allowed = True
        if self.cfg.start_enabled:  # else it stays disabled (configure, deactivate): quiet
            self.core.set_enabled(True)
        self.get_logger().info('active: publishing' if self.cfg.start_enabled else
                               'active: waiting for ~/enable (start_enabled: false)')
        return super().on_activate(state)

    @logged
    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.core.set_enabled(False, 'deactivated')
        self.core.enable_allowed = False
        self.get_logger().info('inactive: holding, nothing published')
        return super().on_deactivate(state)

    @logged
    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    @logged
    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self._finalized = True
        return TransitionCallbackReturn.SUCCESS

    @logged
    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def _release(self) -> None:
        """Hold if moving, stop the worker, remove every entity the core made, free the policy."""
        core, self.core = self.core, None
        if core is None:
            return
        gc.unfreeze()  # the policy's cycles become collectable again
        core.shutdown()
        self._destroy([*core.entities, *core.publishers])
        del core
        gc.collect()  # the policy's cycles now, not at some later collection (a reconfigure
        # would load the next model beside it; on a GPU, its memory stays taken until then)

    def _entities(self) -> set[Any]:
        """Every publisher, subscription, service, timer and guard condition of the node now."""
        return {*self.publishers, *self.subscriptions, *self.services, *self.timers,
                *self.guards}

    def _destroy(self, entities: Iterable[Any]) -> None:
        for entity in entities:
            if isinstance(entity, Timer):
                self.destroy_timer(entity)
            elif isinstance(entity, Service):
                self.destroy_service(entity)
            elif isinstance(entity, Publisher):
                self.destroy_publisher(entity)
            elif isinstance(entity, GuardCondition):
                self.destroy_guard_condition(entity)
            else:
                self.destroy_subscription(entity)

    # ------------------------------------------------------------------ node_main hooks
    def start(self) -> None:
        interrupt_without_rclpy_shutdown()

    def finished(self) -> bool:
        """The shutdown transition ends the process."""
        return self._finalized

    def shutdown(self) -> None:
        self._release()


def main(argv: list[str] | None = None) -> int:
    return run_node(PolicyLifecycleNode, NODE_NAME, argv)


if __name__ == '__main__':
    sys.exit(main())
