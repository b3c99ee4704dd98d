"""How long the installed commands take to start, to refuse bad input, and to stop.

A robot operator meets these times on every run: a typo in a path should be named at once,
not after torch loads; a policy node should be ready (checkpoint loaded, warmed up) soon after
launch and leave quickly on Ctrl-C. Each figure is the median (and min, max) of `--repeats`
runs of the installed console scripts (`.venv/bin/dp-ros`, the node module), warm file cache
(one unmeasured run first):

1. `dp-ros --help`, and the refusals of `dp-ros train` (missing dataset) and `dp-ros eval`
   (missing checkpoint): the error paths never import torch (test/test_cli_errors.py pins
   that; this measures it).
2. `import dp_ros.ros.policy_node, dp_ros.runtime.inference_runner`: what every node process
   pays before its first line of its own.
3. The policy node with the shipped checkpoint on CPU: process start to its setup line
   (loaded and warmed up), then Ctrl-C to exit.
4. `dp-ros eval --via inprocess` of one 10-step episode, start to report written.

Prints and writes bench/results/startup.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ros_bench_env  # the ROS environment, set before any node is started

REPO = ros_bench_env.REPO
BIN = Path(sys.executable).parent
CHECKPOINT = REPO / 'checkpoints' / 'pusht_default'
READY_MARK = 'warm-up'  # in the node's setup line (runtime.policy_node_config.describe_setup)
NODE_TIMEOUT_S = 300.0


def timed(argv: list[str], expect_rc: int) -> float:
    """Seconds from start to exit of `argv`; AssertionError when it exits otherwise."""
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - start
    assert proc.returncode == expect_rc, (argv, proc.returncode, proc.stderr[-2000:])
    return seconds


def node_start_stop(log_dir: Path, k: int) -> tuple[float, float]:
    """(start to the setup line, Ctrl-C to exit) of one policy node process."""
    log = log_dir / f'node_{k}.log'
    argv = [sys.executable, '-m', 'dp_ros.ros.policy_node', '--ros-args',
            '--params-file', str(REPO / 'config' / 'policy_pusht.yaml'),
            '-p', f'checkpoint:={CHECKPOINT}', '-p', 'device:=cpu']
    with open(log, 'w') as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                                start_new_session=True)
        try:
            while READY_MARK not in log.read_text():
                if proc.poll() is not None or time.perf_counter() - start > NODE_TIMEOUT_S:
                    raise RuntimeError(f'the node did not get ready: {log.read_text()[-2000:]}')
                time.sleep(0.01)
            ready = time.perf_counter() - start
            stop = time.perf_counter()
            proc.send_signal(signal.SIGINT)
            rc = proc.wait(timeout=60)
            stopped = time.perf_counter() - stop
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert rc == 0, f'the node exited with {rc} on Ctrl-C: {log.read_text()[-2000:]}'
    return ready, stopped


def summary(values: list[float]) -> dict[str, float]:
    return {'median_s': round(statistics.median(values), 3), 'min_s': round(min(values), 3),
            'max_s': round(max(values), 3), 'n': len(values)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--out', type=Path, default=REPO / 'bench' / 'results' / 'startup.json')
    args = p.parse_args(argv)
    dp_ros = str(BIN / 'dp-ros')
    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        commands = {
            'dp-ros --help': ([dp_ros, '--help'], 0),
            'dp-ros train, missing dataset (error)': (
                [dp_ros, 'train', '--config', str(REPO / 'config' / 'train_pusht_arm_cpu.yaml'),
                 '--output', str(work / 'run'), f'data.zarr_path={work / "missing.zarr"}'], 2),
            'dp-ros eval, missing checkpoint (error)': (
                [dp_ros, 'eval', '--checkpoint', str(work / 'missing'), '--output',
                 str(work / 'e.json')], 2),
            'import policy_node + inference_runner': (
                [sys.executable, '-c',
                 'import dp_ros.ros.policy_node, dp_ros.runtime.inference_runner'], 0),
            'dp-ros eval, one 10-step episode': (
                [dp_ros, 'eval', '--checkpoint', str(CHECKPOINT), '--seeds', '100000:100001',
                 '--max-steps', '10', '--video-episodes', '0', '--no-progress', '--threads',
                 '2', '--output', str(work / 'eval.json')], 0),
        }
        results: dict[str, dict] = {}
        for name, (command, rc) in commands.items():
            timed(command, rc)  # warm the file cache
            results[name] = summary([timed(command, rc) for _ in range(args.repeats)])
            print(f'{name:45s} {results[name]}', flush=True)
        node_start_stop(work, -1)
        runs = [node_start_stop(work, k) for k in range(args.repeats)]
        results['policy node: start to loaded and warmed up'] = summary([r for r, _ in runs])
        results['policy node: Ctrl-C to exit'] = summary([s for _, s in runs])
        for name in list(results)[-2:]:
            print(f'{name:45s} {results[name]}', flush=True)
    import torch

    report = {
        'bench': 'startup',
        'command': 'python bench/bench_startup.py --repeats ' + str(args.repeats),
        'machine': {'cpu': platform.processor() or platform.machine(),
                    'cpu_capability': torch.backends.cpu.get_cpu_capability(),
                    'cores': os.cpu_count(), 'python': platform.python_version(),
                    'torch': torch.__version__,
                    'load_average': {'before': load_before,
                                     'after': [round(x, 2) for x in os.getloadavg()]}},
        'checkpoint': str(CHECKPOINT.relative_to(REPO)),
        'results': results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + '\n')
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
