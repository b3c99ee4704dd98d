"""Edges of the training config: every bound validate() checks (each number's sign, the
ranges of val_ratio and the EMA's decays, integer-only fields that YAML could make booleans
or floats), the documented defaults, `evaluates`, the errors of malformed YAML and
overrides, relative dataset paths, the precision a CPU trains in, and renamed keys."""
from __future__ import annotations

import warnings

import pytest

from training.config import (
    DataConfig,
    EmaConfig,
    EvalConfig,
    LoopConfig,
    OptimConfig,
    TrainConfig,
    apply_override,
    load_config,
)
from training.cpu_precision import effective_mixed_precision
from training.deprecated_keys import (
    DeprecatedKeyWarning,
    deprecated_keys_shown,
    rename_deprecated,
)
from training.errors import TrainConfigError


@pytest.mark.parametrize('override, message', [
    ('data.format=hdf5', "data.format 'hdf5' is not one of"),
    ('optim.lr=0', 'optim.lr must be > 0'),
    ('optim.lr=-0.0001', 'optim.lr must be > 0'),
    ('data.batch_size=0', 'data.batch_size must be > 0'),
    ('optim.grad_accum_steps=0', 'optim.grad_accum_steps must be > 0'),
    ('eval.max_steps=0', 'eval.max_steps must be > 0'),
    ('train.max_steps=true', 'train.max_steps must be a number, got True'),
    ('train.max_steps=ten', "train.max_steps must be a number, got 'ten'"),
    ('train.log_every=-1', 'train.log_every must be >= 0'),
    ('train.val_every=-1', 'train.val_every must be >= 0'),
    ('train.action_mse_every=-1', 'train.action_mse_every must be >= 0'),
    ('train.eval_every=-1', 'train.eval_every must be >= 0'),
    ('train.checkpoint_every=-1', 'train.checkpoint_every must be >= 0'),
    ('train.snapshot_every=-1', 'train.snapshot_every must be >= 0'),
    ('data.num_workers=-1', 'data.num_workers must be >= 0'),
    ('eval.n_episodes=-1', 'eval.n_episodes must be >= 0'),
    ('eval.n_video_episodes=-1', 'eval.n_video_episodes must be >= 0'),
    ('optim.lr_warmup_steps=-1', 'optim.lr_warmup_steps must be >= 0'),
    ('data.max_train_episodes=-1', 'data.max_train_episodes must be >= 0'),
    ('data.exclude_episodes=[true]', 'data.exclude_episodes must be a list'),
    ('data.val_ratio=1.0', r'data.val_ratio must be in \[0, 1\)'),
    ('data.val_ratio=-0.1', r'data.val_ratio must be in \[0, 1\)'),
    ('optim.betas=[0.9]', 'optim.betas must be two numbers'),
    ('optim.betas=[0.9,0.99,0.1]', 'optim.betas must be two numbers'),
    ('optim.betas=[a,b]', 'optim.betas must be two numbers'),
    ('optim.betas=3', 'optim.betas must be two numbers'),
    ('eval.batch_size=0', 'eval.batch_size must be >= 1 or null'),
    ('eval.num_inference_steps=true', 'eval.num_inference_steps must be an integer >= 1'),
    ('eval.robot=humanoid', "eval.robot 'humanoid' is not one of"),
    ('eval.video_format=avi', "eval.video_format 'avi' is not one of"),
    ('ema.max_value=1.5', r'ema.max_value must be in \[0, 1\]'),
    ('ema.max_value=-0.5', r'ema.max_value must be in \[0, 1\]'),
    ('ema.min_value=-0.1', r'ema.min_value must be in \[0, ema.max_value'),
    ('ema.inv_gamma=0', 'ema.inv_gamma must be > 0'),
    ('ema.power=-1', 'ema.power must be > 0'),
    ('ema.update_after_step=-1', 'ema.update_after_step must be an integer >= 0'),
    ('ema.update_after_step=true', 'ema.update_after_step must be an integer >= 0'),
    ('ema.power=high', 'ema.power must be a number'),
    ('train.mixed_precision=null', 'train.mixed_precision None is not one of'),
    # a whole section: every other key of it would be back to its default, without a word
    ('train=', "override 'train=' would replace the whole train section: give train.KEY"),
    ('eval={n_episodes: 0}', 'would replace the whole eval section'),
])
def test_each_bound_is_checked(override, message):
    with pytest.raises(TrainConfigError, match=message):
        load_config(None, [override])


@pytest.mark.parametrize('override', [
    'data.val_ratio=0', 'data.val_ratio=0.99', 'data.max_train_episodes=0',
    'data.max_train_episodes=null', 'data.exclude_episodes=[0, 3]', 'eval.batch_size=1',
    'eval.batch_size=null', 'ema.max_value=1', 'ema.max_value=0', 'ema.min_value=0.9999',
    'train.log_every=0', 'train.eval_every=0', 'train.checkpoint_every=0',
    'eval.n_episodes=0', 'optim.lr_warmup_steps=0', 'ema.update_after_step=0',
    'eval.num_inference_steps=1', 'train.mixed_precision=fp16', 'data.format=lerobot',
])
def test_the_edge_values_themselves_are_accepted(override):
    load_config(None, [override])


def test_the_documented_defaults():
    """The values the dataclasses' docstrings name (the paper's where it says so)."""
    d, o, m, t, e = DataConfig(), OptimConfig(), EmaConfig(), LoopConfig(), EvalConfig()
    assert (d.format, d.val_ratio, d.split_seed, d.max_train_episodes) == ('auto', 0.02, 42,
                                                                            None)
    assert (d.exclude_episodes, d.rgb_keys, d.low_dim_keys) == (None, None, None)
    assert (d.pin_memory, d.persistent_workers, d.drop_last, d.device_batches) == (
        False, False, False, False)
    assert (o.max_grad_norm, o.fused) == (None, True)
    assert (m.enabled, m.foreach) == (True, True)
    assert (t.seed, t.max_steps, t.mixed_precision, t.cpu, t.channels_last) == (
        42, 100_000, 'no', False, True)
    assert (t.log_every, t.val_every, t.action_mse_every, t.eval_every) == (10, 1000, 1000,
                                                                             5000)
    assert (t.checkpoint_every, t.snapshot_every, t.final_eval, t.progress) == (1000, 0, True,
                                                                                True)
    assert (t.num_threads, t.val_max_batches, t.control_period_s, t.init_from) == (
        None, None, None, None)
    assert (e.robot, e.sampler, e.num_inference_steps, e.sample_seed, e.batch_size) == (
        'point', None, None, 0, None)
    assert (e.n_video_episodes, e.video_format) == (1, 'mp4')


@pytest.mark.parametrize('n_episodes, eval_every, final_eval, evaluates', [
    (50, 5000, True, True), (50, 0, True, True), (50, 5000, False, True),
    (50, 0, False, False), (0, 5000, True, False), (0, 0, False, False),
])
def test_evaluates_needs_episodes_and_a_step_or_the_end(n_episodes, eval_every, final_eval,
                                                        evaluates):
    cfg = load_config(None, [f'eval.n_episodes={n_episodes}', f'train.eval_every={eval_every}',
                             f'train.final_eval={str(final_eval).lower()}'])
    assert cfg.evaluates is evaluates


@pytest.mark.parametrize('text, message', [
    ('- 1\n- 2\n', 'top level must be a mapping, got list'),
    ('just a string\n', 'top level must be a mapping, got str'),
    ('train: {max_steps: [1\n', 'is not valid YAML'),
    ('policy: [1, 2]\n', 'policy: expected a mapping of PolicyConfig fields'),
    ('train: 5\n', 'train.: expected a mapping'),
])
def test_malformed_yaml_files_are_config_errors(tmp_path, text, message):
    path = tmp_path / 'c.yaml'
    path.write_text(text)
    with pytest.raises(TrainConfigError, match=message):
        load_config(path)


def test_an_empty_file_and_empty_sections_are_the_defaults(tmp_path):
    path = tmp_path / 'c.yaml'
    path.write_text('')
    assert load_config(path) == TrainConfig()
    path.write_text('data:\noptim:\npolicy:\ntrain: {max_steps: 5}\n')
    cfg = load_config(path)
    assert cfg.data == DataConfig() and cfg.policy == {} and cfg.train.max_steps == 5


@pytest.mark.parametrize('item, message', [
    ('=5', 'has an empty key'),
    ('.=5', 'has an empty key'),
    ('data.batch_size.x=1', "'batch_size' is not a section"),
    ('train.max_steps=[1', 'the value is not valid YAML'),
])
def test_malformed_overrides_are_config_errors(item, message):
    with pytest.raises(TrainConfigError, match=message):
        apply_override({'data': {'batch_size': 8}}, item)


def test_an_override_without_a_value_is_null():
    data: dict = {}
    apply_override(data, 'data.max_train_episodes=')
    assert data == {'data': {'max_train_episodes': None}}


def test_a_relative_dataset_path_is_taken_from_the_working_directory_first(tmp_path,
                                                                           monkeypatch):
    (tmp_path / 'mine.zarr').mkdir()
    monkeypatch.chdir(tmp_path)
    assert DataConfig(zarr_path='mine.zarr').resolved_zarr_path() == tmp_path / 'mine.zarr'
    from training.config import REPO_ROOT
    assert DataConfig(zarr_path='nowhere.zarr').resolved_zarr_path() == (
        REPO_ROOT / 'nowhere.zarr').resolve()


def test_save_writes_the_file_and_no_temporary(tmp_path):
    cfg = load_config(None, ['train.max_steps=7'])
    path = cfg.save(tmp_path / 'a' / 'b' / 'config.yaml')
    assert load_config(path) == cfg
    assert [p.name for p in path.parent.iterdir()] == ['config.yaml']


@pytest.mark.parametrize('capability', ['NO AVX', 'DEFAULT', 'AVX2'])
def test_every_cpu_below_avx512_trains_bf16_in_fp32(capability):
    precision, warning = effective_mixed_precision('bf16', True, capability)
    assert precision == 'no' and capability in warning


def test_a_cpu_precision_without_a_given_capability_is_this_cpus():
    from training.cpu_precision import EMULATED_BF16, cpu_capability

    precision, warning = effective_mixed_precision('bf16', True)
    emulated = cpu_capability() in EMULATED_BF16
    assert precision == ('no' if emulated else 'bf16') and (warning is not None) == emulated


def test_rename_deprecated_moves_the_value_names_the_file_and_refuses_both():
    with pytest.warns(DeprecatedKeyWarning, match=r"^c\.yaml: 'train\.old' is the old name of "
                                                  r"'train\.new'"):
        out = rename_deprecated({'old': 1, 'x': 2}, {'old': 'new'}, 'train.', origin='c.yaml')
    assert out == {'new': 1, 'x': 2}
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert rename_deprecated({'old': 1}, {'old': 'new'}, warn=False) == {'new': 1}
        assert rename_deprecated({'new': 1}, {'old': 'new'}) == {'new': 1}
    with pytest.raises(KeyError, match='old and new both given'):
        rename_deprecated({'old': 1, 'new': 2}, {'old': 'new'}, error=KeyError)


def test_deprecated_keys_shown_shows_each_warning_even_where_filters_ignore_them():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('ignore')
        with deprecated_keys_shown():
            for _ in range(2):
                rename_deprecated({'old': 1}, {'old': 'new'})
        rename_deprecated({'old': 1}, {'old': 'new'})  # outside: ignored again
    assert [w.category for w in caught] == [DeprecatedKeyWarning] * 2


def test_a_save_cut_short_leaves_the_previous_config_whole(tmp_path, monkeypatch):
    """config.yaml is written beside and swapped in: a write that dies halfway (made an
    OSError here) leaves the file as it was."""
    from pathlib import Path

    path = load_config(None, ['train.max_steps=7']).save(tmp_path / 'config.yaml')

    def half_then_killed(self, text, *args, **kwargs):
        with open(self, 'w') as f:
            f.write(text[:len(text) // 2])
        raise OSError('killed while writing')

    monkeypatch.setattr(Path, 'write_text', half_then_killed)
    with pytest.raises(OSError, match='killed while writing'):
        load_config(None, ['train.max_steps=9']).save(path)
    monkeypatch.undo()
    assert load_config(path).train.max_steps == 7


# a child process (RLIMIT_FSIZE is per process): Python ignores SIGXFSZ, so the write past the
# cap fails with EFBIG, as one onto a full disk fails with ENOSPC
_SAVE_PAST_FILE_CAP = """
import errno, resource, sys
sys.path[:0] = [{repo!r}]
from training.config import TrainConfig
resource.setrlimit(resource.RLIMIT_FSIZE, (100, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    TrainConfig().save(sys.argv[1])
except OSError as exc:
    print(errno.errorcode[exc.errno], exc.filename)
"""


def test_a_save_past_the_file_size_cap_names_the_config_and_leaves_no_temp_file(tmp_path):
    """A refused write (a full disk) names config.yaml, not the temporary file it was
    written into, and removes that file (dp_ros.atomic_dir.write_text)."""
    import subprocess
    import sys

    from support import REPO_ROOT

    run = tmp_path / 'run'
    run.mkdir()
    path = run / 'config.yaml'
    proc = subprocess.run([sys.executable, '-c', _SAVE_PAST_FILE_CAP.format(repo=str(REPO_ROOT)),
                           str(path)], text=True, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-1000:]
    assert proc.stdout.split() == ['EFBIG', str(path)], proc.stdout
    assert sorted(p.name for p in run.iterdir()) == []


@pytest.mark.parametrize('override, value', [('optim.lr=3e-4', 3e-4), ('optim.eps=1e-8', 1e-8),
                                             ('optim.lr=-2E-3', None)])
def test_a_number_in_e_notation_without_a_dot_is_a_number(override, value):
    """PyYAML's YAML 1.1 reads 3e-4 as a string: `optim.lr=3e-4` was refused as not a
    number and `eps: 1e-8` reached AdamW as a string."""
    if value is None:
        with pytest.raises(TrainConfigError, match='optim.lr must be > 0, got -0.002'):
            load_config(None, [override])
        return
    cfg = load_config(None, [override])
    got = getattr(cfg.optim, override.split('.')[1].split('=')[0])
    assert type(got) is float and got == value


def test_a_number_in_e_notation_in_a_config_file_is_a_number(tmp_path):
    path = tmp_path / 'train.yaml'
    path.write_text('optim:\n  lr: 3e-4\n  weight_decay: 1e-6\n')
    cfg = load_config(path)
    assert (cfg.optim.lr, cfg.optim.weight_decay) == (3e-4, 1e-6)


@pytest.mark.parametrize('override, words', [
    ('optim.weight_decay=-1', 'optim.weight_decay must be >= 0'),
    ('optim.eps=0', 'optim.eps must be > 0'),
    ('optim.max_grad_norm=abc', 'optim.max_grad_norm must be a number'),
    ('optim.max_grad_norm=0', 'optim.max_grad_norm must be > 0 or null'),
    ('train.val_max_batches=-2', 'train.val_max_batches must be an integer >= 1 or null'),
    ('train.val_max_batches=1.5', 'train.val_max_batches must be an integer >= 1 or null')])
def test_the_optimizer_numbers_and_val_max_batches_are_checked(override, words):
    """Accepted before: a negative weight decay or eps, a max_grad_norm of 'abc', and
    val_max_batches -2, which measured no validation loss at all."""
    with pytest.raises(TrainConfigError, match=words):
        load_config(None, [override])
