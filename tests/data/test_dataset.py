import numpy as np
import pytest
from PIL import Image

from int8ptq.data import PRESETS, open_dataset
from int8ptq.errors import UserError


def _jpeg(path, size=(40, 30), color=(200, 10, 10), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color if mode == "RGB" else 128).save(path)
    return path


def test_list_file_with_labels_and_junk(tmp_path):
    _jpeg(tmp_path / "img" / "a.jpg")
    _jpeg(tmp_path / "img" / "b.png", mode="L")  # grayscale is converted
    (tmp_path / "img" / "bad.jpg").write_bytes(b"\xff\xd8 truncated")
    (tmp_path / "img" / "empty.jpg").write_bytes(b"")
    lst = tmp_path / "list.txt"
    lst.write_bytes(b"img/a.jpg 3\nimg/b.png 7\nimg/bad.jpg 1\nimg/empty.jpg 2\n\xff\xfe 5\nimg/a.jpg -4\n")
    ds = open_dataset(lst)
    assert len(ds) == 4 and ds.labels == [3, 7, 1, 2]
    assert len(ds.skipped) == 2  # the non-UTF-8 line and the negative label
    skipped = []
    batches = list(ds.batches(3, PRESETS["torchvision"], skipped))
    assert sum(len(b.x) for b in batches) == 2
    assert {s.split("/")[-1] for s in skipped} == {"bad.jpg", "empty.jpg"}
    assert batches[0].x.shape[1:] == (3, 224, 224) and batches[0].x.dtype == np.float32
    assert list(batches[0].labels) == [3, 7]


def test_class_folders_get_sorted_labels(tmp_path):
    for cls in ("cat", "ant"):
        _jpeg(tmp_path / cls / "1.jpg")
    ds = open_dataset(tmp_path)
    assert ds.labels == [0, 1] and ds.files[0].parent.name == "ant"


def test_npy_and_npz(tmp_path):
    x = np.random.default_rng(0).standard_normal((5, 3, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "xy.npz", x=x, y=np.arange(5))
    a = next(open_dataset(tmp_path / "x.npy").batches(8, PRESETS["torchvision"]))
    np.testing.assert_array_equal(a.x, x)
    b = next(open_dataset(tmp_path / "xy.npz").batches(8, PRESETS["torchvision"]))
    assert list(b.labels) == [0, 1, 2, 3, 4]


def test_bad_data_specs_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        open_dataset(tmp_path / "missing")
    (tmp_path / "d.csv").write_text("x")
    with pytest.raises(UserError, match="not supported"):
        open_dataset(tmp_path / "d.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no images"):
        open_dataset(tmp_path / "empty")
    np.savez(tmp_path / "noy.npz", z=np.zeros(3))
    with pytest.raises(UserError, match="no array named 'x'"):
        open_dataset(tmp_path / "noy.npz")


def test_presets_match_their_definitions():
    img = Image.new("RGB", (227, 227), (127, 127, 127))
    lite = PRESETS["efficientnet-lite"](img)
    assert lite.shape == (3, 224, 224) and np.allclose(lite, 0.0)
    caffe = PRESETS["caffe"](Image.new("RGB", (300, 256), (10, 20, 30)))
    np.testing.assert_allclose(caffe[:, 0, 0], [30 - 103.94, 20 - 116.78, 10 - 123.68], atol=1e-3)
    inc = PRESETS["inception"](Image.new("RGB", (256, 256), (255, 0, 255)))
    np.testing.assert_allclose(inc[:, 5, 5], [1.0, -1.0, 1.0])


def test_seed_binary_is_memory_mapped(tmp_path):
    n = 3
    x = np.random.default_rng(0).standard_normal((n, 3, 224, 224)).astype(np.float32)
    p = tmp_path / "int8_full_val.bin"
    with open(p, "wb") as f:
        f.write(np.array([n], np.int64).tobytes())
        f.write(x.tobytes())
        f.write(np.array([5, 6, 7], np.int64).tobytes())
    ds = open_dataset(p)
    assert isinstance(ds.arrays, np.memmap)
    b = next(ds.batches(2, PRESETS["torchvision"]))
    np.testing.assert_array_equal(b.x, x[:2])
    assert list(b.labels) == [5, 6]
    p.write_bytes(p.read_bytes()[:-8])
    with pytest.raises(UserError, match="does not match"):
        open_dataset(p)


def test_process_decoding_matches_threads(tmp_path, monkeypatch):
    import int8ptq.data.dataset as dmod

    for i in range(6):
        _jpeg(tmp_path / "imgs" / f"{i}.jpg", color=(i * 40, 100, 200 - i * 30))
    (tmp_path / "imgs" / "bad.jpg").write_bytes(b"junk")
    ds = open_dataset(tmp_path / "imgs")
    threads = [b.x for b in ds.batches(4, PRESETS["torchvision"], [])]
    monkeypatch.setattr(dmod, "PROCESS_DECODE_MIN", 2)
    skipped: list[str] = []
    procs = [b.x for b in ds.batches(4, PRESETS["torchvision"], skipped)]
    assert len(skipped) == 1
    np.testing.assert_array_equal(np.concatenate(threads), np.concatenate(procs))
