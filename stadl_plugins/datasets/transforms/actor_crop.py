"""Actor-centred crop for pretraining on synthetic benchmark v2 (issue 19)."""
from __future__ import annotations

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from ...registry import TRANSFORMS


@TRANSFORMS.register_module()
class ActorCentredCrop(BaseTransform):
    """Crop a fixed ``size`` x ``size`` window centred on ``results['actor_box']``.

    The box is ``[x1, y1, x2, y2]`` normalised to the frame (AVA convention). The
    crop keeps the pixel scale (no resize), so a backbone pretrained on it sees
    actors at the size the detector sees them; the part outside the frame is
    mirrored (``BORDER_REFLECT_101``). ``jitter`` moves the centre by up to that
    fraction of ``size`` (training augmentation; needs ``results['crop_seed']``
    or uses NumPy's global generator).
    """

    def __init__(self, size: int = 64, jitter: float = 0.0):
        self.size = int(size)
        self.jitter = float(jitter)

    def transform(self, results: dict) -> dict:
        imgs = results['imgs']
        h, w = imgs[0].shape[:2]
        x1, y1, x2, y2 = np.asarray(results['actor_box'], np.float64) * [w, h, w, h]
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        if self.jitter:
            rng = np.random.default_rng(results.get('crop_seed'))
            cx, cy = np.array([cx, cy]) + rng.uniform(-1, 1, 2) * self.jitter * self.size
        s = self.size
        left, top = int(round(cx - s / 2)), int(round(cy - s / 2))
        pad = s
        out = []
        for img in imgs:
            big = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
            out.append(np.ascontiguousarray(
                big[top + pad:top + pad + s, left + pad:left + pad + s]))
        results['imgs'] = out
        results['img_shape'] = (s, s)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(size={self.size}, jitter={self.jitter})'
