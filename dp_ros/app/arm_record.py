"""Record the paper's Push-T demonstrations as arm demonstrations, over ROS, into rosbags.

    dp-ros arm-record --output demos/arm_bags [--episodes 0:206] [--mode lockstep]

For each episode: the arm sim (config/pusht_arm_sim.yaml, realtime) starts from the recorded
start state, and the recorded pusher path, mapped through the arm's IK (sim_bridge/arm_demos.py:
step k goes to the IK of the recorded pusher position k + 1), is streamed to it as a
teleoperator's command stream: upon the sim's observation of step k, a two-point
JointTrajectory holding commands k and k + 1, due one and two control periods later. So the
arm holds for step 0 and runs command k in step k + 1, from that message or the one before
(a message up to 0.2 s late changes nothing), and the bag holds exactly the targets the arm
ran. --mode lockstep runs the sim in lockstep instead (as fast as the cores allow; the
camera then has one frame per step, on its boundary): command k alone is due at step k's own
time, and step k waits for it and runs it. Either way the point due at step k's time is the
command that step runs, which bag2zarr takes as action k. The project's recorder
(sim_bridge/record_demo.py) writes one mcap bag per episode (zstd chunks, as rosbag2's
zstd_fast preset) with the camera, joint states, the end effector's pose
(a Cartesian policy's data: config/bag2zarr_pusht_arm_cartesian.yaml), commands, block pose,
reward, episode start and result.

An episode is kept when its replay still succeeds, by arm_demos' rule (the final coverage of
the goal is at least the recorded final coverage minus 0.05), and the arm ran every command in
its step: the joints observed at the end of step k + 1 are command k (a rejected command, or
the first one arriving after step 1 began, which no earlier message covers, leaves the bag
saying something the arm did not do). An episode that fails only for timing (a command
rejected or not run, or control periods the sim skipped, a hole in the bag's timeline: the
machine was busy) is recorded again, up to --retries times, since the
replay itself is deterministic. Kept bags are moved into
--output only once complete (a half-written bag never lands there); failed ones are deleted
(--keep-failed moves them to <output>_failed). An interrupted run resumes: episodes whose bag
exists are skipped. <output>/../<name>_report.json lists every episode: a kept episode's row is
staged in <output>/../.<name>.partial before its bag moves, so a run killed between the move
and the report's write leaves it there and the next run reports it before it clears that
folder. Ctrl-C or SIGTERM exits 130 or 143 in one line, nothing staged left (held back over
the start-up, each bag's move with its report row, and the cleanup: dp_ros/held_signals.py).
A second run into the same --output while one runs is refused in one line
(dp_ros.atomic_dir.output_lock).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from dp_ros.app.sim_launcher import config_file, node_environment
from dp_ros.atomic_dir import output_lock, write_text
from dp_ros.errors import UserError, sigterm_as_interrupt
from dp_ros.held_signals import signals_held_back
from dp_ros.ros.processes import node_command, start_child, stop
from dp_ros.selection import parse_episodes
from sim_bridge.arm_demos import TOLERANCE, joint_commands, load_demonstrations
from sim_bridge.arm_kinematics import JOINT_NAMES
from sim_bridge.pusht_geometry import coverage
from sim_bridge.replay import DEFAULT_DATASET, ReplayClient, resolve_dataset

TOPICS = ('image_raw', 'joint_states', 'ee_pose', 'joint_trajectory', 'block_pose', 'reward',
          'episode_start', 'episode_result')
MODES = ('realtime', 'lockstep')
DT_NS = 100_000_000
RUN_ATOL = 1e-6  # rad: the sim's arm reaches its target within a step (test_arm_pipeline)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog='dp-ros arm-record',
                                description=__doc__.splitlines()[0])
    p.add_argument('--output', type=Path, required=True, help='folder of the kept bags')
    p.add_argument('--dataset', type=Path, default=DEFAULT_DATASET)
    p.add_argument('--episodes', default=':', help="'start:stop', 'a,b,c' (default: all)")
    p.add_argument('--tolerance', type=float, default=TOLERANCE)
    p.add_argument('--mode', choices=MODES, default='realtime',
                   help="the sim's stepping: realtime (a teleoperator's stream on the wall "
                        'clock, 30 Hz camera) or lockstep (each step waits for its command: '
                        'faster, one frame per step)')
    p.add_argument('--retries', type=int, default=2,
                   help='record an episode again this many times when a command was rejected '
                        'or not run in its step (timing, not the replay)')
    p.add_argument('--keep-failed', action='store_true',
                   help='move the bags of failed replays to <output>_failed')
    p.add_argument('--namespace', default='/pusht')
    p.add_argument('--no-progress', action='store_true',
                   help='no progress bar (one line per episode is printed either way)')
    p.add_argument('--timeout', type=float, default=30.0,
                   help='seconds to wait for any one observation, result or service')
    return p


class EpisodeRecorder:
    """The project's recorder node, spinning on its own thread; one bag per episode."""

    def __init__(self, namespace: str):
        from sim_bridge.record_demo import Recorder

        self.topics = [f'{namespace}/{t}' for t in TOPICS]
        self.recorder = Recorder(self.topics, bag=None, result_topic=f'{namespace}/'
                                 'episode_result')
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.recorder.spin_until,
                                       args=(self.stop, 0, 0.0), daemon=True)
        self.thread.start()

    def ready(self) -> bool:
        """Every topic subscribed and matched with its publishers (the Recorder's 'ready:'):
        subscribed alone is not enough, an episode started before the match loses its first
        messages."""
        return self.recorder.ready

    def not_ready(self) -> str:
        """Why it is not ready, for a timeout message."""
        missing = self.recorder.unseen()
        if missing:
            return f'the recorder found no publisher on {missing}'
        return ('the recorder is not matched with every publisher of '
                f'{self.topics} (incompatible QoS?)')

    def record_into(self, path: Path | None):
        """Close the current bag (if any) and write the next messages into a new one. Ctrl-C
        and SIGTERM held back: the first bag imports rosbags' type stores, whose dataclasses
        run exec()'d code (a stop there: Python 3.11 ends the process by SIGINT, not 130/143)."""
        from dp_ros.bags.recorder import BagRecorder

        with signals_held_back():
            bag = None if path is None else BagRecorder(path, storage='mcap',
                                                        compression='chunks')
            return self.recorder.switch(bag)

    def check(self) -> None:
        """Raise the write the bag's disk refused (full, over the size limit; the recorder
        thread stopped there), its bag closed as far as it goes: the episode stops at once,
        not at its end, and the command's one line names the bag (dp_ros/cli.py)."""
        failure = self.recorder.failure
        if failure is None:
            return
        failed = self.recorder.switch(None)
        if failed is not None:
            with contextlib.suppress(OSError):  # the same full disk: removed with .partial
                failed.close()
        raise failure

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5.0)
        old = self.recorder.switch(None)
        if old is not None:
            old.close()
        self.recorder.close()


def start_sim(namespace: str, mode: str = 'realtime') -> Any:
    argv = node_command(
        'sim_bridge.pusht_sim_node', 'pusht_sim', '--ros-args', '-r', f'__ns:={namespace}',
        '--params-file', str(config_file('pusht_arm_sim.yaml')), '-p', f'mode:={mode}',
        '-p', 'autostart:=false', '-p', 'auto_reset:=false', '-p', 'ee_pose_topic:=ee_pose')
    # this process's environment: main() set it from node_environment(), checked there once
    return start_child(argv)


def stream_episode(client: Any, commands: np.ndarray, start_ns: int, timeout: float,
                   lead: int = 1, check: Callable[[], None] = lambda: None,
                   ended: Callable[[], bool] = lambda: False) -> int:
    """Upon the sim's observation of step k (its grid stamp), command k due `lead` periods
    later. Realtime (lead 1): with command k + 1 due a period after it, so a message up to
    0.2 s late is not rejected, and step k + 1 runs command k either way (from it or from the
    one before). Lockstep (lead 0): alone, so step k waits for this message and runs it.
    check() is called while waiting: it raises to stop the episode (a failed bag write).
    ended(): whether the sim ended the episode (its result came: the T placed before the
    last step), no further observation to wait for. Returns the commands sent."""
    last = start_ns - 1
    for k in range(len(commands)):
        def next_grid_obs(after=last):
            check()
            stamps = [s for s in client.poses if s > after and (s - start_ns) % DT_NS == 0
                      and s in client.joints]
            return [min(stamps)] if stamps else [None] if ended() else []
        t_k = client.wait(next_grid_obs, timeout, f'observation {k}')[0]
        if t_k is None:
            return k
        last = t_k
        client.send_actions(commands[k:k + 1 + lead], t_k + lead * DT_NS)
    return len(commands)


def unrun_steps(step_joints: np.ndarray, commands: np.ndarray,
                atol: float = RUN_ATOL, lead: int = 1) -> list[int]:
    """The commands k the arm did not run in their step: the joints observed at the end of step
    k + lead (step_joints[k + lead + 1]; row 0 is the reset's observation; realtime, lead 1:
    the arm holds for step 0) are not commands[k]. Steps never observed count as not run."""
    step_joints = np.asarray(step_joints, dtype=np.float64).reshape(-1, commands.shape[1])
    first = lead + 1
    ran = min(len(commands), max(len(step_joints) - first, 0))
    reached = np.all(np.abs(step_joints[first:ran + first] - commands[:ran]) <= atol, axis=1)
    return [int(k) for k in np.flatnonzero(~reached)] + list(range(ran, len(commands)))


def missing_messages(counts: dict[str, int], sent: dict[str, int], namespace: str
                     ) -> dict[str, int]:
    """Per observation topic, how many of the messages the sim says it sent in the episode
    (its result's `sent`) the bag lacks: a best-effort camera drops frames on a loaded
    machine, and bag2zarr would then find gaps in a kept episode."""
    topics = {'joint_states': f'{namespace}/joint_states', 'images': f'{namespace}/image_raw'}
    return {topic: sent[key] - counts.get(topic, 0) for key, topic in topics.items()
            if counts.get(topic, 0) < sent.get(key, 0)}


def verdict(row: dict[str, Any], tolerance: float) -> str:
    """'kept', 'retry' (a command was rejected or not run in its step, or the sim skipped
    control periods, which leaves a hole in the bag's timeline: the timing failed, not the
    replay) or 'failed' (the arm ran every command and the block ended elsewhere)."""
    result = row['result']
    if result['rejected'] or row['unrun_steps'] or result.get('slots_skipped', 0):
        return 'retry'
    ok = result['final_coverage'] >= row['recorded_final_coverage'] - tolerance
    return 'kept' if ok else 'failed'


def outcome_text(outcome: str, attempts: int) -> str:
    """An episode's verdict as its line says it: a drop for timing ('retry' after the last
    attempt) names that cause and its remedy, apart from a replay that no longer succeeds."""
    if outcome == 'retry':
        return (f'dropped: a command was rejected or not run in its step, or the sim skipped '
                f'control periods, in all {attempts} attempt(s) (timing, not the replay; try '
                '--mode lockstep)')
    return outcome


def step_joint_positions(client: Any, start_ns: int) -> np.ndarray:
    """The joints at each step observation of the episode (stamps on the control grid from
    the reset's, in order; an overrun step is stamped with a later slot)."""
    from dp_ros.ros.conversions import joint_state_to_numpy

    with client.cond:
        rows = [joint_state_to_numpy(client.joints[s], JOINT_NAMES)
                for s in sorted(client.joints) if s >= start_ns and (s - start_ns) % DT_NS == 0]
    return np.array(rows).reshape(-1, len(JOINT_NAMES))


def record_episode(client: Any, recorder: EpisodeRecorder, states: np.ndarray, bag: Path,
                   timeout: float, mode: str = 'realtime') -> dict[str, Any]:
    commands = joint_commands(states)
    lead = 1 if mode == 'realtime' else 0  # periods between an observation and its command
    with client.cond:
        client.joints.clear()
        client.poses.clear()
        n_results = len(client.results)
    client.set_parameters({'initial_state': [float(v) for v in states[0]],
                           'max_steps': len(commands) + lead}, timeout)
    recorder.record_into(bag)
    started = time.monotonic()
    start_ns = client.reset(timeout)

    def new_results() -> list[dict[str, Any]]:
        recorder.check()
        return client.results[n_results:]

    # an episode the sim ends early (the T placed before the last step) has sent fewer
    sent = stream_episode(client, commands, start_ns, timeout, lead, recorder.check,
                          lambda: bool(client.results[n_results:]))

    result = client.wait(new_results, timeout + len(commands) * 0.1, 'the episode result')[-1]
    time.sleep(0.5)  # stragglers of the other topics
    written = recorder.record_into(None)
    written.close()
    recorder.check()  # a write that failed before the switch
    namespace = recorder.topics[0].rsplit('/', 1)[0]
    return {'result': result, 'mode': mode, 'wall_s': round(time.monotonic() - started, 3),
            'missing': missing_messages(written.counts, result.get('sent', {}), namespace),
            'recorded_final_coverage': round(coverage(states[-1, 2:5]), 6),
            'commands_sent': sent,
            'unrun_steps': unrun_steps(step_joint_positions(client, start_ns),
                                       commands[:judged_commands(result, sent, lead)],
                                       lead=lead)}


def judged_commands(result: dict[str, Any], sent: int, lead: int) -> int:
    """How many commands an episode is judged on: all that were sent, but where the sim ended
    the episode by success (the T placed before the last step) only those due within its
    steps (command k is judged at the end of step k + lead): a command sent for a step that
    never ran is not one the arm failed to run."""
    if result.get('terminated') and result.get('reason') == 'success':
        return max(0, min(sent, int(result.get('steps', sent)) - lead))
    return sent


def check_output_folder(output: Path) -> None:
    """UserError for an --output that is something other than a folder (mkdir would raise
    FileExistsError, a traceback), as train and download-pusht refuse one."""
    if output.exists() and not output.is_dir():
        raise UserError(f'--output {output} is a file: give the folder that receives the '
                        'episode bags (made if missing)')


def main(argv: list[str] | None = None) -> int:
    """Expected errors are raised (dp_ros/cli.py prints them: one line, exit 2)."""
    args = build_parser().parse_args(argv)
    if args.retries < 0:
        raise UserError(f'--retries must be >= 0, got {args.retries}')
    if not args.timeout > 0:  # NaN: a deadline no clock passes, a wait without end
        raise UserError(f'--timeout must be > 0 s, got {args.timeout}')
    if not 0 <= args.tolerance <= 1:  # NaN failed every episode's replay, unsaid
        raise UserError(f'--tolerance must be a coverage fraction in 0..1, got '
                        f'{args.tolerance}')
    check_output_folder(args.output)

    # this process records the 640 x 480 camera and starts the sim; a ROS_DOMAIN_ID or
    # RMW_IMPLEMENTATION rcl cannot use is one line here, before rclpy loads
    os.environ.update(node_environment())
    dataset = resolve_dataset(args.dataset)
    try:  # a missing dataset: one line, exit 2 (dp_ros/cli.py); no Push-T store: one line too
        # held back (the states alone: bounded): a stop in zarr's read left its loop closed
        # under the pending chunk reads (~150 'Exception ignored ... Event loop is closed'
        # after the interrupt's line), one in zarr's import passed through the code
        # dataclasses exec()s (Python 3.11 then ends the process by SIGINT, not 130/143)
        with signals_held_back():
            demos = load_demonstrations(dataset)
    except ValueError as exc:
        raise UserError(f'--dataset {exc}') from None
    episodes = parse_episodes(args.episodes, len(demos.ends)) or list(range(len(demos.ends)))
    output = args.output
    # a second run into this output would clear the first's .partial bags and race its
    # report: refused in one line, as bag2zarr, convert and train refuse one
    with output_lock(output, 'dp-ros arm-record'):
        check_output_folder(output)  # again: made meanwhile
        output.mkdir(parents=True, exist_ok=True)
        report_path = output.parent / f'{output.name}_report.json'
        report = (json.loads(report_path.read_text()) if report_path.exists()
                  else {'episodes': {}})
        with sigterm_as_interrupt():  # killed: the sim is stopped and no partial bag is left
            return record_all(args, demos, episodes, output, report_path, report)


def staged_row(partial: Path, name: str) -> Path:
    """Where a kept episode's report row waits while its bag moves into --output."""
    return partial / f'{name}.row.json'


def report_staged_rows(partial: Path, output: Path, report: dict[str, Any],
                       report_path: Path) -> None:
    """Report the rows a killed run staged for bags it moved into `output` but never reported
    (their values come from the recording alone: no later run could make them again). A row
    whose bag is not in `output` (killed before the move) is dropped: the episode is recorded
    again."""
    rows = [json.loads(p.read_text()) for p in sorted(partial.glob('episode_*.row.json'))]
    rows = [r for r in rows if (output / f"episode_{r['episode']:03d}").is_dir()]
    if rows:
        report['episodes'].update((str(r['episode']), r) for r in rows)
        write_text(report_path, json.dumps(report, indent=1))


def keep_outcome(partial: Path, name: str, output: Path, failed_dir: Path | None,
                 row: dict[str, Any], report: dict[str, Any], report_path: Path) -> None:
    """Move the episode's bag where its verdict puts it (`failed_dir` None: deleted) and write
    its report row. Held back from Ctrl-C and SIGTERM, so a stop never parts the two; a kept
    bag's row is staged before the move, so a kill (SIGKILL, the OOM killer) between the move
    and the report's write leaves it for the next run (report_staged_rows)."""
    with signals_held_back():
        staged = staged_row(partial, name)
        if row['success']:
            write_text(staged, json.dumps(row, indent=1))
            (partial / name).rename(output / name)
        elif failed_dir is not None:
            failed_dir.mkdir(exist_ok=True)
            shutil.rmtree(failed_dir / name, ignore_errors=True)
            (partial / name).rename(failed_dir / name)
        else:
            shutil.rmtree(partial / name)
        report['episodes'][str(row['episode'])] = row
        write_text(report_path, json.dumps(report, indent=1))
        staged.unlink(missing_ok=True)


def record_all(args: argparse.Namespace, demos: Any, episodes: list[int], output: Path,
               report_path: Path, report: dict[str, Any]) -> int:
    """Record the episodes not in `output` yet; the exit code."""
    partial = output.parent / f'.{output.name}.partial'
    failed_dir = output.parent / f'{output.name}_failed'
    sim = client = recorder = None
    try:
        # held back (bounded: rclpy's import and init, the sim's start, two nodes made); a stop
        # lands after it, here in the try: one inside left rclpy half made and unclosed
        # (SIGABRT at exit, 'terminate called without an active exception'), failed rclpy's
        # import as an ImportError traceback, or was swallowed by a fork's at-fork handler
        # (the run went on); and made outside the try, the staging folder stayed behind
        with signals_held_back():
            report_staged_rows(partial, output, report, report_path)  # a killed run's rows
            shutil.rmtree(partial, ignore_errors=True)  # and its half-written bag
            partial.mkdir()
            sim = start_sim(args.namespace, args.mode)
            client = ReplayClient(args.namespace, 'pusht_sim', joints=JOINT_NAMES)
            recorder = EpisodeRecorder(args.namespace)
        client.wait_connected(args.timeout, sim)
        deadline = time.monotonic() + args.timeout
        while not recorder.ready():
            if time.monotonic() > deadline:
                raise TimeoutError(recorder.not_ready())
            time.sleep(0.1)
        # episodes recorded by an earlier run are skipped; the bar counts steps (10 Hz of
        # realtime each), so its ETA holds however long the episodes are
        todo = [i for i in episodes if not (output / f'episode_{i:03d}').exists()]
        bar = tqdm(total=sum(len(demos.episode(i)) for i in todo), unit='step',
                   desc=f'arm-record ({len(todo)} episodes)', disable=args.no_progress)
        for index in todo:
            name = f'episode_{index:03d}'
            for attempt in range(1, args.retries + 2):
                shutil.rmtree(partial / name, ignore_errors=True)
                row = record_episode(client, recorder, demos.episode(index), partial / name,
                                     args.timeout, args.mode)
                outcome = verdict(row, args.tolerance)
                if outcome != 'retry' or attempt > args.retries:
                    break
                bar.write(f"episode {index}: the arm did not run every command in its step "
                          f"(not run: steps {row['unrun_steps'][:5]}, rejected: "
                          f"{row['result']['rejected']}, control periods skipped: "
                          f"{row['result'].get('slots_skipped', 0)}); recording it again")
            result = row['result']
            ok = outcome == 'kept'
            if ok and row['missing']:  # kept: bag2zarr reports the gaps and cuts there
                bar.write(f"episode {index}: the bag lacks messages the sim sent "
                          f"{row['missing']} (dropped on a loaded machine): bag2zarr will "
                          'find gaps there (missing in the report)')
            row.update(episode=index, success=ok, attempts=attempt)
            keep_outcome(partial, name, output, failed_dir if args.keep_failed else None, row,
                         report, report_path)
            bar.write(f"episode {index}: {result['steps']} steps, final coverage "
                      f"{result['final_coverage']:.3f} (recorded "
                      f"{row['recorded_final_coverage']:.3f}) -> {outcome_text(outcome, attempt)} "
                      f"({row['wall_s']:.1f} s)")
            bar.update(len(demos.episode(index)))
        bar.close()
    except (TimeoutError, RuntimeError) as exc:
        print(f'dp-ros arm-record: {exc}', file=sys.stderr)
        return 1
    finally:
        # held back too (bounded: the joins' and stop's timeouts): a second stop here skipped
        # the rest (rclpy left running: SIGABRT; the staging folder left)
        with signals_held_back():
            try:
                for part in (recorder, client):
                    if part is not None:
                        part.close()
                if sim is not None:
                    stop(sim)
            finally:
                shutil.rmtree(partial, ignore_errors=True)
    rows = [r for r in report['episodes'].values()]
    kept = sum(r['success'] for r in rows)
    print(f'{kept} of {len(rows)} episodes kept in {output} (report: {report_path})')
    return 0


if __name__ == '__main__':
    from dp_ros.cli import run_subcommand

    sys.exit(run_subcommand('arm-record', sys.argv[1:]))
