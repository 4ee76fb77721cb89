"""``--show-dir`` for spatio-temporal detection: keyframes with boxes and labels.

MMAction2's ``VisualizationHook`` is written for recognition (it calls
``ActionVisualizer.add_datasample`` with a label, and crashes on detection
samples), and ``tools/test.py --show-dir`` needs a hook in ``default_hooks``.
:class:`STADVisualizationHook` draws, for every ``interval``-th test/val sample,
the clip's keyframe (centre frame of the input clip) with

* the predicted boxes whose best class score is at least ``score_thr``, each with
  its ``max_labels`` top ``label score`` lines (names from ``label_file`` when
  given or found in the config), in a colour per box, and
* the ground-truth boxes (when the sample has them) in white,

and writes ``<out_dir>/<video>_<timestamp>.png`` (``out_dir`` relative to the
run's log dir unless absolute, as MMAction2's hook does).
"""
from __future__ import annotations

import os
import os.path as osp

import numpy as np
from mmengine.hooks import Hook

from ..registry import HOOKS


def keyframe_rgb(clip) -> np.ndarray:
    """The centre frame ``(H, W, 3)`` uint8 of a ``(C, T, H, W)`` or ``(N, C, T, H,
    W)`` clip tensor (first clip)."""
    x = clip.detach().cpu()
    while x.dim() > 4:
        x = x[0]
    if x.dim() == 4:                                  # C, T, H, W
        x = x[:, x.shape[1] // 2]
    img = x.permute(1, 2, 0).float().numpy()
    if img.max() <= 1.0 + 1e-6 and img.min() < 0:     # normalised input: rescale
        img = (img - img.min()) / max(1e-6, img.max() - img.min()) * 255
    return np.clip(img, 0, 255).astype(np.uint8)


@HOOKS.register_module()
class STADVisualizationHook(Hook):
    """Draw detection predictions on keyframes (see the module docstring).

    Args:
        enable: draw at all (``tools/test.py --show-dir`` turns it on).
        out_dir: folder for the PNGs.
        interval: every ``interval``-th batch.
        score_thr: minimum best-class score for a predicted box.
        max_labels: label lines per box.
        label_file: AVA ``.pbtxt`` label map for class names (default: the
            config's ``label_file`` if any, else class ids).
        show: also display with OpenCV (``wait_time`` seconds).
    """

    priority = 'NORMAL'

    def __init__(self, enable: bool = False, out_dir: str | None = None, interval: int = 1,
                 score_thr: float = 0.3, max_labels: int = 3,
                 label_file: str | None = None, show: bool = False,
                 wait_time: float = 0.0):
        self.enable, self.out_dir, self.interval = enable, out_dir, max(1, int(interval))
        self.score_thr, self.max_labels = score_thr, max_labels
        self.label_file, self.show, self.wait_time = label_file, show, wait_time
        self._names: dict[int, str] | None = None
        self.written: list[str] = []

    def _class_names(self, runner) -> dict[int, str]:
        if self._names is None:
            path = self.label_file or runner.cfg.get('label_file')
            self._names = {}
            if path and osp.exists(path):
                from ..datasets.ava_io import read_label_map
                self._names = read_label_map(path)
        return self._names

    def _folder(self, runner) -> str:
        out = self.out_dir or 'vis'
        if not osp.isabs(out):
            out = osp.join(runner.log_dir, out)
        os.makedirs(out, exist_ok=True)
        return out

    def draw(self, runner, clip, sample) -> np.ndarray:
        import cv2

        from .boxes import draw_person_boxes
        frame = cv2.cvtColor(keyframe_rgb(clip), cv2.COLOR_RGB2BGR)
        h, w = frame.shape[:2]
        names = self._class_names(runner)
        if 'gt_instances' in sample and len(sample.gt_instances) > 0:
            meta_h, meta_w = sample.metainfo.get('img_shape', (h, w))
            for box in sample.gt_instances.bboxes.detach().cpu().numpy().reshape(-1, 4):
                x1, y1, x2, y2 = box * np.array([w / meta_w, h / meta_h] * 2)
                cv2.rectangle(frame, (int(x1), int(y1)), (int(x2), int(y2)),
                              (255, 255, 255), 1)
        pred = sample.get('pred_instances')
        if pred is None or len(pred) == 0:
            return frame
        boxes = pred.bboxes.detach().cpu().numpy().reshape(-1, 4).copy()
        scores = pred.scores.detach().cpu().numpy().reshape(len(boxes), -1)
        if boxes.size and boxes.max() <= 1.5:           # normalised (AVA heads)
            boxes *= np.array([w, h, w, h], np.float32)
        cls = scores[:, 1:] if scores.shape[1] > 1 else scores   # 0 = background
        keep = np.where(cls.max(1) >= self.score_thr)[0] if len(cls) else []
        labels = {}
        for i in keep:
            top = np.argsort(-cls[i])[:self.max_labels]
            labels[int(i)] = [(names.get(int(c) + 1, str(int(c) + 1)), float(cls[i, c]))
                              for c in top if cls[i, c] >= self.score_thr]
        return draw_person_boxes(frame, np.asarray(keep, int), boxes[keep], labels)

    def _after_iter(self, runner, batch_idx, data_batch, outputs):
        if not self.enable or batch_idx % self.interval or not outputs:
            return
        import cv2
        folder = self._folder(runner)
        inputs = data_batch['inputs']
        for clip, sample in zip(inputs, outputs):
            img = self.draw(runner, clip, sample)
            meta = sample.metainfo
            key = meta.get('img_key') or (f"{meta.get('video_id', 'sample')},"
                                          f"{meta.get('timestamp', batch_idx)}")
            name = str(key).replace(',', '_').replace(os.sep, '_') + '.png'
            path = osp.join(folder, name)
            cv2.imwrite(path, img)
            self.written.append(path)
            if self.show:
                cv2.imshow('stad', img)
                cv2.waitKey(int(self.wait_time * 1000))

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self._after_iter(runner, batch_idx, data_batch, outputs)

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self._after_iter(runner, batch_idx, data_batch, outputs)


__all__ = ['STADVisualizationHook', 'keyframe_rgb']
