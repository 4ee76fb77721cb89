"""AVA / ActivityNet submission CSVs: build them from predictions and validate them.

The leaderboard format: no header, one row per (box, action),
``video_id, middle_frame_timestamp, x1, y1, x2, y2, action_id, score`` with integer
timestamps, boxes normalised to [0, 1], ``action_id`` from the challenge label map
(60 classes) and at most 50 rows per keyframe (the official evaluator keeps only 50
per keyframe and silently drops the others, so the validator rejects more).
"""
from __future__ import annotations

import csv
import io
import math
import os
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from ..datasets.ava_io import AVAFormatError, read_label_map


class SubmissionError(ValueError):
    """A submission CSV that the leaderboard would reject or misread."""


@dataclass
class SubmissionReport:
    path: str
    num_rows: int = 0
    num_keyframes: int = 0
    num_videos: int = 0
    actions: Counter = field(default_factory=Counter)
    warnings: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    #: every problem found, by kind (``errors`` holds at most ``max_errors``)
    error_kinds: Counter = field(default_factory=Counter)
    error_lines: set = field(default_factory=set)

    @property
    def num_errors(self) -> int:
        return sum(self.error_kinds.values())

    def error_summary(self) -> str:
        """One line: how many problems of each kind, on how many lines."""
        kinds = ', '.join(f'{k}: {n}' for k, n in self.error_kinds.most_common())
        return (f'{self.path}: {self.num_errors} problem(s) on '
                f'{len(self.error_lines)} line(s) ({kinds})')

    def summary(self) -> str:
        lines = [f'{self.path}: {self.num_rows} rows, {self.num_keyframes} keyframes, '
                 f'{self.num_videos} videos, {len(self.actions)} action ids']
        lines += [f'warning: {w}' for w in self.warnings]
        return '\n'.join(lines)


class _OneLine:
    """Feeds ``csv.reader`` one physical line at a time, so that a record never
    spans lines and ``csv.Error`` leaves the reader usable for the next line."""

    def __init__(self):
        self.line = None

    def __iter__(self):
        return self

    def __next__(self):
        if self.line is None:
            raise StopIteration
        line, self.line = self.line, None
        return line


def iter_csv_lines(path: str):
    """``(lineno, record, problem)`` for every line of a CSV file, never raising on
    bad content: ``problem`` is None or ``(kind, message)`` for a line that is not
    UTF-8 or holds a field longer than the ``csv`` module's limit (then ``record``
    is None). A UTF-8 byte-order mark at the start is removed and reported once as
    ``(0, None, ('bom', message))``."""
    with open(path, 'rb') as f:
        data = f.read()
    if data.startswith(b'\xef\xbb\xbf'):
        data = data[3:]
        yield 0, None, ('bom', 'a UTF-8 byte-order mark (BOM) at the start of the '
                        'file was removed; without that it would be part of the '
                        'first video id')
    text = data.decode('utf-8', errors='surrogateescape')
    limit = csv.field_size_limit()
    feed = _OneLine()
    reader = csv.reader(feed)
    for lineno, line in enumerate(io.StringIO(text, newline=''), start=1):
        try:
            line.encode('utf-8')
        except UnicodeEncodeError as exc:
            bad = line[exc.start].encode('utf-8', errors='surrogateescape')
            yield lineno, None, ('not UTF-8', f'not valid UTF-8 (byte 0x{bad.hex()} '
                                 f'at column {exc.start + 1})')
            continue
        feed.line = line
        try:
            rec = next(reader, [])
        except csv.Error as exc:
            longest = max((len(c) for c in line.split(',')), default=0)
            yield lineno, None, ('field too long', f'a field of about {longest} '
                                 f'characters exceeds the csv field limit ({limit}): '
                                 f'{exc}')
            continue
        yield lineno, rec, None


def read_ava_rows(path: str, with_score: bool | None = None):
    """An AVA CSV (GT or detections) as flat arrays in file order:
    ``(keys, key_of_row, boxes x1y1x2y2, action ids, scores)``.

    Rows are parsed as the official reader parses them (``float``/``int``, key
    ``'%s,%04d' % (video_id, int(timestamp))``); 7 columns give score 1.0, 8 columns
    a score (detections) or a person id (GT, ``with_score=False``: scores all 1.0).
    Boxes are not checked here: each protocol treats invalid boxes its own way.
    Blank lines are skipped; a BOM is removed with a warning.

    Raises:
        AVAFormatError: ``"<path>:<line>: ..."`` for a line that cannot be read.
    """
    fast = _read_ava_rows_fast(path, with_score)
    if fast is not None:
        return fast
    return _read_ava_rows_checked(path, with_score)


def _read_ava_rows_fast(path, with_score):
    """The common case (UTF-8, one column count, every field parses) at C speed;
    None when anything is unusual, so that the line-by-line reader reports it.

    Two tiers: plain decimal fields are parsed on the bytes with numpy
    (:func:`_read_ava_rows_bytes`); anything else the byte parser does not take
    (exponents, spaces, ``+``, more than 15 digits...) goes through one
    ``str.split`` and numpy's string-to-float conversion
    (:func:`_read_ava_rows_split`). Both give what ``float``/``int`` give."""
    with open(path, 'rb') as f:
        data = f.read()
    out = _read_ava_rows_bytes(path, data, with_score)
    if out is None:
        out = _read_ava_rows_split(path, data, with_score)
    return out


_POW10 = 10 ** np.arange(19, dtype=np.int64)
_POW10F = np.array([float(10 ** i) for i in range(23)])  # exact doubles


def _parse_decimal(buf, st, en, integer):
    """Fields ``buf[st[i]:en[i]]`` holding ``-?[0-9]*(\\.[0-9]*)?`` with at least
    one digit (no dot if ``integer``), as int64 or float64; None if any field is
    not of that form or has too many digits to be exact.

    A float field with mantissa ``m`` (all its digits, < 2**53) and ``k`` <= 22
    decimals is ``m / 10**k``: both are exact doubles and IEEE division rounds
    correctly, so the result is the correctly rounded value of the decimal,
    which is what ``float()`` returns. One pass per character position (Horner's
    rule on 1-D arrays), as fields are short.
    """
    n = len(st)
    if not n:
        return np.zeros(0, np.int64 if integer else np.float64)
    ln = en - st
    lmax = int(ln.max())
    if int(ln.min()) < 1 or lmax > 17:
        return None
    fixed = int(ln.min()) == lmax
    top = len(buf) - 1
    m = np.zeros(n, np.int64)
    k = np.zeros(n, np.int64)
    nd = np.zeros(n, np.int64)
    seen = np.zeros(n, bool)
    dot_all = False  # every field has had its dot (at the same position)
    neg = buf[st] == 45
    for j in range(lmax):
        c = buf[st + j] if fixed else buf[np.minimum(st + j, top)]
        d = c - np.uint8(48)  # wraps for bytes below '0'
        isd = d <= 9
        isdot = c == 46
        if fixed and isd.all():  # the common case: a digit in every field
            np.multiply(m, 10, out=m)
            np.add(m, d, out=m)
            nd += 1
            if dot_all:
                k += 1
            elif seen.any():
                k += seen
            continue
        if fixed and isdot.all() and not dot_all and not seen.any():
            seen[:] = True  # the dot at the same place in every field
            dot_all = True
            continue
        if not fixed:
            v = j < ln
            isd &= v
            isdot &= v
        other = ~(isd | isdot)
        if not fixed:
            other &= v
        if j == 0:
            other &= ~neg
        if other.any() or (isdot & seen).any():
            return None
        seen |= isdot
        m = np.where(isd, m * 10 + d, m)
        nd += isd
        k += isd & seen
    if int(nd.min()) < 1 or (integer and seen.any()):
        return None
    if integer:
        return np.where(neg, -m, m)
    if int(nd.max()) > 15 and int(m.max()) >= 2 ** 53:
        return None
    v = m / _POW10F[k]
    return np.where(neg, -v, v)


def _read_ava_rows_bytes(path, data, with_score):
    """:func:`_read_ava_rows_fast` on the bytes: separators found with numpy, numeric
    fields parsed by :func:`_parse_decimal`, keys decoded once per run of equal
    ``video_id,timestamp`` bytes. None where the format is not the plain one."""
    from ..datasets.ava_io import img_key
    bom = data.startswith(b'\xef\xbb\xbf')
    if bom:
        data = data[3:]
    if b'\r' in data:
        data = data.replace(b'\r\n', b'\n')
        if b'\r' in data:
            return None
    data = data.strip(b'\n')
    if not data or b'"' in data or b'\n\n' in data:
        return None
    # separators: the only bytes <= b',' allowed are b',' and b'\n'
    nrow = data.count(b'\n') + 1
    ncol = data.count(b',', 0, data.find(b'\n') % (len(data) + 1)) + 1
    nsep = nrow * ncol - 1
    if ncol not in (7, 8) or data.count(b',') + nrow - 1 != nsep:
        return None
    buf = np.frombuffer(data, np.uint8)
    sep = np.flatnonzero(buf <= 44)
    if len(sep) != nsep or not (buf[sep[ncol - 1::ncol]] == 10).all():
        return None  # other control bytes, spaces, ..., or ragged lines
    ends = np.empty(nsep + 1, np.int64)
    ends[:-1], ends[-1] = sep, len(buf)
    del sep
    ends = ends.reshape(nrow, ncol)

    def field(j):
        st = np.empty(nrow, np.int64)
        if j:
            st[:] = ends[:, j - 1] + 1
        else:
            st[0], st[1:] = 0, ends[:-1, -1] + 1
        return st, ends[:, j]

    s0 = field(0)[0]
    if int((ends[:, 0] - s0).max()) > csv.field_size_limit():
        return None
    boxes = np.empty((nrow, 4))
    for j in range(4):
        col = _parse_decimal(buf, *field(2 + j), False)
        if col is None:
            return None
        boxes[:, j] = col
    labels = _parse_decimal(buf, *field(6), True)
    if labels is None:
        return None
    if ncol == 8 and with_score is not False:
        scores = _parse_decimal(buf, *field(7), False)
        if scores is None:
            return None
    else:
        scores = np.ones(nrow)
    # runs of rows with byte-identical "video_id,timestamp"
    ks, ke = s0, ends[:, 1]
    kl = ke - ks
    same = kl[1:] == kl[:-1]
    top = len(buf) - 1
    for j in range(int(kl.max())):
        same &= (j >= kl[1:]) | (buf[np.minimum(ks[1:] + j, top)] ==
                                 buf[np.minimum(ks[:-1] + j, top)])
    run = np.r_[0, np.flatnonzero(~same) + 1]
    keys, index, run_key = [], {}, []
    try:
        for a, b in zip(ks[run].tolist(), ke[run].tolist()):
            vid, ts = data[a:b].decode('utf-8').split(',')
            k = img_key(vid, int(ts))
            if k not in index:
                index[k] = len(keys)
                keys.append(k)
            run_key.append(index[k])
    except (ValueError, OverflowError):  # UnicodeDecodeError is a ValueError
        return None
    if bom:
        warnings.warn(f'{path}: a UTF-8 byte-order mark (BOM) at the start of the file '
                      'was removed; without that it would be part of the first video id')
    kr = np.repeat(np.asarray(run_key, np.int64), np.diff(np.r_[run, nrow]))
    return keys, kr, boxes, labels, scores


def _read_ava_rows_split(path, data, with_score):
    """The second tier of :func:`_read_ava_rows_fast`: one ``str.split``."""
    from ..datasets.ava_io import img_key
    bom = data.startswith(b'\xef\xbb\xbf')
    try:
        text = data[3 if bom else 0:].decode('utf-8')
    except UnicodeDecodeError:
        return None
    text = text.replace('\r\n', '\n').strip('\n')
    if '"' in text or '\r' in text or '\n\n' in text:
        return None  # quoting, odd line ends, blank lines: the csv-module reader
    if not text:
        return [], np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0, np.int64), \
            np.zeros(0)
    nrow = text.count('\n') + 1
    ncol = text.split('\n', 1)[0].count(',') + 1
    flat = text.replace('\n', ',').split(',')
    if ncol not in (7, 8) or len(flat) != nrow * ncol or \
            max(map(len, flat[0::ncol])) > csv.field_size_limit():
        return None
    try:
        # numpy parses decimal strings with correct rounding, as float() does
        boxes = np.empty((nrow, 4))
        for j in range(4):
            boxes[:, j] = np.array(flat[2 + j::ncol], dtype=np.float64)
        labels = np.array(flat[6::ncol], dtype=np.int64)
        scores = np.array(flat[7::ncol], dtype=np.float64) \
            if ncol == 8 and with_score is not False else np.ones(nrow)
        raw = {}
        raw_of_row = np.fromiter((raw.setdefault(p, len(raw))
                                  for p in zip(flat[0::ncol], flat[1::ncol])),
                                 np.int64, nrow)
        keys, index, raw_key = [], {}, []
        for vid, ts in raw:
            k = img_key(vid, int(ts))
            if k not in index:
                index[k] = len(keys)
                keys.append(k)
            raw_key.append(index[k])
    except (ValueError, OverflowError):
        return None
    if bom:
        warnings.warn(f'{path}: a UTF-8 byte-order mark (BOM) at the start of the file '
                      'was removed; without that it would be part of the first video id')
    return keys, np.asarray(raw_key, np.int64)[raw_of_row], boxes, labels, scores


def _read_ava_rows_checked(path, with_score):
    from ..datasets.ava_io import img_key
    keys, index, kr, br, lr, sr = [], {}, [], [], [], []
    for lineno, rec, problem in iter_csv_lines(path):
        if problem:
            if problem[0] == 'bom':
                warnings.warn(f'{path}: {problem[1]}')
                continue
            raise AVAFormatError(f'{path}:{lineno}: {problem[1]}')
        if not rec:
            continue
        if len(rec) not in (7, 8):
            raise AVAFormatError(f'{path}:{lineno}: expected 7 or 8 columns '
                                 'video_id,timestamp,x1,y1,x2,y2,action_id[,score], '
                                 f'got {len(rec)}: {",".join(rec)[:200]!r}')
        try:
            k = img_key(rec[0], int(rec[1]))
            box = [float(v) for v in rec[2:6]]
            aid = int(rec[6])
            score = float(rec[7]) if len(rec) == 8 and with_score is not False else 1.0
        except ValueError as exc:
            raise AVAFormatError(f'{path}:{lineno}: non-numeric field ({exc})') from None
        if k not in index:
            index[k] = len(keys)
            keys.append(k)
        kr.append(index[k])
        br.append(box)
        lr.append(aid)
        sr.append(score)
    return (keys, np.asarray(kr, np.int64), np.asarray(br, np.float64).reshape(-1, 4),
            np.asarray(lr, np.int64), np.asarray(sr, np.float64))


def read_excluded(path: str | None) -> set:
    """Excluded keyframes (``video_id,timestamp`` rows) as keys ``'vid,0902'``."""
    from ..datasets.ava_io import img_key
    keys = set()
    if not path:
        return keys
    for lineno, rec, problem in iter_csv_lines(path):
        if problem:
            if problem[0] == 'bom':
                warnings.warn(f'{path}: {problem[1]}')
                continue
            raise AVAFormatError(f'{path}:{lineno}: {problem[1]}')
        if not rec:
            continue
        try:
            if len(rec) != 2:
                raise ValueError
            keys.add(img_key(rec[0], int(rec[1])))
        except ValueError:
            raise AVAFormatError(f'{path}:{lineno}: expected video_id,timestamp, '
                                 f'got {",".join(rec)[:200]!r}') from None
    return keys


def detection_rows(samples, num_classes: int = 81, action_thr: float = 0.002,
                   custom_classes=None, label_ids=None, max_per_keyframe: int | None = 50):
    """Turn STAD prediction dicts into submission rows.

    Args:
        samples: dicts with ``video_id``, ``timestamp`` and ``pred_instances``
            (``bboxes (n, 4)`` normalised, ``scores (n, num_classes)`` with column 0
            the background), as ``tools/test.py --dump`` writes.
        action_thr: keep (box, action) pairs scoring above this.
        custom_classes: the config's ``custom_classes`` (column i -> id
            ``custom_classes[i-1]``); default: column i is action id i.
        label_ids: if given, drop action ids outside this set (e.g. the 60-class
            challenge label map).
        max_per_keyframe: keep the best rows per keyframe (50 = the evaluator's cap);
            None keeps all.

    Returns:
        list of ``(video_id, timestamp, x1, y1, x2, y2, action_id, score)``.
    """
    from .offline import as_numpy
    by_key = defaultdict(list)
    for s in samples:
        p = s['pred_instances']
        boxes = as_numpy(p['bboxes']).reshape(-1, 4)
        scores = as_numpy(p['scores']).reshape(len(boxes), -1)
        if scores.shape[1] != num_classes:
            raise SubmissionError(f'{s["video_id"]},{s["timestamp"]}: scores have '
                                  f'{scores.shape[1]} columns, num_classes={num_classes}')
        key = (s['video_id'], int(s['timestamp']))
        for col in range(1, num_classes):
            aid = int(custom_classes[col - 1]) if custom_classes else col
            if label_ids is not None and aid not in label_ids:
                continue
            for i in np.flatnonzero(scores[:, col] > action_thr):
                b = np.clip(boxes[i], 0.0, 1.0)
                # the values the CSV will hold (4 decimals), so that the cap below
                # and any evaluation of the file see the same numbers
                by_key[key].append((*key, *(float(f'{v:.4f}') for v in b), aid,
                                    float(f'{scores[i, col]:.4f}')))
    from .functional.ava_frame_ap import official_reader_order
    rows = []
    for key, rs in by_key.items():
        if max_per_keyframe is not None and len(rs) > max_per_keyframe:
            # the official reader's cut applied to the rows in the order
            # write_submission writes them (action, score descending, box): the
            # rows the official script keeps from the uncut file, and the cut of
            # ava_frame_ap's 'canonical' row order
            rs = sorted(rs, key=lambda r: (r[6], -r[7], r[2:6]))
            keep = official_reader_order([r[7] for r in rs], [r[6] for r in rs],
                                         [r[2:6] for r in rs], max_per_keyframe)
            rs = [rs[i] for i in sorted(keep)]
        rows += rs
    return rows


def write_submission(rows, path: str, zip_file: bool = False) -> str:
    """Write rows as the leaderboard CSV: sorted by video, timestamp, action, score
    (descending), 4-decimal boxes and scores, no header. With ``zip_file`` also
    write ``<path>.zip`` holding it. Returns the path written last."""
    os.makedirs(os.path.dirname(os.path.abspath(path)) or '.', exist_ok=True)
    rows = sorted(rows, key=lambda r: (r[0], int(r[1]), int(r[6]), -r[7], r[2:6]))
    with open(path, 'w', newline='') as f:
        w = csv.writer(f, lineterminator='\n')
        for vid, ts, x1, y1, x2, y2, aid, score in rows:
            w.writerow([vid, f'{int(ts):04d}', f'{x1:.4f}', f'{y1:.4f}', f'{x2:.4f}',
                        f'{y2:.4f}', int(aid), f'{score:.4f}'])
    if zip_file:
        import zipfile
        with zipfile.ZipFile(path + '.zip', 'w', zipfile.ZIP_DEFLATED) as z:
            z.write(path, os.path.basename(path))
        return path + '.zip'
    return path


def read_submission(path: str):
    """A submission CSV as flat arrays for :func:`ava_frame_ap_flat`, rows in file
    order (the official reader's tie order depends on it):
    ``(keys, key_of_row, boxes, action ids, scores)``."""
    return read_ava_rows(path, with_score=True)


def evaluate_submission(path: str, ann_file: str, label_file: str,
                        exclude_file: str | None = None,
                        protocol: str = 'activitynet') -> dict:
    """Frame-mAP of a submission CSV against AVA GT (default: ActivityNet rules).

    Both files are read in file order, as the reference evaluators read them, so
    the result equals ``get_ava_performance.py`` (``'activitynet'``) or stock
    ``ava_eval`` (``'mmaction'``) on the same files, ties included.
    """
    from .functional.ava_frame_ap import ava_frame_ap_flat
    gt = read_ava_rows(ann_file, with_score=False)[:4]
    return ava_frame_ap_flat(gt, *read_submission(path),
                             sorted(read_label_map(label_file)),
                             excluded=read_excluded(exclude_file), protocol=protocol,
                             row_order='file')


def validate_ava_submission(path: str, label_map: str | None = None,
                            timestamp_range: tuple[int, int] | None = None,
                            videos=None, max_per_keyframe: int = 50,
                            expected_keys=None, max_errors: int = 200,
                            raise_on_error: bool = True) -> SubmissionReport:
    """Check a detection CSV the way the leaderboard reads it; report every problem.

    Errors, each ``"path:line: ..."``: bytes that are not UTF-8, a field longer than
    the ``csv`` module's limit, a header or wrong column count, an empty video id,
    non-numeric fields, a non-integer timestamp, a box outside [0, 1] or with
    x1 >= x2 / y1 >= y2, a score that is not finite, an action id outside
    ``label_map``, a timestamp outside ``timestamp_range`` (the AVA test set:
    902-1798), a video not in ``videos``, a keyframe not in ``expected_keys``, a
    duplicate row, more than ``max_per_keyframe`` rows for a keyframe (the official
    evaluator silently keeps only the 50 best: an error, not a warning), an empty
    file. Warnings: a UTF-8 byte-order mark (removed; it would otherwise become part
    of the first video id), keyframes of ``expected_keys`` without any row (a model
    may find nobody), scores outside [0, 1].

    Args:
        expected_keys: iterable of ``(video_id, timestamp)`` that may appear.
        max_errors: keep the messages of this many errors (all are counted in
            ``report.error_kinds``).
        raise_on_error: raise :class:`SubmissionError` listing the errors and
            ending with a count per kind (else they are in ``report.errors``).
    """
    allowed = set(read_label_map(label_map)) if label_map else None
    videos = set(videos) if videos is not None else None
    expected = {(str(v), int(t)) for v, t in expected_keys} \
        if expected_keys is not None else None
    rep = SubmissionReport(path)
    per_key = Counter()
    first_line = {}
    seen = {}
    out_of_unit = 0
    if not os.path.isfile(path):
        raise SubmissionError(f'{path}: no such file')

    def err(kind, lineno, msg):
        rep.error_kinds[kind] += 1
        rep.error_lines.add(lineno)
        if len(rep.errors) < max_errors:
            rep.errors.append(f'{path}:{lineno}: {msg}' if lineno else f'{path}: {msg}')

    def show(rec):
        text = ','.join(rec)
        return repr(text if len(text) <= 120 else text[:117] + '...')

    for lineno, rec, problem in iter_csv_lines(path):
        if problem:
            if problem[0] == 'bom':
                rep.warnings.append(f'{path}:1: {problem[1]}')
            else:
                err(problem[0], lineno, problem[1])
            continue
        if not rec or all(not c.strip() for c in rec):
            err('empty line', lineno, 'empty line')
            continue
        if len(rec) != 8:
            err('column count', lineno, 'expected 8 columns video_id,timestamp,x1,y1,'
                f'x2,y2,action_id,score, got {len(rec)}: {show(rec)}')
            continue
        if lineno == 1 and not rec[1].strip().lstrip('-').isdigit() and \
                not rec[7].replace('.', '', 1).strip().isdigit():
            err('header', lineno, f'looks like a header line ({show(rec)}); the '
                'leaderboard CSV has no header')
            continue
        if not rec[0].strip():
            err('empty video id', lineno, f'empty video id: {show(rec)}')
            continue
        try:
            ts = int(rec[1])
        except ValueError:
            err('timestamp', lineno, f'timestamp {rec[1][:40]!r} is not an integer '
                'second')
            continue
        try:
            box = [float(v) for v in rec[2:6]]
            aid = int(rec[6])
            score = float(rec[7])
        except ValueError as exc:
            err('non-numeric', lineno, f'non-numeric field ({str(exc)[:120]})')
            continue
        if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in box):
            err('box', lineno, f'box {box} is not normalised to [0, 1]')
        elif box[0] >= box[2] or box[1] >= box[3]:
            err('box', lineno, f'box {box} has x1 >= x2 or y1 >= y2')
        if not math.isfinite(score):
            err('score', lineno, f'score {rec[7]!r} is not finite')
        elif not 0.0 <= score <= 1.0:
            out_of_unit += 1
        if allowed is not None and aid not in allowed:
            err('action id', lineno, f'action id {aid} is not in the label map '
                f'{label_map} ({len(allowed)} ids)')
        if timestamp_range and not timestamp_range[0] <= ts <= timestamp_range[1]:
            err('timestamp', lineno, f'timestamp {ts} outside '
                f'{timestamp_range[0]}-{timestamp_range[1]}')
        if videos is not None and rec[0] not in videos:
            err('video', lineno, f'video {rec[0][:60]!r} is not in the evaluated set')
        key = (rec[0], ts)
        if expected is not None and key not in expected:
            err('keyframe', lineno, f'keyframe {rec[0]},{ts} is not an expected '
                'keyframe')
        row = (key, tuple(box), aid)
        if row in seen:
            err('duplicate', lineno, f'duplicate of line {seen[row]} (same keyframe, '
                'box and action)')
        else:
            seen[row] = lineno
        per_key[key] += 1
        first_line.setdefault(key, lineno)
        rep.actions[aid] += 1
        rep.num_rows += 1
    if rep.num_rows == 0 and not rep.num_errors:
        err('empty file', 0, 'the file has no detections')
    for key, n in per_key.items():
        if n > max_per_keyframe:
            err(f'more than {max_per_keyframe} rows per keyframe', first_line[key],
                f'keyframe {key[0]},{key[1]} has {n} rows; the official evaluator '
                f'keeps only the {max_per_keyframe} best and silently drops the rest')
    rep.num_keyframes = len(per_key)
    rep.num_videos = len({k[0] for k in per_key})
    if out_of_unit:
        rep.warnings.append(f'{out_of_unit} scores outside [0, 1]')
    if expected is not None:
        missing = sorted(expected - set(per_key))
        if missing:
            rep.warnings.append(f'{len(missing)} expected keyframes have no detection '
                                f'(e.g. {missing[0][0]},{missing[0][1]})')
    if rep.num_errors and raise_on_error:
        more = '' if rep.num_errors <= len(rep.errors) else \
            f'\n(first {len(rep.errors)} of {rep.num_errors} shown)'
        warn = ''.join(f'\nwarning: {w}' for w in rep.warnings)
        raise SubmissionError(f'{rep.num_errors} problem(s):\n' +
                              '\n'.join(rep.errors) + more + warn +
                              '\nsummary: ' + rep.error_summary())
    return rep
