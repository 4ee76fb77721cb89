# SlowOnly-R50 + ATR on AVA v2.2: the v2.1 recipe with the v2.2 annotation files
# (MMAction2 ships no SlowOnly v2.2 config).
_base_ = ['./slowonly-atr_kinetics400-pretrained-r50_8xb16-4x16x1-20e_ava21-rgb.py']

anno_root = 'data/ava/annotations'
ann_file_train = f'{anno_root}/ava_train_v2.2.csv'
ann_file_val = f'{anno_root}/ava_val_v2.2.csv'
exclude_file_train = f'{anno_root}/ava_train_excluded_timestamps_v2.2.csv'
exclude_file_val = f'{anno_root}/ava_val_excluded_timestamps_v2.2.csv'
label_file = f'{anno_root}/ava_action_list_v2.2_for_activitynet_2019.pbtxt'

train_dataloader = dict(dataset=dict(type='CheckedAVADataset', ann_file=ann_file_train,
                                     exclude_file=exclude_file_train,
                                     label_file=label_file))
val_dataloader = dict(dataset=dict(type='CheckedAVADataset', ann_file=ann_file_val, exclude_file=exclude_file_val,
                                   label_file=label_file))
test_dataloader = val_dataloader
val_evaluator = dict(type='AVAFrameAPMetric', ann_file=ann_file_val, exclude_file=exclude_file_val,
                     label_file=label_file)
test_evaluator = val_evaluator
