"""Training configs: the paper's defaults, YAML files, dotted overrides, the shipped configs."""
from __future__ import annotations

import warnings

import pytest
from support import CONFIG_DIR, PAPER_TEST_SEEDS, PUSHT_DATASET

from training.config import (
    TrainConfig,
    apply_override,
    load_config,
    migrate_deprecated_keys,
)
from training.errors import TrainConfigError


def test_defaults_are_the_papers_optimisation_settings():
    cfg = TrainConfig()
    o, e = cfg.optim, cfg.ema
    assert (o.lr, o.betas, o.eps, o.weight_decay) == (1e-4, (0.95, 0.999), 1e-8, 1e-6)
    assert (o.lr_scheduler, o.lr_warmup_steps, o.grad_accum_steps) == ('cosine', 500, 1)
    assert (e.power, e.max_value, e.min_value, e.inv_gamma, e.update_after_step) == (
        0.75, 0.9999, 0.0, 1.0, 0)
    assert cfg.eval.seeds == list(PAPER_TEST_SEEDS) and cfg.eval.max_steps == 300
    assert cfg.data.num_workers == 0 and cfg.data.batch_size == 64
    assert cfg.data.resolved_zarr_path() == PUSHT_DATASET.resolve()


def test_yaml_overrides_and_round_trip(tmp_path):
    path = tmp_path / 'c.yaml'
    path.write_text('policy: {resnet_width: 0.5}\ntrain: {max_steps: 10}\n')
    cfg = load_config(path, ['train.max_steps=20', 'policy.down_dims=[64,128,256]',
                             'optim.betas=[0.9,0.99]', 'eval.sampler=ddim',
                             'data.max_train_episodes=null', 'train.mixed_precision=bf16',
                             'data.rgb_keys.image=img'])
    assert cfg.train.max_steps == 20 and cfg.optim.betas == (0.9, 0.99)
    assert cfg.policy == {'resnet_width': 0.5, 'down_dims': [64, 128, 256]}
    assert cfg.eval.sampler == 'ddim' and cfg.data.rgb_keys == {'image': 'img'}
    pc = cfg.policy_config()
    assert pc.down_dims == (64, 128, 256) and pc.resnet_width == 0.5
    saved = cfg.save(tmp_path / 'run' / 'config.yaml')
    assert load_config(saved) == cfg


@pytest.mark.parametrize('override, message', [
    ('train.max_step=5', "no key 'max_step' in train .*did you mean 'max_steps'"),
    ('trian.seed=1', "no key 'trian' in the top level"),
    ('policy.down_dim=[1]', "no key 'down_dim' in policy"),
    ('train.max_steps', 'not of the form'),
    ('train.mixed_precision=fp8', "mixed_precision 'fp8' is not one of"),
    ('train.max_steps=0', 'train.max_steps must be > 0'),
    ('optim.lr_scheduler=step', "lr_scheduler 'step' is not one of"),
    ('data.exclude_episodes=3', 'data.exclude_episodes must be a list'),
    ('data.exclude_episodes=[1,-2]', 'data.exclude_episodes must be a list'),
    # the evaluation's sampling, used from the first measurement on: checked at the start
    ('eval.sampler=DDIM', r"eval.sampler 'DDIM' is not one of \('ddpm', 'ddim'\)"),
    ('eval.num_inference_steps=0', 'eval.num_inference_steps must be an integer >= 1'),
    ('eval.num_inference_steps=2.5', 'eval.num_inference_steps must be an integer >= 1'),
    ('ema.min_value=0.5', r'ema.min_value must be in \[0, ema.max_value 0.4\]'),
    ('ema.power=0', 'ema.power must be > 0'),
    ('ema.update_after_step=1.5', 'ema.update_after_step must be an integer'),
])
def test_bad_overrides_are_named(override, message):
    with pytest.raises(TrainConfigError, match=message):
        load_config(None, [override, 'ema.max_value=0.4'] if 'min_value' in override
                    else [override])


def test_the_emas_numbers_are_floats_whatever_the_yaml_wrote():
    """diffusers' EMAModel refuses an integer min_decay when a resume loads it."""
    cfg = load_config(None, ['ema.min_value=0', 'ema.max_value=1', 'ema.power=1',
                             'ema.inv_gamma=2'])
    for name in ('min_value', 'max_value', 'power', 'inv_gamma'):
        assert type(getattr(cfg.ema, name)) is float, name
    assert cfg.to_dict()['ema']['min_value'] == 0.0


@pytest.mark.parametrize('warmup, schedule', [(500, 'constant_with_warmup'), (0, 'constant')])
def test_a_constant_schedule_with_warmup_warms_up(warmup, schedule):
    """diffusers' 'constant' ignores num_warmup_steps: it runs as 'constant_with_warmup'."""
    o = load_config(None, ['optim.lr_scheduler=constant',
                           f'optim.lr_warmup_steps={warmup}']).optim
    assert o.schedule == schedule and o.lr_scheduler == 'constant'
    assert load_config(None).optim.schedule == 'cosine'


def test_unknown_yaml_key_is_named(tmp_path):
    path = tmp_path / 'c.yaml'
    path.write_text('optim: {learning_rate: 0.1}\n')
    with pytest.raises(ValueError, match=r"unknown config keys \['optim.learning_rate'\]"):
        load_config(path)
    with pytest.raises(FileNotFoundError, match='not found'):
        load_config(tmp_path / 'missing.yaml')


def test_override_creates_nested_sections():
    data: dict = {}
    apply_override(data, 'data.low_dim_keys.agent_pos=state[:2]')
    assert data == {'data': {'low_dim_keys': {'agent_pos': 'state[:2]'}}}


def test_shipped_configs():
    paper = load_config(CONFIG_DIR / 'train_pusht_image_paper.yaml')
    pc = paper.policy_config()
    assert pc.down_dims == (512, 1024, 2048) and pc.sampler == 'ddpm'
    assert pc.num_inference_steps == 100 and pc.resnet_width == 1.0
    assert paper.data.batch_size == 64 and paper.optim.lr == 1e-4
    assert paper.train.mixed_precision == 'no'
    # 90 training episodes, as the paper's task config: 3050 epochs of 168 steps (10,726
    # windows / 64), evaluation every 50 epochs
    assert paper.data.max_train_episodes == 90
    assert paper.train.max_steps == 3050 * 168 and paper.train.eval_every == 50 * 168
    assert paper.eval.n_episodes == 50

    cpu = load_config(CONFIG_DIR / 'train_pusht_image_cpu.yaml')
    pc = cpu.policy_config()
    assert pc.resnet_width == 0.5 and pc.down_dims == (64, 128, 256)
    assert cpu.train.mixed_precision == 'bf16' and cpu.optim.lr == 3e-4
    assert cpu.eval.sampler == 'ddim' and 10 <= cpu.eval.num_inference_steps <= 16
    assert cpu.data.batch_size == 64 and cpu.data.num_workers == 0
    for path in sorted(CONFIG_DIR.glob('train_*.yaml')):  # the new key, no warning
        with warnings.catch_warnings():
            warnings.simplefilter('error', DeprecationWarning)
            # Push-T's 10 Hz; the real-arm example takes its dataset's (bag2zarr's) period
            want = None if path.name == 'train_example_arm.yaml' else 0.1
            assert load_config(path).train.control_period_s == want, path.name


def test_old_control_period_key_is_read_with_a_deprecation_warning(tmp_path, capsys):
    old = tmp_path / 'old.yaml'
    old.write_text('train: {control_period: 0.05}\n')
    new_name = "'train.control_period' is the old name of 'train.control_period_s'"
    with pytest.warns(DeprecationWarning, match=f'{old}: {new_name}'):
        cfg = load_config(old)
    assert cfg.train.control_period_s == 0.05
    assert 'control_period' not in cfg.to_dict()['train']  # saved under the new name
    with pytest.warns(DeprecationWarning, match=new_name):  # an old override wins too
        assert load_config(old, ['train.control_period=0.2']).train.control_period_s == 0.2
    with pytest.warns(DeprecationWarning, match=new_name):
        assert TrainConfig.from_dict({'train': {'control_period': 0.3}}).train.control_period_s \
            == 0.3
    with pytest.raises(ValueError, match='control_period and train.control_period_s both'):
        TrainConfig.from_dict({'train': {'control_period': 0.3, 'control_period_s': 0.1}})
    with pytest.raises(ValueError, match='train.control_period_s must be > 0'):
        load_config(None, ['train.control_period_s=0'])
    # an old train state's saved config is compared under the new names, silently
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert migrate_deprecated_keys({'train': {'control_period': 0.1}, 'policy': {}}) == {
            'train': {'control_period_s': 0.1}, 'policy': {}}

    # `dp-ros train` reads it (here up to a config error, before any training)
    from training.train import main
    old.write_text('train: {control_period: 0.05, max_steps: 0}\n')
    with pytest.warns(DeprecationWarning, match=new_name):
        assert main(['--config', str(old), '--output', str(tmp_path / 'run')]) == 2
    assert 'train.max_steps must be > 0' in capsys.readouterr().err


def test_a_bare_yaml_no_is_the_precision_no(tmp_path):
    path = tmp_path / 'c.yaml'
    path.write_text('train: {mixed_precision: no}\n')  # YAML 1.1 reads a boolean false
    assert load_config(path).train.mixed_precision == 'no'
    assert load_config(None, ['train.mixed_precision=no']).train.mixed_precision == 'no'


@pytest.mark.parametrize('requested, on_cpu, capability, used, warns', [
    ('bf16', True, 'AVX2', 'no', True),  # emulated: many times slower than fp32
    ('bf16', True, 'DEFAULT', 'no', True),
    ('bf16', True, 'AVX512', 'bf16', False),  # the recipes' CPU, where bf16 was the faster
    ('bf16', False, 'AVX2', 'bf16', False),  # on an accelerator the CPU does not matter
    ('no', True, 'AVX2', 'no', False),
    ('fp16', False, 'AVX2', 'fp16', False),  # on the CPU: test_cpu_precision_fp16.py
])
def test_bf16_on_a_cpu_that_emulates_it_trains_in_fp32_and_says_so(requested, on_cpu,
                                                                   capability, used, warns):
    from training.cpu_precision import effective_mixed_precision

    precision, warning = effective_mixed_precision(requested, on_cpu, capability)
    assert precision == used and (warning is not None) == warns
    assert not warns or capability in warning and 'fp32' in warning
