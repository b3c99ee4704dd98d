"""`dp-ros node ACTION [--node NAME]`: a policy node's services without the `ros2` command.

The pip-only environment has rclpy but no ROS command line, and a node started with
`start_enabled: false` waits for `~/enable`: this calls it (`enable`, `disable`: std_srvs/
SetBool), `~/reset` (`reset`: std_srvs/Trigger), or, for the managed node, a lifecycle
transition by its label as `ros2 lifecycle set` does (`configure`, `activate`, `deactivate`,
`cleanup`, `shutdown`: lifecycle_msgs/ChangeState) or its state (`state`: GetState). Exit 0
when the node accepted, 1 when it refused (its message printed), 2 when no node answered,
3 when the node's service is there but gave no answer in time (a configure still loading).
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from typing import Any

from dp_ros.errors import UserError

DEFAULT_NODE = '/dp_policy'
SWITCHES = {'enable': True, 'disable': False}  # ~/enable's SetBool data
TRANSITIONS = ('configure', 'activate', 'deactivate', 'cleanup', 'shutdown')
ACTIONS = (*SWITCHES, 'reset', *TRANSITIONS, 'state')
SERVICES = ('enable', 'reset', 'change_state', 'get_state')  # the node's, that actions call
EXIT_REFUSED = 1
EXIT_NO_ANSWER = 3
DEFAULT_TIMEOUT_S = 10.0
# a configure loads and warms up the policy (torch_compile: 10 s more, a large model on a
# GPU: longer), holding the node's executor: its answer waits as long by default
CONFIGURE_TIMEOUT_S = 120.0
# a ROS name's tokens: letters, digits and underscores, not starting with a digit
_NAME_TOKEN = re.compile(r'[A-Za-z_][A-Za-z0-9_]*')


class NoAnswer(Exception):
    """The node's service was found but did not answer within the timeout."""


class _ManagedWithout(Exception):
    """The managed node is there (its get_state is) without the service asked for, in a
    state that gets it only by a transition (`state`)."""

    def __init__(self, state: str):
        super().__init__(state)
        self.state = state


# lifecycle states without ~/enable and ~/reset that no running transition will end (while
# configuring, get_state gives no answer: the executor is loading the policy; wait on)
STATES_WITHOUT_SERVICES = ('unconfigured', 'finalized')


# how long ~/enable or ~/reset may lag behind the managed node's get_state in discovery
# before its absence is taken as the node not being configured
MANAGED_GRACE_S = 1.5


def node_name(given: str) -> str:
    """A node's full name as its services are named under: '/' before a relative one."""
    name = given.strip().rstrip('/')
    tokens = name.removeprefix('/').split('/')
    if not name or not all(_NAME_TOKEN.fullmatch(t) for t in tokens):
        raise UserError(f'--node {given!r} is not a node name (letters, digits and '
                        "underscores, a token not starting with a digit, '/' between them: "
                        'e.g. /dp_policy, /left/dp_policy)')
    name = name if name.startswith('/') else '/' + name
    from rclpy.exceptions import InvalidServiceNameException
    from rclpy.validate_full_topic_name import validate_full_topic_name

    from dp_ros.ros.parameters import name_error
    from dp_ros.runtime.input_checks import shorten

    for service in SERVICES:  # rcl's bound on a service name (247 characters), said here
        full = f'{name}/{service}'
        try:
            validate_full_topic_name(full, is_service=True)
        except InvalidServiceNameException as exc:
            raise UserError(f'--node {shorten(given, 80)!r} is no name a node\'s services can '
                            f'have: {shorten(full, 80)} ({len(full)} characters) is not a '
                            f'valid service name ({name_error(exc)})') from None
    return name


def default_timeout(action: str) -> float:
    """How long `action` waits for its answer unless --timeout says: a configure loads the
    policy (CONFIGURE_TIMEOUT_S), anything else DEFAULT_TIMEOUT_S."""
    return CONFIGURE_TIMEOUT_S if action == 'configure' else DEFAULT_TIMEOUT_S


def request_for(action: str) -> tuple[Any, str, Any]:
    """(service type, service name under the node, request) of an action."""
    if action in SWITCHES:
        from std_srvs.srv import SetBool

        return SetBool, 'enable', SetBool.Request(data=SWITCHES[action])
    if action == 'reset':
        from std_srvs.srv import Trigger

        return Trigger, 'reset', Trigger.Request()
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState, GetState

    if action == 'state':
        return GetState, 'get_state', GetState.Request()
    return ChangeState, 'change_state', ChangeState.Request(transition=Transition(label=action))


def call(action: str, node: str, timeout_s: float) -> tuple[bool, str]:
    """The node's answer: (accepted, what it said)."""
    from dp_ros.ros.background_node import QUERY_RESEND_S, BackgroundNode, NoReply

    srv_type, service, request = request_for(action)
    name = f'{node}/{service}'
    with BackgroundNode(f'dp_ros_node_control_{os.getpid()}') as ros:
        started = time.monotonic()
        seen: list[str] = []

        def managed_without() -> None:
            """~/enable and ~/reset exist once the managed node is configured: against an
            unconfigured one the call waited its whole timeout, then asked whether the node
            runs at all. Said once its state is seen twice as one without them (a configure
            requested just before may not have started at the first look)."""
            if action in (*TRANSITIONS, 'state') or \
                    time.monotonic() - started < MANAGED_GRACE_S:
                return
            namespace, _, base = node.rpartition('/')
            if (base, namespace or '/') not in ros.node.get_node_names_and_namespaces():
                return
            # the services the node serves (the graph's whole list counts clients too)
            names = {n for n, _ in ros.node.get_service_names_and_types_by_node(
                base, namespace or '/')}
            if f'{node}/get_state' not in names or name in names:
                return
            left = started + timeout_s - time.monotonic()
            state = _state_of(ros, node, min(2.0, max(left, 0.1)))
            seen.append(state or '')
            if state in STATES_WITHOUT_SERVICES and seen[-2:] == [state, state]:
                raise _ManagedWithout(state)

        try:
            response = ros.call(srv_type, name, request, timeout_s, while_waiting=managed_without,
                                resend_s=QUERY_RESEND_S if action == 'state' else None)
        except _ManagedWithout as exc:
            raise UserError(f'{node} is the managed node (policy_lifecycle_node) in state '
                            f"'{exc.state}': its ~/{service} exists once it is "
                            f'configured (dp-ros node configure --node {node}; then activate; '
                            '`dp-ros node state` tells where it is)') from None
        except NoReply as exc:  # found, busy: a configure still loading
            raise NoAnswer(f'{exc}: {node} is there and has not answered yet (a configure '
                           'loads and warms up the policy); `dp-ros node state` tells when it '
                           'is done, or give a longer --timeout') from None
        except TimeoutError as exc:
            what = ('the managed node (policy_lifecycle_node)' if action in (*TRANSITIONS, 'state')
                    else 'the policy node')
            raise UserError(f'{exc}: is {what} running as {node} (--node), in this '
                            'ROS_DOMAIN_ID and discovery range?') from None
    if action == 'state':
        return True, f'{node}: {response.current_state.label}'
    if action in TRANSITIONS:
        return bool(response.success), (f'{node}: {action} ' + (
            'done' if response.success else 'refused (not a transition from its current '
            'state, or its callback failed: its log says which)'))
    return bool(response.success), f'{node}: {response.message or action}'


def _state_of(ros: Any, node: str, timeout_s: float) -> str | None:
    """The managed node's lifecycle state label; None without an answer in time (a
    configure holds its executor) or without the service."""
    from lifecycle_msgs.srv import GetState

    from dp_ros.ros.background_node import QUERY_RESEND_S, NoReply

    try:
        return ros.call(GetState, f'{node}/get_state', GetState.Request(), timeout_s,
                        resend_s=QUERY_RESEND_S).current_state.label
    except (NoReply, TimeoutError):
        return None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog='dp-ros node', description=__doc__.splitlines()[0])
    p.add_argument('action', choices=ACTIONS,
                   help='enable / disable: ~/enable (std_srvs/SetBool); reset: ~/reset; '
                        'configure, activate, deactivate, cleanup, shutdown: a lifecycle '
                        "transition of the managed node; state: its lifecycle state")
    p.add_argument('--node', default=DEFAULT_NODE,
                   help=f'the node, with its namespace (default {DEFAULT_NODE})')
    p.add_argument('--timeout', type=float, default=None,
                   help=f's to wait for the service and its answer (default '
                        f'{DEFAULT_TIMEOUT_S:g}; configure {CONFIGURE_TIMEOUT_S:g})')
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.timeout is None:
        args.timeout = default_timeout(args.action)
    if not args.timeout > 0:
        raise UserError(f'--timeout must be > 0 s, got {args.timeout}')
    from dp_ros.ros.processes import check_ros_environment

    check_ros_environment(os.environ)  # a bad ROS_DOMAIN_ID: one line, not rcl's exit code
    try:
        accepted, said = call(args.action, node_name(args.node), args.timeout)
    except NoAnswer as exc:
        print(f'dp-ros node: {exc}', file=sys.stderr)
        return EXIT_NO_ANSWER
    print(said)
    return 0 if accepted else EXIT_REFUSED


if __name__ == '__main__':
    raise SystemExit(main())
