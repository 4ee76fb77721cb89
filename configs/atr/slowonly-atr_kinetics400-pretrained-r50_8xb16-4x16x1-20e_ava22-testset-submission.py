# AVA v2.2 TEST set (no GT): keyframes come from the proposal file, the metric only
# writes and validates the leaderboard CSV (top-50 rows per keyframe, 60-class
# label map). Usage:
#   python tools/test.py THIS_CONFIG CKPT --work-dir work_dirs/ava_test
# -> work_dirs/ava_test/ava_v2.2_test_detections.csv
_base_ = ['./slowonly-atr_kinetics400-pretrained-r50_8xb16-4x16x1-20e_ava22-rgb.py']

anno_root = 'data/ava/annotations'
test_dataloader = dict(
    dataset=dict(
        type='AVATestDataset',
        ann_file=None,
        exclude_file=None,
        proposal_file=f'{anno_root}/ava_dense_proposals_test.FAIR.recall_93.9.pkl',
        timestamp_min=902,
        timestamp_max=1798))
test_evaluator = dict(
    _delete_=True,
    type='AVAFrameAPMetric',
    ann_file=None,
    exclude_file=None,
    label_file=f'{anno_root}/ava_action_list_v2.2_for_activitynet_2019.pbtxt',
    outfile='work_dirs/ava_test/ava_v2.2_test_detections.csv',
    format_only=True)
