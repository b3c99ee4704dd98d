"""bench/bench_gpu.py --smoke on this CPU: issue 15's device run has 15 minutes a session, lent
to some sessions only, so the script it runs must not rot between them. Every part runs (the
CUDA-graph ones say they were skipped for want of a device), none fails, and the static
buffers of the graph path give the eager samples exactly."""
from __future__ import annotations

import json
import subprocess
import sys

from support import REPO_ROOT


def _leaves(tree: object, path: str = ''):
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _leaves(value, f'{path}/{key}')
    else:
        yield path, tree


def test_the_gpu_bench_runs_every_part_on_the_cpu(tmp_path):
    out = tmp_path / 'gpu.json'
    done = subprocess.run([sys.executable, str(REPO_ROOT / 'bench' / 'bench_gpu.py'), '--smoke',
                           '--output', str(out)], capture_output=True, text=True, timeout=600,
                          cwd=REPO_ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(out.read_text())
    leaves = dict(_leaves(results))
    errors = {p: v for p, v in leaves.items() if p.endswith('/error')}
    assert errors == {}, errors
    skipped = {p: v for p, v in leaves.items() if p.endswith('/skipped')}
    cuda_only = ('no CUDA device', 'CUDA only', 'compile is measured on CUDA only (minutes on '
                 'a CPU)')
    assert skipped and all(v in cuda_only for v in skipped.values()), skipped
    for shape in ('shipped_7.7M', 'paper_263M'):
        cases = results['sampling'][shape]
        diffs = [c['static_vs_eager']['max_abs_diff_raw'] for c in cases.values()
                 if isinstance(c, dict) and 'static_vs_eager' in c]
        assert len(diffs) == 4 and max(diffs) == 0.0, cases  # fp32 and bf16, DDIM and DDPM
        assert results['training'][shape], results['training']
        assert results['summary'][shape]['train_best_samples_per_s'] > 0
        variants = results['conv_variants'][shape]  # every convolution variant ran
        assert len([k for k in variants if k.startswith('ddim4_')]) == 12, variants
    assert [v['top'][0]['ms'] > 0 for v in results['profile']['paper_263M'].values()] == \
        [True, True]
