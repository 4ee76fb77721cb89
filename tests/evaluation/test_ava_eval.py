"""MMAction2's frame-mAP works on this stack and reproduces its known value."""
import pytest
from helpers import shared


def test_ava_eval_reproduces_mmaction2_value():
    from mmaction.evaluation.functional import ava_eval
    d = shared('eval_detection')
    res = ava_eval(f'{d}/pred.csv', 'mAP', f'{d}/action_list.txt', f'{d}/gt.csv',
                   None)
    assert res['overall'] == pytest.approx(0.09385522, abs=1e-7)
