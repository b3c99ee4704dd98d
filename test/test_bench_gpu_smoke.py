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
        assert len([k for k in variants if k.startswith('ddim4_')]) == 14, variants
        # every convolution as a GEMM (the smoke shapes' layers are all under the package's
        # size threshold: here the only part that takes the GEMM): the library's samples up
        # to rounding, fp32 (the shipped shape's case) or bf16 (the paper's)
        latency = results['latency'][shape]
        name, gemm_all = next((k, v) for k, v in latency.items() if k.startswith('graph_ddim4_'))
        bound = 1e-4 if '_fp32_' in name else 0.05
        assert 0 < gemm_all['vs_cudnn_eager']['max_abs_diff_normalized'] < bound, gemm_all
        assert latency['compiled'] == {'skipped': 'CUDA only'}
    assert [v['top'][0]['ms'] > 0 for v in results['profile']['paper_263M'].values()] == \
        [True, True]


def test_the_summary_takes_each_sampler_best_from_every_part():
    """node.runner_*, compiled and latency entries count, each under its own sampler: a
    compiled UNet's DDPM-100 figure (stored inside its DDIM-10 entry) is never taken for
    DDIM-10."""
    from types import SimpleNamespace

    sys.path.insert(0, str(REPO_ROOT / 'bench'))
    from bench_gpu import summarize

    results = {
        'sampling': {'paper_263M': {
            'ddim10_fp32': {'graph': {'median_ms': 34.0}, 'graph_vs_eager': {
                'max_abs_diff_normalized': 0.0}},
            'ddpm100_fp32': {'graph': {'median_ms': 330.0}},
            'compiled_unet_graph_ddim10_bf16': {'median_ms': 6.5,
                                                'ddpm100': {'median_ms': 4.0}}}},
        'conv_variants': {'paper_263M': {'ddim10_fp32_gemm64': {'graph': {'median_ms': 17.0}},
                                         'ddpm100_fp32_gemm64': {'graph': {'median_ms': 167.0}}}},
        'node': {'paper_263M': {'runner_ddim10_bf16_compiled': {'median_ms': 6.0,
                                                                'graphs': True},
                                'runner_ddim10_fp32': {'median_ms': 1.0, 'graphs': False}}},
        'latency': {'paper_263M': {
            'graph_ddim10_bf16_gemm64_all': {'graph': {'median_ms': 9.0}},
            'autotuned_ddim10_bf16_gemm64_all': {'median_ms': 4.5},
            'compiled_ddim10_bf16_gemm64_all': {'median_ms': 5.0,
                                                'ddpm100': {'median_ms': 3.5}}}},
        'training': {}}
    row = summarize(SimpleNamespace(results=results, args=SimpleNamespace(smoke=False)))[
        'paper_263M']
    assert (row['ddim10_graph_best'], row['ddim10_graph_ms']) == (
        'latency.autotuned_ddim10_bf16_gemm64_all', 4.5)
    assert (row['ddpm100_graph_best'], row['ddpm100_graph_ms']) == (
        'latency.compiled_ddim10_bf16_gemm64_all.ddpm100', 3.5)
    del results['latency']  # a run without the part (an earlier JSON): the others' best
    row = summarize(SimpleNamespace(results=results, args=SimpleNamespace(smoke=False)))[
        'paper_263M']
    assert (row['ddim10_graph_best'], row['ddim10_graph_ms']) == (
        'node.runner_ddim10_bf16_compiled', 6.0)  # not the eager runner (no graph)
    assert (row['ddpm100_graph_best'], row['ddpm100_graph_ms']) == (
        'sampling.compiled_unet_graph_ddim10_bf16.ddpm100', 4.0)
    assert row['met']['same_samples_1e-4'] is True
