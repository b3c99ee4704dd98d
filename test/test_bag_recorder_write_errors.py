"""BagRecorder when the disk refuses a write (full, over the size limit): the error names the
bag. A failed write or flush has no filename (only an open does), so the recorder's one-line
error (record_demo, `dp-ros arm-record`: `cannot write: PATH: ...`) could not say which bag."""
from __future__ import annotations

import errno

import pytest

from dp_ros.bags.recorder import BagRecorder, string_message


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, 'No space left on device')


def test_a_refused_write_and_close_name_the_bag(tmp_path):
    bag = BagRecorder(tmp_path / 'bag')
    bag.write('/a', 'std_msgs/msg/String', 1, string_message(bag.typestore, 'x'))
    bag._writer.write = no_space
    with pytest.raises(OSError) as info:
        bag.write('/a', 'std_msgs/msg/String', 2, string_message(bag.typestore, 'y'))
    assert (info.value.errno, info.value.filename) == (errno.ENOSPC, str(tmp_path / 'bag'))
    assert bag.counts == {'/a': 1}  # the refused message is not counted
    real_close, bag._writer.close = bag._writer.close, no_space
    with pytest.raises(OSError) as info:
        bag.close()
    assert (info.value.errno, info.value.filename) == (errno.ENOSPC, str(tmp_path / 'bag'))
    bag.close()  # tried once: a second close does nothing
    real_close()


def test_an_error_that_names_its_file_is_left_as_it_is(tmp_path):
    """metadata.yaml's open, say: its own path is the better name."""
    bag = BagRecorder(tmp_path / 'bag')
    named = OSError(errno.EACCES, 'Permission denied', str(tmp_path / 'bag' / 'metadata.yaml'))

    def refuse() -> None:
        raise named

    real_close, bag._writer.close = bag._writer.close, refuse
    with pytest.raises(OSError) as info:
        bag.close()
    assert info.value is named
    real_close()
