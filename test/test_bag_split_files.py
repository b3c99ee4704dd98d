"""`ros2 bag record --max-bag-size` splits one recording into demo_0.mcap, demo_1.mcap, ... in
the bag directory demo/; a Humble recorder killed (or a copy that lost metadata.yaml) leaves
the files without it. README: "bare .mcap/.db3 files in a folder convert like bag
directories". Pinned: such files are one bag, demo/, read in index order (one episode, not
one per file cut at the file ends), said in a note; other bare files stay bags of their own.
"""
from __future__ import annotations

import shutil

from bag_support import CAMERA_JOINTS_CONFIG as CONFIG
from bag_support import write_camera_joints

from dp_ros.bags.reader import find_bags
from dp_ros.bags.recorder import BagRecorder
from training import bag2zarr
from training.bag2zarr_config import config_from_dict
from training.inspect_bags import summarize_bag


def _write_part(path, frames):
    with BagRecorder(path) as rec:
        write_camera_joints(rec, frames)


def _split_recording(tmp_path, parts=range(3)):
    """demo/demo_<n>.mcap, frames 10 n .. 10 n + 9 each, no metadata.yaml."""
    demo = tmp_path / 'bags' / 'demo'
    demo.mkdir(parents=True)
    for part in parts:
        _write_part(tmp_path / f'part{part}', range(10 * part, 10 * part + 10))
        (mcap,) = (tmp_path / f'part{part}').glob('*.mcap')
        shutil.move(mcap, demo / f'demo_{part}.mcap')
    return demo


def test_the_files_of_one_split_recording_without_metadata_are_one_episode(tmp_path):
    """30 frames recorded as one demonstration, split into three files of 10 frames in
    demo/ (demo_0.mcap .. demo_2.mcap, metadata.yaml lost): one episode of 30 steps, not
    three cut at the file ends (and a step lost at each)."""
    _split_recording(tmp_path)
    summary = bag2zarr.convert([tmp_path / 'bags'], config_from_dict(CONFIG),
                               tmp_path / 'out.zarr', progress=False)
    assert [r.episode_lengths for r in summary.bags if r.episode_lengths] == [[30]], (
        [(r.path, r.episode_lengths) for r in summary.bags])


def test_a_split_recording_is_one_bag_found_inspected_and_noted(tmp_path):
    """find_bags gives demo/ (beside a bare file of its own); inspect counts every file's
    messages; the note says the files were read as one."""
    demo = _split_recording(tmp_path)
    _write_part(tmp_path / 'other', range(5))
    (other,) = (tmp_path / 'other').glob('*.mcap')
    shutil.move(other, tmp_path / 'bags' / 'other.mcap')
    assert find_bags([tmp_path / 'bags']) == [demo.resolve(),
                                              (tmp_path / 'bags' / 'other.mcap').resolve()]
    assert find_bags([demo]) == [demo.resolve()]
    summary = summarize_bag(demo)
    assert {t.topic: t.count for t in summary.topics} == {'/cam/image_raw': 30,
                                                          '/joint_states': 300}
    assert summary.notes == ['3 files demo_0.mcap .. demo_2.mcap without metadata.yaml (a '
                             'split recording whose recorder was stopped before writing it): '
                             'read as one bag, in index order']


def test_a_missing_file_of_a_split_recording_is_a_gap_said_in_the_note(tmp_path):
    """demo_1.mcap lost: demo_0 and demo_2 are still one recording, with a gap between."""
    _split_recording(tmp_path, parts=(0, 2))
    summary = bag2zarr.convert([tmp_path / 'bags'], config_from_dict(CONFIG),
                               tmp_path / 'out.zarr', progress=False)
    (report,) = summary.bags
    assert report.episode_lengths == [10, 10]
    assert report.gaps and 'demo_1.mcap missing: its time is a gap' in report.notes[0]
