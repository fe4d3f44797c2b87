"""Builders of tiny dataset trees that reproduce the real on-disk layouts (in tmp dirs).

Each ``make_*`` function writes a miniature copy of one dataset's published layout
(folder names, file names, annotation formats; see /work/shared/REFERENCE.md) with small
synthetic images/events, and returns what a test needs to check the loader against.
No dataset file is ever committed: everything is generated here.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np


def linear_probe_accuracy(features, labels, test, steps: int = 300, train=None) -> float:
    """Test accuracy of a linear classifier (Adam, weight decay) trained on the ``train`` rows
    (default ``~test``) of standardised ``features`` - a quick measure of how much a
    representation tells."""
    import torch

    train = ~test if train is None else train
    mu, sd = features[train].mean(0), features[train].std(0) + 1e-3
    f = (features - mu) / sd
    torch.manual_seed(0)
    lin = torch.nn.Linear(f.shape[1], int(labels.max()) + 1)
    opt = torch.optim.Adam(lin.parameters(), 1e-2, weight_decay=1e-3)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(lin(f[train]), labels[train])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return (lin(f[test]).argmax(1) == labels[test]).float().mean().item()


def write_frame_folder(folder: Path, frames: np.ndarray, name: str = "frame_{i:05d}.jpg",
                       start: int = 0) -> list[Path]:
    """Write ``[N, H, W]`` or ``[N, H, W, 3]`` (RGB) uint8 frames as images named ``name``."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, img in enumerate(frames):
        p = folder / name.format(i=i + start)
        if img.ndim == 3:
            img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        params = [cv2.IMWRITE_JPEG_QUALITY, 98] if p.suffix.lower() in (".jpg", ".jpeg") else []
        ok = cv2.imwrite(str(p), img, params)
        assert ok, p
        paths.append(p)
    return paths


def moving_blob_clip(n: int, size: int, label: int, seed: int = 0) -> np.ndarray:
    """uint8 ``[n, size, size]`` clip of a bright blob moving in a label-dependent direction.

    The direction differs per label, so events converted from it carry the label.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    angle = 2 * np.pi * label / 7 + rng.uniform(-0.1, 0.1)
    frames = []
    for i in range(n):
        r = 0.25 * size * i / max(1, n - 1)
        cx, cy = size / 2 + r * np.cos(angle), size / 2 + r * np.sin(angle)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (size / 8) ** 2))
        frames.append(40 + 180 * blob)
    return np.clip(np.stack(frames), 0, 255).astype(np.uint8)


# -- SEE ----------------------------------------------------------------------------------
SEE_FOLDERS = ("angry", "disgust", "fear", "happiness", "neutraL", "sadness", "surprise")
SEE_LIGHTS = ("normal", "Overexposed", "Low", "HDR")


def make_see_tree(root: Path, subjects: int = 2, frames: int = 6, size: tuple[int, int] = (34, 26),
                  test_subjects: tuple[int, ...] = (1,), with_json: bool = True) -> dict:
    """``root/SEE/{event,frame}/<emotion>/<sequence>/00000.jpg`` + ``root/SEE/emotion.json``.

    One sequence per (subject, emotion); lighting cycles over the four conditions. Frame
    ``k`` of a sequence has the gray level ``10 * label + k`` in the RGB stream and
    ``100 + 10 * label + k`` in the event stream, so tests can check which frames and which
    modality were loaded. Subject ``i`` is in the test subset if ``i in test_subjects``.
    """
    see = root / "SEE"
    w, h = size
    database, names = {}, []
    labels = ["angry", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"]
    n = 0
    for subj in range(subjects):
        for label, folder in enumerate(SEE_FOLDERS):
            light = SEE_LIGHTS[n % 4]
            name = f"{n:04d}_S{subj:02d}_{'FM'[subj % 2]}_{20 + subj}_{n % 3}_{light}_" \
                   f"{labels[label]}_{frames}_1"
            n += 1
            for mod, offset in (("frame", 0), ("event", 100)):
                levels = offset + 10 * label + np.arange(frames)
                imgs = np.broadcast_to(levels[:, None, None, None], (frames, h, w, 3))
                write_frame_folder(see / mod / folder / name, imgs.astype(np.uint8).copy(),
                                   name="{i:05d}.jpg")
            database[name] = {"subset": "testing" if subj in test_subjects else "training",
                              "annotations": {"label": labels[label], "segment": [1, frames - 2]}}
            names.append(name)
    if with_json:
        (see / "emotion.json").write_text(json.dumps({"labels": labels, "database": database}))
    return {"root": see, "names": names, "labels": labels, "database": database}


# -- CASME II -----------------------------------------------------------------------------
CASME2_HEADER = ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame",
                 "Action Units", "Estimated Emotion"]
#: (subject, filename, onset, apex, offset, AUs, emotion) - values in the style of the real
#: sheet (subject as a number, '/' for an unknown apex)
CASME2_ROWS = [
    (1, "EP02_01f", 46, 59, 56, "12", "happiness"),
    (1, "EP03_02", 131, "/", 141, "4", "disgust"),
    (2, "EP09_01", 21, 25, 33, "14", "repression"),
    (2, "EP01_11f", 40, 44, 48, "1+2", "surprise"),
    (3, "EP02_02f", 11, 14, 18, "4+7", "others"),
    (3, "EP13_01", 5, 9, 12, "1+4", "sadness"),
    (3, "EP18_03", 61, 64, 66, "4+20", "fear"),
]


def make_casme2_tree(root: Path, sheet: str = "xlsx", kind: str = "Cropped",
                     rows=CASME2_ROWS, header=CASME2_HEADER, size: int = 24) -> Path:
    """``root/CASME2-coding-20140508.<sheet>`` + ``root/<kind>/subNN/<Filename>/<img>N.jpg``.

    Frame folders hold frames onset-2 .. offset+2 (numbers as in the real file names); the
    clip shows a blob moving in a direction that depends on the emotion.
    """
    root.mkdir(parents=True, exist_ok=True)
    prefix = "reg_img" if kind == "Cropped" else "img"
    table = [list(header)] + [list(r) for r in rows]
    path = root / f"CASME2-coding-20140508.{sheet}"
    if sheet == "xlsx":
        import openpyxl

        book = openpyxl.Workbook()
        for r in table:
            book.active.append(r)
        book.save(path)
    else:
        with path.open("w", newline="") as fh:
            csv.writer(fh).writerows(table)
    for k, (subj, name, onset, _apex, offset, *_rest) in enumerate(rows):
        n = offset - onset + 5
        clip = moving_blob_clip(n, size, label=k)
        write_frame_folder(root / kind / f"sub{subj:02d}" / name, clip,
                           name=prefix + "{i}.jpg", start=onset - 2)
    return path


# -- NEFER --------------------------------------------------------------------------------
def make_nefer_tree(root: Path, users: int = 2, seqs: int = 4, frames: int = 5,
                    size: tuple[int, int] = (20, 16), labels_as: str = "int") -> dict:
    """``root/{event_frames,rgb_frames,event_raw}`` + header-less ``train.csv``/``val.csv``.

    Sequence ``(u, s)`` has label ``(u + s) % 7``; its RGB frame ``k`` has gray level
    ``20 * label + k``, its event frame ``200 - 20 * label - k``; ``event_raw/<u>/<s>.npz``
    holds ``10 * (label + 1)`` events.
    """
    from snnfer.data.events import make_events, write_events

    names = ["anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"]
    w, h = size
    rows = {"train": [], "val": []}
    for u in range(users):
        for s in range(seqs):
            label = (u + s) % 7
            rel = Path(f"user{u}") / f"seq{s}"
            k = np.arange(frames)
            for mod, levels in (("rgb_frames", 20 * label + k),
                                ("event_frames", 200 - 20 * label - k)):
                imgs = np.broadcast_to(levels[:, None, None], (frames, h, w)).astype(np.uint8)
                write_frame_folder(root / mod / rel, imgs, name="frame_{i:02d}.png")
            n = 10 * (label + 1)
            ev = make_events(np.arange(n) * 1000, np.arange(n) % w, np.arange(n) % h,
                             np.arange(n) % 2)
            write_events(root / "event_raw" / rel.with_suffix(".npz"), ev, (w, h))
            split = "val" if s == seqs - 1 else "train"
            for k in range(frames):
                rows[split].append([f"user{u}", f"seq{s}", f"{rel.as_posix()}/frame_{k:02d}.png",
                                    str(label) if labels_as == "int" else names[label]])
    for split, rs in rows.items():
        with (root / f"{split}.csv").open("w", newline="") as fh:
            csv.writer(fh).writerows(rs)
    return {"root": root, "rows": rows, "names": names}


# -- FerDVS -------------------------------------------------------------------------------
def make_ferdvs_tree(root: Path, dataset: str = "ADFESDVS", subjects: int = 3,
                     header: bool = False) -> dict:
    """``root/<dataset>/S00k/00j.h5`` (v2e/Spiking-FER ``events`` [N, 4]) + ``folds.csv``.

    Sequence ``j`` (1-6) of every subject has label ``j`` (1-based, as in the real file) and
    ``100 * j`` events; fold flags follow ``(subject + j + fold) % 5 == 0`` (1 = test).
    """
    import h5py

    base = root / dataset
    lines, info = [], {}
    for s in range(1, subjects + 1):
        for j in range(1, 7):
            n = 100 * j
            data = np.stack([np.arange(n) * 50, np.arange(n) % 200, (np.arange(n) * 7) % 200,
                             np.arange(n) % 2], axis=1).astype(np.uint32)
            path = base / f"S{s:03d}" / f"{j:03d}.h5"
            path.parent.mkdir(parents=True, exist_ok=True)
            with h5py.File(path, "w") as f:  # like Spiking-FER: no sensor-size attribute
                f.create_dataset("events", data=data)
            flags = [int((s + j + k) % 5 == 0) for k in range(10)]
            lines.append(";".join([f"S{s:03d}", f"{j:03d}", str(j)] + [str(v) for v in flags]))
            info[(f"S{s:03d}", f"{j:03d}")] = (j - 1, flags, n)
    text = ("subject;sequence;label;" + ";".join(f"fold{k}" for k in range(10)) + "\n"
            if header else "") + "\n".join(lines) + "\n"
    (base / "folds.csv").write_text(text)
    return {"root": root, "base": base, "info": info}


# -- folders ------------------------------------------------------------------------------
def make_event_folder(root: Path, classes=("happy", "sad"), per_class: int = 3,
                      formats=("npz", "h5", "txt"), subjects: bool = False) -> dict:
    """``root/<label>/[<subject>/]<sample>.<fmt>``; sample k of class c has ``5 (c + 1) + k``
    events on a 32 x 24 sensor."""
    from snnfer.data.events import make_events, write_events

    counts = {}
    for c, name in enumerate(classes):
        for k in range(per_class):
            n = 5 * (c + 1) + k
            ev = make_events(np.arange(n) * 100, np.arange(n) % 32, np.arange(n) % 24,
                             np.arange(n) % 2)
            sub = f"subj{k % 2}/" if subjects else ""
            rel = f"{name}/{sub}sample{k}.{formats[k % len(formats)]}"
            write_events(root / rel, ev, (32, 24))
            counts[rel] = n
    return counts


def make_video_folder(root: Path, layout: str = "labels", size: int = 32, n: int = 8) -> dict:
    """Clips as videos and frame folders: ``layout="labels"`` -> ``root/<label>/...``;
    ``"adfes"`` -> flat ``F01-Anger-Face Forward.avi`` style names."""
    from snnfer.data.video import write_video

    made = {}
    if layout == "labels":
        specs = [("happy", "clip_a.avi", 0), ("happy", "subj2/clip_b", 1), ("sad", "clip_c.mp4", 2),
                 ("sad", "clip_d", 3)]
        for label, name, k in specs:
            clip = moving_blob_clip(n, size, label=k * 2)
            path = root / label / name
            if path.suffix:
                write_video(path, clip, fps=25)
            else:
                write_frame_folder(path, clip)
            made[f"{label}/{name}"] = label
    else:
        for k, (subj, emo, version) in enumerate(
                [("F01", "Anger", "Face Forward"), ("F01", "Joy", "Turning Away"),
                 ("M02", "Anger", "Face Forward"), ("M02", "Joy", "Turning Toward")]):
            path = root / f"{subj}-{emo}-{version}.avi"
            write_video(path, moving_blob_clip(n, size, label=k * 2), fps=25)
            made[path.name] = (subj, emo.lower())
        (root / "readme.txt").write_text("not a clip")
    return made
