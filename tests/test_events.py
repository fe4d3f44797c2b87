"""Event arrays and file formats: round trips, foreign layouts, malformed files."""

from __future__ import annotations

import numpy as np
import pytest

from snnfer.data.events import (
    EVENT_DTYPE,
    as_events,
    concat_events,
    make_events,
    read_events,
    validate_events,
    write_events,
)
from snnfer.errors import ArgumentError, EventFormatError
from tests.conftest import require

SIZE = (346, 260)
SUFFIXES = ["npz", "h5", "hdf5", "txt", "csv", "aedat4"]


def sample_events(n: int = 500, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 3_000_000, n))
    return make_events(t, rng.integers(0, SIZE[0], n), rng.integers(0, SIZE[1], n),
                       rng.integers(0, 2, n))


def test_dtype_is_the_documented_contract():
    contract = np.dtype([("t", np.int64), ("x", np.uint16), ("y", np.uint16), ("p", np.int8)])
    assert contract == EVENT_DTYPE
    ev = make_events([0, 1], [2, 3], [4, 5], [True, False])
    assert ev.dtype == EVENT_DTYPE
    assert ev.tolist() == [(0, 2, 4, 1), (1, 3, 5, 0)]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_round_trip_every_format(tmp_path, suffix):
    if suffix in ("h5", "hdf5"):
        require("h5py")
    if suffix == "aedat4":
        require("aedat")
    ev = sample_events()
    path = tmp_path / f"ev.{suffix}"
    write_events(path, ev, SIZE)
    back, size = read_events(path)
    assert size == SIZE
    assert back.dtype == EVENT_DTYPE
    np.testing.assert_array_equal(back, ev)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left


def test_h5_is_the_v2e_layout(tmp_path):
    h5py = require("h5py")
    ev = sample_events(50)
    write_events(tmp_path / "a.h5", ev, SIZE)
    with h5py.File(tmp_path / "a.h5", "r") as f:
        data = f["events"][()]
        assert data.dtype == np.uint32 and data.shape == (50, 4)
        assert f["events"].compression == "gzip"
    np.testing.assert_array_equal(data[:, 0], ev["t"])
    np.testing.assert_array_equal(data[:, 3], ev["p"])


def test_reads_spiking_fer_and_group_layouts(tmp_path):
    h5py = require("h5py")
    ev = sample_events(40)
    cols = np.stack([ev["t"], ev["x"], ev["y"], ev["p"]], 1)
    with h5py.File(tmp_path / "001.h5", "w") as f:  # Spiking-FER: no sensor size stored
        f.create_dataset("events", data=cols.astype(np.int64))
    back, size = read_events(tmp_path / "001.h5", sensor_size=(346, 260))
    np.testing.assert_array_equal(back, ev)
    assert size == (346, 260)
    _, inferred = read_events(tmp_path / "001.h5")
    assert inferred == (int(ev["x"].max()) + 1, int(ev["y"].max()) + 1)
    with h5py.File(tmp_path / "g.h5", "w") as f:  # DSEC-like column group, float t
        g = f.create_group("events")
        for k in "txyp":
            g.create_dataset(k, data=ev[k].astype(np.float64 if k == "t" else ev[k].dtype))
        f.attrs["width"], f.attrs["height"] = SIZE
    back, size = read_events(tmp_path / "g.h5")
    np.testing.assert_array_equal(back, ev)
    assert size == SIZE


def test_text_seconds_microseconds_header_and_signed_polarity(tmp_path):
    (tmp_path / "s.txt").write_text("# v2e\n0.000001 1 2 1\n0.5 3 4 0\n")
    ev, size = read_events(tmp_path / "s.txt")
    assert ev.tolist() == [(1, 1, 2, 1), (500000, 3, 4, 0)]
    assert size == (4, 5)
    (tmp_path / "us.txt").write_text("1 1 2 1\n500000 3 4 0\n")
    np.testing.assert_array_equal(read_events(tmp_path / "us.txt")[0], ev)
    (tmp_path / "h.csv").write_text("x,y,polarity,timestamp\n1,2,1,1\n3,4,-1,500000\n")
    np.testing.assert_array_equal(read_events(tmp_path / "h.csv")[0], ev)
    (tmp_path / "f.txt").write_text("1 1 2 1\n2 3 4 0\n")
    forced, _ = read_events(tmp_path / "f.txt", time_unit="s")
    assert forced["t"].tolist() == [1_000_000, 2_000_000]


def test_reads_v2e_text_output_with_label_column(tmp_path):
    (tmp_path / "v2e-dvs-events.txt").write_text(
        "# Format is time (float s), x, y, polarity (0=off, 1=on), signal/noise (1/0)\n"
        "#  as specified at http://rpg.ifi.uzh.ch/davis_data.html\n"
        "# Creation time: 09:41PM November 21 2026\n"
        "0.033333335 12 5 1 1\n0.06666667 3 4 0 0\n")
    ev, size = read_events(tmp_path / "v2e-dvs-events.txt", sensor_size=(16, 8))
    assert ev.tolist() == [(33333, 12, 5, 1), (66667, 3, 4, 0)] and size == (16, 8)


def test_tonic_interop_to_frame():
    """tonic transforms take snnfer events as they are (fields t, x, y, p)."""
    tonic = require("tonic")
    ev = sample_events(2000)
    frames = tonic.transforms.ToFrame(sensor_size=(*SIZE, 2), n_time_bins=3)(ev)
    assert frames.shape == (3, 2, SIZE[1], SIZE[0])
    # tonic's bins: width (t_last - t0) // 3 from t0, half-open
    width = (ev["t"][-1] - ev["t"][0]) // 3
    for b in range(3):
        lo, hi = ev["t"][0] + b * width, ev["t"][0] + (b + 1) * width
        sel = ev[(ev["t"] >= lo) & (ev["t"] < hi)]
        counts = np.zeros((2, SIZE[1], SIZE[0]), np.int64)
        np.add.at(counts, (sel["p"], sel["y"], sel["x"]), 1)
        np.testing.assert_array_equal(frames[b], counts)


def test_as_events_converts_foreign_layouts():
    rows = np.array([[0, 1, 2, -1], [5, 3, 4, 1]], dtype=np.float32)
    assert as_events(rows).tolist() == [(0, 1, 2, 0), (5, 3, 4, 1)]
    tonic_like = np.array([(1, 2, 0, True)], dtype=[("x", "<i2"), ("y", "<i2"), ("t", "<i8"),
                                                     ("p", "?")])
    assert as_events(tonic_like).tolist() == [(0, 1, 2, 1)]
    with pytest.raises(EventFormatError, match="no field 'p'"):
        as_events(np.zeros(2, dtype=[("t", "i8"), ("x", "u2"), ("y", "u2")]))


def test_concat_events_matches_numpy():
    a, b = sample_events(30, 1), sample_events(20, 2)
    np.testing.assert_array_equal(concat_events([a, b]), np.concatenate([a, b]))
    assert concat_events([]).size == 0


# ----------------------------------------------------------------------------- bad input
def test_validate_names_field_and_first_bad_index():
    ev = make_events([0, 5, 3, 2], [0, 1, 2, 3], [0, 0, 0, 0], [0, 1, 0, 1])
    with pytest.raises(EventFormatError, match=r"src.*'t' is not sorted.*t\[2\]"):
        validate_events(ev, (4, 4), source="src")
    ev = make_events([0, 1, 2], [0, 9, 1], [0, 0, 0], [0, 1, 0])
    with pytest.raises(EventFormatError, match=r"'x' = 9 at index 1 .*\(4, 4\)"):
        validate_events(ev, (4, 4))
    ev = make_events([0, 1], [0, 1], [0, 7], [0, 1])
    with pytest.raises(EventFormatError, match="'y' = 7 at index 1"):
        validate_events(ev, (4, 4))
    ev["p"][0] = 3
    with pytest.raises(EventFormatError, match="'p' = 3 at index 0"):
        validate_events(ev, (4, 8))
    ev = make_events([-4, 1], [0, 1], [0, 1], [0, 1])
    with pytest.raises(EventFormatError, match=r"'t' is negative \(-4\) at index 0"):
        validate_events(ev, (4, 4))
    wrong = np.zeros(2, dtype=[("t", "f8"), ("x", "u2"), ("y", "u2"), ("p", "i1")])
    with pytest.raises(EventFormatError, match="t: float64 .*expected int64"):
        validate_events(wrong, (4, 4))
    with pytest.raises(ArgumentError, match="sensor_size"):
        validate_events(make_events([0], [0], [0], [0]), (0, 4))


def test_make_events_rejects_values_that_would_wrap():
    with pytest.raises(EventFormatError, match="'x' has value -1 at index 1"):
        make_events([0, 1], [0, -1], [0, 0], [0, 0])
    with pytest.raises(EventFormatError, match="'p' has value 2"):
        make_events([0], [0], [0], [2])
    with pytest.raises(EventFormatError, match="non-integer"):
        make_events([0.5], [0], [0], [0])


def test_file_unsorted_timestamps(tmp_path):
    (tmp_path / "u.txt").write_text("3 0 0 1\n1 0 0 1\n")
    with pytest.raises(EventFormatError, match=r"u\.txt.*'t' is not sorted.*t\[1\]"):
        read_events(tmp_path / "u.txt")


def test_file_negative_timestamps(tmp_path):
    np.savez(tmp_path / "n.npz", t=[-1, 2], x=[0, 0], y=[0, 0], p=[0, 1])
    with pytest.raises(EventFormatError, match=r"n\.npz.*'t' is negative"):
        read_events(tmp_path / "n.npz")


def test_file_coordinates_outside_stored_sensor(tmp_path):
    np.savez(tmp_path / "o.npz", t=[0, 2], x=[0, 50], y=[0, 0], p=[0, 1], sensor_size=[32, 32])
    with pytest.raises(EventFormatError, match=r"o\.npz.*'x' = 50 at index 1.*\(32, 32\)"):
        read_events(tmp_path / "o.npz")


def test_file_wrong_dtype(tmp_path):
    h5py = require("h5py")
    with h5py.File(tmp_path / "w.h5", "w") as f:
        f.create_dataset("events", data=np.array([[0.0, 1.5, 2.0, 1.0]]))
    with pytest.raises(EventFormatError, match=r"w\.h5.*'x' has non-integer value 1\.5"):
        read_events(tmp_path / "w.h5")
    with h5py.File(tmp_path / "s.h5", "w") as f:
        f.create_dataset("events", data=np.array([[b"a", b"b", b"c", b"d"]]))
    with pytest.raises(EventFormatError, match=r"s\.h5.*dtype"):
        read_events(tmp_path / "s.h5")
    with h5py.File(tmp_path / "c.h5", "w") as f:
        f.create_dataset("events", data=np.zeros((3, 3)))
    with pytest.raises(EventFormatError, match=r"c\.h5.*shape \(3, 3\).*\[N, 4\]"):
        read_events(tmp_path / "c.h5")


def test_file_empty(tmp_path):
    (tmp_path / "e.h5").write_bytes(b"")
    with pytest.raises(EventFormatError, match=r"e\.h5: file is empty"):
        read_events(tmp_path / "e.h5")
    (tmp_path / "c.txt").write_text("# only a comment\n")
    with pytest.raises(EventFormatError, match="contains no events"):
        read_events(tmp_path / "c.txt")
    write_events(tmp_path / "z.npz", make_events([], [], [], []), (8, 8))
    with pytest.raises(EventFormatError, match="contains no events"):
        read_events(tmp_path / "z.npz")
    ev, size = read_events(tmp_path / "z.npz", allow_empty=True)
    assert ev.size == 0 and size == (8, 8)


def test_file_truncated_hdf5(tmp_path):
    require("h5py")
    write_events(tmp_path / "full.h5", sample_events(5000), SIZE)
    data = (tmp_path / "full.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 2])
    with pytest.raises(EventFormatError, match=r"cut\.h5: "):
        read_events(tmp_path / "cut.h5")


def test_file_truncated_aedat4_and_npz(tmp_path):
    require("aedat")
    for suffix in ("aedat4", "npz"):
        write_events(tmp_path / f"full.{suffix}", sample_events(3000), SIZE)
        data = (tmp_path / f"full.{suffix}").read_bytes()
        (tmp_path / f"cut.{suffix}").write_bytes(data[: len(data) - 100])
        with pytest.raises(EventFormatError, match=rf"cut\.{suffix}: "):
            read_events(tmp_path / f"cut.{suffix}")


def test_unknown_suffix_and_missing_file(tmp_path):
    with pytest.raises(EventFormatError, match=r"unknown event file suffix '\.bin'"):
        read_events(tmp_path / "a.bin")
    with pytest.raises(EventFormatError, match="no such event file"):
        read_events(tmp_path / "missing.h5")
    with pytest.raises(EventFormatError, match="unknown event file suffix"):
        write_events(tmp_path / "a.bin", sample_events(3), SIZE)


def test_writer_validates_and_leaves_nothing_on_error(tmp_path):
    bad = make_events([5, 1], [0, 0], [0, 0], [0, 1])
    with pytest.raises(EventFormatError, match="not sorted"):
        write_events(tmp_path / "b.npz", bad, SIZE)
    assert list(tmp_path.iterdir()) == []
