"""`dp-ros inspect --video`: the video plays at the rate the data records, and a suffix it
cannot write is refused before the dataset is read."""
from __future__ import annotations

import av
import imageio.v3 as iio
import numpy as np

from dp_ros import cli
from training.inspect_dataset import main
from training.replay_buffer import ReplayBuffer


def write_store(path, steps: int, period: float | None = None) -> None:
    buffer = ReplayBuffer.create(path)
    rng = np.random.default_rng(0)
    action = np.cumsum(rng.normal(0, 1, (steps, 2)), axis=0).astype(np.float32)
    buffer.add_episode({'action': action,
                        'img': rng.integers(0, 256, (steps, 48, 48, 3)).astype(np.uint8)})
    if period is not None:
        buffer.set_root_attrs(control_period_s=period)


def video_rate(path) -> tuple[int, float]:
    with av.open(str(path)) as container:
        rate = float(container.streams.video[0].average_rate)
        return sum(1 for _ in container.decode(video=0)), rate


def test_video_of_a_20hz_store_plays_at_20_fps(tmp_path, capsys):
    """A store recorded at 0.05 s a step (bag2zarr's control_period_s): the episode's video
    lasts steps * period (2 s for 40 steps), not 4 s at a fixed 10 fps; the rate is printed."""
    path = tmp_path / 'rate20.zarr'
    write_store(path, 40, period=0.05)
    video = tmp_path / 'rate20.mp4'
    assert main([str(path), '--no-progress', '--episodes', '0', '--video', str(video)]) == 0
    assert video_rate(video) == (40, 20.0)
    assert '20 fps, the recorded control_period_s 0.05' in capsys.readouterr().out


def test_fps_overrides_the_recorded_rate_and_no_rate_means_10(tmp_path, capsys):
    recorded = tmp_path / 'rate20.zarr'
    write_store(recorded, 20, period=0.05)
    video = tmp_path / 'a.mp4'
    assert main([str(recorded), '--no-progress', '--video', str(video), '--fps', '5']) == 0
    assert video_rate(video) == (20, 5.0)
    unrecorded = tmp_path / 'norate.zarr'
    write_store(unrecorded, 20)
    assert main([str(unrecorded), '--no-progress', '--video', str(video)]) == 0
    assert video_rate(video) == (20, 10.0)
    assert 'no rate recorded' in capsys.readouterr().out


def test_inspect_video_with_another_suffix_is_one_line_before_the_summary(tmp_path, capsys):
    """`--video clip.avi`: exit 2 and one line naming --video and the formats, before the
    dataset is read; it printed the whole summary, then a ValueError traceback, exit 1
    (inspect's 'a check failed')."""
    path = tmp_path / 'data.zarr'
    write_store(path, 20)
    code = cli.main(['inspect', str(path), '--no-progress', '--video', str(tmp_path / 'c.avi')])
    captured = capsys.readouterr()
    assert code == 2, captured.err[-400:]
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and '--video' in lines[0] and '.mp4' in lines[0], lines
    assert 'episodes' not in captured.out  # refused before the summary


def test_inspect_plot_with_another_suffix_is_one_line_before_the_summary(tmp_path, capsys):
    path = tmp_path / 'data.zarr'
    write_store(path, 20)
    code = cli.main(['inspect', str(path), '--no-progress', '--plot', str(tmp_path / 'p.bmp')])
    captured = capsys.readouterr()
    assert code == 2 and '--plot' in captured.err and 'episodes' not in captured.out


def test_a_gif_of_one_step_episodes_is_their_one_frame(tmp_path, capsys):
    """A 1-step dataset and two 1-step episodes tiled: `--video x.gif` writes one frame (a
    one-frame GIF was a TypeError traceback; .mp4 worked)."""
    one = tmp_path / 'one.zarr'
    write_store(one, 1)
    two = tmp_path / 'two.zarr'
    write_store(two, 1)
    buffer = ReplayBuffer.open(two, mode='r+')
    buffer.add_episode({'action': np.zeros((1, 2), np.float32),
                        'img': np.zeros((1, 48, 48, 3), np.uint8)})
    for path, episodes in ((one, '0'), (two, '0,1')):
        video = tmp_path / f'{path.stem}.gif'
        main([str(path), '--no-progress', '--episodes', episodes, '--video', str(video)])
        assert iio.improps(video, index=None).shape[0] == 1
        assert f'video: {video}' in capsys.readouterr().out
