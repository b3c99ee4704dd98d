"""`dp-ros eval --via ros`: the paper's Push-T protocol through the sim bridge and the policy node.

Same arguments and report as `--via inprocess` (dp_ros/app/evaluate.py). In lockstep (the
default) the policy node plans on the observation of each step it is asked for and seeds
one generator per episode with the shared rule, so each episode's score equals the
in-process one bit for bit (the node turns messages into exactly the tensors the in-process
loop builds). In realtime (--mode realtime) the sim runs at 10 Hz of wall clock and the node
as on a robot (chunks stamped for when they run, late points dropped, --execution-mode):
the gap to lockstep is what latency costs. Episodes run one at a time: over ROS there is no
batching. A policy that acts on the end effector's pose (PolicyConfig.cartesian_io: its
action a whole pose, its state pose fields) runs as `dp-ros sim` runs it: the sim
publishes the pose and takes PoseStamped targets; in-process, CartesianArmEnv does the same.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

# the sim holds its target after this long without an action; counted, and a faithful
# evaluation has none (a CPU chunk takes well under this)
ACTION_WAIT_TIMEOUT_S = 300.0
# refusals that are the policy's doing, not the evaluation's: a Cartesian target out of the
# arm's reach is held as the in-process loop holds it (CartesianArmEnv), and scored
POLICY_REFUSALS = frozenset({'unreachable'})


def episode_problems(results: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Per seed, of the episodes that had any: actions the sim held for want of one in time
    (action_timeouts) and the actions it rejected, counted by kind. The report keeps them."""
    return {r['seed']: {'action_timeouts': r.get('action_timeouts', 0),
                        'rejected': r.get('rejected', {})}
            for r in results if r.get('action_timeouts') or r.get('rejected')}


def evaluation_faults(problems: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """The episodes whose problems are the evaluation's, not the policy's: any held action,
    or a rejection of a kind other than POLICY_REFUSALS. In lockstep they void the scores."""
    return {seed: p for seed, p in problems.items()
            if p['action_timeouts'] or set(p['rejected']) - POLICY_REFUSALS}


def run_ros_eval(args: argparse.Namespace) -> dict[str, Any]:
    from dp_ros.app.eval_report import (
        check_video_episodes,
        eval_config_dict,
        make_eval_report,
        ros_log_dir,
    )
    from dp_ros.app.sim_launcher import (
        SessionConfig,
        SimError,
        check_policy_node,
        policy_io_overrides,
        resolve_checkpoint,
        run_session,
    )
    from dp_ros.policy.checkpoint import read_policy_metadata
    from sim_bridge.video import video_file_for

    checkpoint = resolve_checkpoint(args.checkpoint)
    meta = read_policy_metadata(checkpoint)
    pose_sim, pose_policy = policy_io_overrides(meta)
    seeds = [int(s) for s in args.seeds]
    check_video_episodes(args.video_episodes, len(seeds))
    output = Path(args.output)
    video_pattern = ''
    if args.video_episodes:  # the report's path is a name, not a pattern: its braces escaped
        base = str(output.with_name(f'{output.stem}_ep').resolve())
        video_pattern = (base.replace('{', '{{').replace('}', '}}')
                         + f'{{episode}}.{args.video_format}')
    cfg = SessionConfig(
        checkpoint=checkpoint, seeds=seeds, mode=args.mode, robot=args.robot,
        max_steps=args.max_steps,
        device=args.device, dtype=args.dtype, sampler=args.sampler or '',
        num_inference_steps=args.num_inference_steps or 0, sample_seed=args.sample_seed,
        cpu_threads=args.threads or 0, video_path=video_pattern,
        log_dir=ros_log_dir(output),
        sim_overrides={'action_wait_timeout_s': ACTION_WAIT_TIMEOUT_S, **pose_sim},
        # the node runs the checkpoint's chunks (the point's bounds: the table; the arm's: its
        # joint limits, from its parameter file); in lockstep exactly as the in-process loop
        # does, so without the arm's per-step rate limit, in realtime as deployed
        policy_overrides={'n_action_steps': 0, 'torchscript': not args.eager,
                          'execution_mode': args.execution_mode,
                          **({'action_lower': [0.0, 0.0], 'action_upper': [512.0, 512.0]}
                             if args.robot == 'point' else {}),
                          **({'max_step_delta': []} if args.mode == 'lockstep' else {}),
                          **pose_policy})
    check_policy_node(cfg, meta)  # a policy of another robot: one line, before the nodes start
    videos = {i: video_file_for(video_pattern, i, seed) for i, seed in enumerate(seeds)
              if video_pattern}
    start = time.perf_counter()
    try:
        results = run_session(cfg, progress=not args.no_progress)
    finally:  # the sim films every episode: an interrupted run too leaves only those asked for
        for i, path in videos.items():
            if i not in args.video_episodes:
                path.unlink(missing_ok=True)
    seconds = time.perf_counter() - start
    problems = episode_problems(results)
    faults = evaluation_faults(problems)
    if faults and args.mode == 'lockstep':
        raise SimError(f'the sim held or rejected actions in some episodes {faults}: the '
                       f'scores would not be the policy\'s; see the logs in {cfg.log_dir}')
    extra: dict[str, Any] = {
        'episode_steps': [int(r['steps']) for r in results],
        'episode_success': [bool(r['terminated']) for r in results],
        # realtime: how many steps ran before the policy's first chunk arrived (the node is
        # ready before an episode starts, so 0 or 1: one inference)
        'episode_first_command_step': [r.get('first_command_step') for r in results],
        # realtime: control periods the sim skipped for a late step (a machine that did not
        # keep up: the score is not a clean one where this is not 0)
        'episode_slots_skipped': [int(r.get('slots_skipped', 0)) for r in results],
        'wall_time_s': seconds, 'finished_at': time.time(),
        'policy': {'sampler': args.sampler or meta['config'].get('sampler'),
                   'num_inference_steps': args.num_inference_steps
                   or meta['config'].get('num_inference_steps'),
                   'provenance_step': meta.get('provenance', {}).get('step')},
        # realtime: held or rejected actions are part of what latency costs, so reported
        'ros': {'robot': args.robot, 'mode': args.mode, 'execution_mode': args.execution_mode,
                'cartesian': bool(pose_sim),
                'logs': str(cfg.log_dir), 'problems': problems},
    }
    if video_pattern:
        written = [str(videos[i]) for i in args.video_episodes if videos[i].is_file()]
        missing = [videos[i] for i in args.video_episodes if not videos[i].is_file()]
        if missing:  # the sim logs why; the report says so
            extra['video_error'] = (f'the sim did not write {missing[0]}: see '
                                    f'{cfg.log_dir}/pusht_sim.log')
        if written:
            extra['video'] = written[0]
            extra['videos'] = written
        extra['video_episodes'] = list(args.video_episodes)
    return make_eval_report(seeds, [float(r['max_reward']) for r in results],
                            eval_config_dict(args), extra)
