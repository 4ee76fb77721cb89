"""AVA file readers: malformed input is an error naming the file and line."""
import pytest

from stadl_plugins.datasets.ava_io import (
    AVAFormatError,
    AVARow,
    read_ava_csv,
    read_label_map,
    write_annotation_csv,
    write_label_map,
)


def test_round_trip(tmp_path):
    rows = [AVARow('vid_a', 902, (0.1, 0.2, 0.3, 0.4), 12, 3)]
    p = tmp_path / 'a.csv'
    write_annotation_csv(str(p), rows)
    assert p.read_text().strip() == 'vid_a,0902,0.100,0.200,0.300,0.400,12,3'
    back = read_ava_csv(str(p))
    assert back[0].video_id == 'vid_a' and back[0].timestamp == 902
    assert back[0].action_id == 12 and back[0].last == 3


@pytest.mark.parametrize('line,msg', [
    ('v,0902,0.1,0.2,0.3,0.4', 'expected 7 or 8 columns'),
    ('v,09x2,0.1,0.2,0.3,0.4,12,1', 'non-numeric'),
    ('v,0902,0.1,0.2,1.3,0.4,12,1', 'not normalised'),
    ('v,0902,0.5,0.2,0.3,0.4,12,1', 'x1 >= x2'),
])
def test_malformed_rows(tmp_path, line, msg):
    p = tmp_path / 'bad.csv'
    p.write_text('v,0902,0.1,0.2,0.3,0.4,12,1\n' + line + '\n')
    with pytest.raises(AVAFormatError, match=msg) as e:
        read_ava_csv(str(p))
    assert f'{p}:2:' in str(e.value)


def test_label_map(tmp_path):
    p = tmp_path / 'l.pbtxt'
    write_label_map(str(p), [(12, 'stand'), (14, 'walk')])
    assert read_label_map(str(p)) == {12: 'stand', 14: 'walk'}
    p.write_text('item {\n  name: "x"\n}\n')
    with pytest.raises(AVAFormatError, match=r'l.pbtxt:1'):
        read_label_map(str(p))
