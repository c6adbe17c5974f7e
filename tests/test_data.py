"""The data loaders: every format round trips from small files written here, every error is named."""

from __future__ import annotations

import gzip
import importlib.util
import json
import math
import struct
import wave

import numpy as np
import pytest
import torch

from pyro_autoregressive.audio import linear_decode, mu_law_encode
from pyro_autoregressive.data import DIGITS_SPLIT, Dataset, Split, load_data
from pyro_autoregressive.data.values import cut_windows, requantise

PIL = pytest.importorskip("PIL.Image")


def write_png(path, image: np.ndarray) -> None:
    """``image (C, H, W)`` uint8 as an 8-bit grey (C=1) or RGB (C=3) PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    array = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
    PIL.fromarray(array, "L" if image.shape[0] == 1 else "RGB").save(path)


def write_wav(path, samples: np.ndarray, rate: int = 8000, width: int = 1, channels: int = 1) -> None:
    """Raw PCM ``samples`` (uint8 for 8-bit, int16 for 16-bit; frames x channels interleaved) as a WAV file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as file:
        file.setnchannels(channels)
        file.setsampwidth(width)
        file.setframerate(rate)
        file.writeframes(samples.astype({1: "u1", 2: "<i2", 3: "u1"}[width]).tobytes())


def write_idx(path, array: np.ndarray, type_code: int = 0x08) -> None:
    dtype = {0x08: ">u1", 0x0B: ">i2", 0x0D: ">f4"}[type_code]
    header = struct.pack(">BBBB", 0, 0, type_code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(dtype).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def reload(data: Dataset) -> Dataset:
    """``load_data(**description)`` after a JSON round trip, as a run folder would."""
    return load_data(**json.loads(json.dumps(data.description)))


def same(a: Dataset, b: Dataset) -> bool:
    contexts = (a.context is None and b.context is None) or torch.equal(a.context, b.context)
    return torch.equal(a.values, b.values) and contexts and a.levels == b.levels and a.kind == b.kind


RNG = np.random.default_rng(0)


# ---------------------------------------------------------------------------- arrays


def test_npy_round_trip(tmp_path):
    images = RNG.integers(0, 7, size=(5, 2, 3, 4), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    data = load_data(tmp_path / "images.npy")
    assert data.kind == "image" and data.values.dtype == torch.long and data.event_shape == (2, 3, 4)
    assert torch.equal(data.values, torch.from_numpy(images).long())
    assert data.levels == int(images.max()) + 1  # the default: the largest value + 1
    assert data.context is None and data.num_classes == 0 and data.sample_rate is None
    assert same(reload(data), data)

    grey = RNG.integers(0, 300, size=(4, 5, 6), dtype=np.int32)
    np.save(tmp_path / "grey.npy", grey)
    data = load_data(tmp_path / "grey.npy", levels=512)
    assert data.kind == "image" and data.levels == 512 and torch.equal(data.values[:, 0], torch.from_numpy(grey).long())

    sequences = RNG.integers(0, 9, size=(6, 11), dtype=np.int64)
    np.save(tmp_path / "seq.npy", sequences)
    data = load_data(tmp_path / "seq.npy", length=11)  # length may restate T
    assert data.kind == "sequence" and torch.equal(data.values, torch.from_numpy(sequences))

    np.save(tmp_path / "binary.npy", np.zeros((3, 4), dtype=bool))
    data = load_data(tmp_path / "binary.npy")
    assert data.levels == 2 and data.values.sum() == 0  # at least 2 levels, booleans as 0 / 1


def test_npy_stream_cut_into_windows(tmp_path):
    stream = np.arange(10, dtype=np.uint16)
    np.save(tmp_path / "stream.npy", stream)
    data = load_data(tmp_path / "stream.npy", length=3)
    assert torch.equal(data.values, torch.arange(9).reshape(3, 3))  # the last value is dropped
    assert data.info["dropped_steps"] == 1 and data.description["length"] == 3
    assert torch.equal(load_data(tmp_path / "stream.npy", length=3, max_items=2).values, torch.arange(6).reshape(2, 3))
    with pytest.raises(ValueError, match=r"^length: .* fewer than one window of length=256"):
        load_data(tmp_path / "stream.npy")  # the default window is 256


def test_npy_errors(tmp_path):
    np.save(tmp_path / "float.npy", np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"^source '.*float.npy': expected integer values, got dtype float32"):
        load_data(tmp_path / "float.npy")
    np.save(tmp_path / "negative.npy", np.array([[0, -3, 2]]))
    with pytest.raises(ValueError, match=r"expected values >= 0 .* got a minimum of -3"):
        load_data(tmp_path / "negative.npy")
    np.save(tmp_path / "values.npy", np.array([[0, 5, 2]]))
    with pytest.raises(ValueError, match=r"^levels: .* holds values up to 5, which levels=4 cannot model"):
        load_data(tmp_path / "values.npy", levels=4)
    with pytest.raises(ValueError, match=r"^levels: .* holds values up to 5, which levels=5 cannot model"):
        load_data(tmp_path / "values.npy", levels=5)  # the boundary: 5 needs 6 levels
    assert load_data(tmp_path / "values.npy", levels=6).levels == 6
    np.save(tmp_path / "objects.npy", np.array([[1, "a"]], dtype=object))
    with pytest.raises(ValueError, match=r"^source: '.*objects.npy' is not a readable .npy file"):
        load_data(tmp_path / "objects.npy")
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(ValueError, match=r"^source: '.*junk.npy' is not a readable .npy file"):
        load_data(tmp_path / "junk.npy")
    np.save(tmp_path / "five.npy", np.zeros((1, 1, 1, 1, 1), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"expected a non-empty array .* got shape \(1, 1, 1, 1, 1\)"):
        load_data(tmp_path / "five.npy")
    np.save(tmp_path / "empty.npy", np.zeros((0, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"expected a non-empty array"):
        load_data(tmp_path / "empty.npy")
    with pytest.raises(ValueError, match=r"^length: .* holds items of shape \(3,\)"):
        load_data(tmp_path / "values.npy", length=4)
    with pytest.raises(ValueError, match=r"^patch_size: does not apply to npy data"):
        load_data(tmp_path / "values.npy", patch_size=8)
    np.savez(tmp_path / "archive.npz", x=np.zeros((2, 2), dtype=np.uint8))
    (tmp_path / "archive.npz").rename(tmp_path / "archive.npy")
    with pytest.raises(ValueError, match=r"is an .npz archive, not an .npy array"):
        load_data(tmp_path / "archive.npy")
    np.save(tmp_path / "plain.npy", np.zeros((2, 2), dtype=np.uint8))
    (tmp_path / "plain.npy").rename(tmp_path / "plain.npz")
    with pytest.raises(ValueError, match=r"is an .npy array, not an .npz archive"):
        load_data(tmp_path / "plain.npz")


def test_npz_labels_as_context(tmp_path):
    x = RNG.integers(0, 4, size=(6, 1, 2, 2), dtype=np.uint8)
    y = np.array([0, 2, 1, 2, 0, 1])
    np.savez(tmp_path / "data.npz", x=x, y=y)
    data = load_data(tmp_path / "data.npz")
    assert torch.equal(data.values, torch.from_numpy(x).long()) and torch.equal(data.context, torch.from_numpy(y))
    assert data.num_classes == 3 and data.description["key"] == "x" and data.description["label_key"] == "y"
    assert same(reload(data), data)
    assert load_data(tmp_path / "data.npz", labels=False).context is None
    capped = load_data(tmp_path / "data.npz", max_items=2)
    assert torch.equal(capped.context, torch.tensor([0, 2])) and capped.num_classes == 3  # classes of all labels

    np.savez(tmp_path / "named.npz", pixels=x, digit=y, other=y)
    data = load_data(tmp_path / "named.npz", key="pixels", label_key="digit")
    assert torch.equal(data.context, torch.from_numpy(y))
    assert load_data(tmp_path / "named.npz", key="pixels").context is None  # no label key by its usual names
    with pytest.raises(ValueError, match=r"^key: .* holds arrays \['pixels', 'digit', 'other'\]; give key="):
        load_data(tmp_path / "named.npz")
    with pytest.raises(ValueError, match=r"^key: .* not 'nope'"):
        load_data(tmp_path / "named.npz", key="nope")
    with pytest.raises(ValueError, match=r"^label_key: .* not 'nope'"):
        load_data(tmp_path / "named.npz", key="pixels", label_key="nope")
    with pytest.raises(ValueError, match=r"^label_key: given .* with labels=False"):
        load_data(tmp_path / "named.npz", key="pixels", label_key="digit", labels=False)
    with pytest.raises(ValueError, match=r"^label_key: expected another array"):
        load_data(tmp_path / "named.npz", key="pixels", label_key="pixels")

    np.savez(tmp_path / "two.npz", x=x, y=y, labels=y)
    with pytest.raises(ValueError, match=r"^label_key: .* several label arrays \['labels', 'y'\]"):
        load_data(tmp_path / "two.npz")
    np.savez(tmp_path / "short.npz", x=x, y=y[:4])
    with pytest.raises(ValueError, match=r"labels: expected one label per item, shape \(6,\), got \(4,\)"):
        load_data(tmp_path / "short.npz")
    np.savez(tmp_path / "floaty.npz", x=x, y=y.astype(float))
    with pytest.raises(ValueError, match=r"labels: expected integer values, got dtype float64"):
        load_data(tmp_path / "floaty.npz")
    np.savez(tmp_path / "stream.npz", x=np.arange(512) % 7, y=np.zeros(512, dtype=int))
    with pytest.raises(ValueError, match=r"^labels: .* 1-D stream"):
        load_data(tmp_path / "stream.npz")


# ---------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("name", ["train-images-idx3-ubyte", "t10k-images.idx3-ubyte.gz", "images.idx"])
def test_idx_round_trip_with_labels_file(tmp_path, name):
    images = RNG.integers(0, 256, size=(7, 4, 5), dtype=np.uint8)
    write_idx(tmp_path / name, images)
    data = load_data(tmp_path / name)
    assert data.kind == "image" and torch.equal(data.values[:, 0], torch.from_numpy(images).long())
    assert data.context is None and data.description["format"] == "idx"
    if "images-idx3" in name or "images.idx3" in name:
        labels = np.arange(7) % 3
        write_idx(tmp_path / name.replace("images", "labels").replace("idx3", "idx1"), labels)
        data = load_data(tmp_path / name)
        assert torch.equal(data.context, torch.from_numpy(labels)) and data.num_classes == 3
        assert same(reload(data), data)
        assert load_data(tmp_path / name, labels=False).context is None


def test_idx_types_and_errors(tmp_path):
    shorts = RNG.integers(0, 1000, size=(3, 6), dtype=np.int16)
    write_idx(tmp_path / "a.idx", shorts, 0x0B)
    assert torch.equal(load_data(tmp_path / "a.idx").values, torch.from_numpy(shorts).long())  # big-endian read
    write_idx(tmp_path / "f.idx", np.zeros((3, 6)), 0x0D)
    with pytest.raises(ValueError, match=r"expected integer values, got dtype float32"):
        load_data(tmp_path / "f.idx")
    write_idx(tmp_path / "t.idx", shorts, 0x0B)
    (tmp_path / "t.idx").write_bytes((tmp_path / "t.idx").read_bytes()[:-1])
    with pytest.raises(ValueError, match=r"^source: IDX file .* shape \(3, 6\) of int16 \(36 bytes of values\) but"):
        load_data(tmp_path / "t.idx")
    (tmp_path / "m.idx").write_bytes(b"\x01\x02\x08\x01" + bytes(8))
    with pytest.raises(ValueError, match=r"^source: '.*m.idx' is not an IDX file"):
        load_data(tmp_path / "m.idx")
    (tmp_path / "g-idx1-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match=r"^source: cannot read IDX file"):
        load_data(tmp_path / "g-idx1-ubyte.gz")


# ---------------------------------------------------------------------------- PNG


def test_png_folder_round_trip_grey_and_rgb(tmp_path):
    for channels in (1, 3):
        folder = tmp_path / f"c{channels}"
        images = RNG.integers(0, 256, size=(4, channels, 3, 5), dtype=np.uint8)
        for k, image in enumerate(images):
            write_png(folder / f"{k:02d}.png", image)
        (folder / "notes.md").write_text("ignored: not a PNG")
        (folder / ".hidden.png").write_bytes(b"skipped: hidden")
        data = load_data(folder)
        assert data.kind == "image" and data.levels == 256 and data.event_shape == (channels, 3, 5)
        assert torch.equal(data.values, torch.from_numpy(images).long()) and data.context is None
        assert same(reload(data), data)
        one = load_data(folder / "02.png")
        assert torch.equal(one.values, data.values[2:3])


def test_png_quantised_only_when_asked(tmp_path):
    image = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    write_png(tmp_path / "ramp.png", image)
    assert torch.equal(load_data(tmp_path / "ramp.png").values.flatten(), torch.arange(256))
    data = load_data(tmp_path / "ramp.png", levels=4)
    assert data.levels == 4 and torch.equal(data.values.flatten(), torch.arange(256) // 64)  # floor(v * 4 / 256)
    assert torch.equal(load_data(tmp_path / "ramp.png", levels=2).values.flatten(), (torch.arange(256) >= 128).long())
    assert same(reload(data), data)
    with pytest.raises(ValueError, match=r"^levels: expected an int >= 2 <= 256, got 300"):
        load_data(tmp_path / "ramp.png", levels=300)


def test_png_subfolders_are_classes(tmp_path):
    for name, count in (("cat", 2), ("dog", 3), ("emu", 1)):
        for k in range(count):
            write_png(tmp_path / "pets" / name / f"{k}.png", np.full((1, 2, 2), k, dtype=np.uint8))
    (tmp_path / "pets" / "empty").mkdir()  # holds no PNG: not a class
    data = load_data(tmp_path / "pets")
    assert torch.equal(data.context, torch.tensor([0, 0, 1, 1, 1, 2])) and data.num_classes == 3
    assert data.info["classes"] == ["cat", "dog", "emu"]
    assert same(reload(data), data)
    assert load_data(tmp_path / "pets", labels=False).context is None
    capped = load_data(tmp_path / "pets", max_items=3)
    assert torch.equal(capped.context, torch.tensor([0, 0, 1])) and capped.num_classes == 3


def test_png_errors(tmp_path):
    write_png(tmp_path / "sizes" / "a.png", np.zeros((1, 2, 2), dtype=np.uint8))
    write_png(tmp_path / "sizes" / "b.png", np.zeros((1, 2, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"^source: images differ .* '.*b.png' is \(1, 2, 3\)"):
        load_data(tmp_path / "sizes")
    write_png(tmp_path / "modes" / "a.png", np.zeros((1, 2, 2), dtype=np.uint8))
    write_png(tmp_path / "modes" / "b.png", np.zeros((3, 2, 2), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"^source: images differ in channels or size"):
        load_data(tmp_path / "modes")
    PIL.new("RGBA", (2, 2)).save(tmp_path / "alpha.png")
    with pytest.raises(ValueError, match=r"^source: '.*alpha.png' has Pillow mode 'RGBA'; expected 8-bit grey"):
        load_data(tmp_path / "alpha.png")
    PIL.new("I;16", (2, 2)).save(tmp_path / "deep.png")
    with pytest.raises(ValueError, match=r"has Pillow mode 'I;16'"):
        load_data(tmp_path / "deep.png")
    PIL.new("RGB", (2, 2)).save(tmp_path / "photo.png", format="JPEG")
    with pytest.raises(ValueError, match=r"^source: '.*photo.png' is a JPEG image, not a PNG"):
        load_data(tmp_path / "photo.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(ValueError, match=r"^source: cannot read '.*broken.png' as a PNG image"):
        load_data(tmp_path / "broken.png")
    write_png(tmp_path / "both" / "a.png", np.zeros((1, 2, 2), dtype=np.uint8))
    write_png(tmp_path / "both" / "class" / "b.png", np.zeros((1, 2, 2), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"holds .png files both directly and in sub-folders \(class\)"):
        load_data(tmp_path / "both")
    with pytest.raises(ValueError, match=r"^length: does not apply to png data"):
        load_data(tmp_path / "both" / "a.png", length=4)


# ---------------------------------------------------------------------------- WAV


def test_wav_8bit_linear_is_the_bytes(tmp_path):
    raw = RNG.integers(0, 256, size=2500)
    write_wav(tmp_path / "a.wav", raw, rate=11025)
    data = load_data(tmp_path / "a.wav", audio_encoding="linear", length=1000)
    assert data.kind == "audio" and data.sample_rate == 11025 and data.levels == 256
    assert torch.equal(data.values, torch.from_numpy(raw[:2000]).reshape(2, 1000))  # the last 500 dropped
    assert data.info["dropped_steps"] == 500
    assert same(reload(data), data)


def test_wav_16bit_linear_and_mu_law(tmp_path):
    raw = RNG.integers(-32768, 32768, size=2048)
    write_wav(tmp_path / "b.wav", raw, rate=16000, width=2)
    data = load_data(tmp_path / "b.wav", audio_encoding="linear", levels=65536)
    assert torch.equal(data.values, torch.from_numpy(raw + 32768).reshape(2, 1024))  # exact 16-bit samples
    data = load_data(tmp_path / "b.wav")  # mu-law, 256 levels, windows of 1024 by default
    expected = mu_law_encode(torch.from_numpy(raw / 32768.0), 256).reshape(2, 1024)
    assert torch.equal(data.values, expected) and data.description["audio_encoding"] == "mu-law"
    samples = linear_decode(torch.from_numpy(raw + 32768), 65536, dtype=torch.float64)
    assert torch.equal(data.values.flatten(), mu_law_encode(samples, 256))  # the convention of audio.linear_decode


def test_wav_folder_classes_and_rates(tmp_path):
    for name, rate in (("low", 8000), ("high", 8000)):
        write_wav(tmp_path / "calls" / name / "x.wav", RNG.integers(0, 256, size=40), rate=rate)
    data = load_data(tmp_path / "calls", length=20)
    assert torch.equal(data.context, torch.tensor([0, 0, 1, 1])) and data.info["classes"] == ["high", "low"]
    assert same(reload(data), data)

    write_wav(tmp_path / "mixed" / "a.wav", RNG.integers(0, 256, size=800), rate=8000)
    write_wav(tmp_path / "mixed" / "b.wav", RNG.integers(96, 160, size=1600), rate=16000)  # quiet: no overshoot
    with pytest.raises(ValueError, match=r"^sample_rate: the files have different rates \(8000 Hz \('a.wav'\), 16000"):
        load_data(tmp_path / "mixed", length=100)
    data = load_data(tmp_path / "mixed", length=100, sample_rate=8000)  # b.wav resampled, anti-aliased
    assert data.sample_rate == 8000 and len(data) == 8 + 8 and data.info["clipped_samples"] == 0
    assert data.description["sample_rate"] == 8000 and same(reload(data), data)


def test_wav_resampling_reports_clipping(tmp_path):
    square = np.tile(np.r_[np.zeros(4), np.full(4, 255)], 50)  # full scale: the filter overshoots
    write_wav(tmp_path / "sq.wav", square, rate=8000)
    with pytest.warns(UserWarning, match=r"resampling to 11025 Hz overshot \[-1, 1\]: \d+ samples clipped"):
        data = load_data(tmp_path / "sq.wav", sample_rate=11025, length=64)
    assert data.info["clipped_samples"] > 0


def test_wav_errors(tmp_path):
    write_wav(tmp_path / "s.wav", RNG.integers(0, 256, size=20), channels=2)
    with pytest.raises(ValueError, match=r"^source: '.*s.wav' has 2 channels; expected mono"):
        load_data(tmp_path / "s.wav", length=4)
    write_wav(tmp_path / "w.wav", RNG.integers(0, 256, size=30), width=3)
    with pytest.raises(ValueError, match=r"^source: '.*w.wav' has 24-bit samples; expected 8- or 16-bit PCM"):
        load_data(tmp_path / "w.wav", length=4)
    (tmp_path / "j.wav").write_bytes(b"RIFF junk")
    with pytest.raises(ValueError, match=r"^source: cannot read '.*j.wav' as a PCM WAV file"):
        load_data(tmp_path / "j.wav")
    write_wav(tmp_path / "short.wav", RNG.integers(0, 256, size=30))
    with pytest.raises(ValueError, match=r"^length: every file is shorter than length=1024 \(the longest has 30"):
        load_data(tmp_path / "short.wav")
    with pytest.raises(ValueError, match=r"^audio_encoding: expected one of mu-law, linear, got 'alaw'"):
        load_data(tmp_path / "short.wav", audio_encoding="alaw")
    with pytest.raises(ValueError, match=r"^levels: expected an int >= 2, got 1"):
        load_data(tmp_path / "short.wav", levels=1, length=4)


# ---------------------------------------------------------------------------- text


def test_text_round_trip(tmp_path):
    text = "héllo wörld\n" * 30
    (tmp_path / "a.txt").write_text(text, encoding="utf-8")
    raw = torch.tensor(list(text.encode()))
    data = load_data(tmp_path / "a.txt", length=64)
    assert data.kind == "text" and data.levels == 256 and data.event_shape == (64,)
    assert torch.equal(data.values.flatten(), raw[: len(raw) // 64 * 64])
    assert data.info["dropped_steps"] == len(raw) % 64 and same(reload(data), data)
    assert len(load_data(tmp_path / "a.txt")) == len(raw) // 256  # windows of 256 by default
    with pytest.raises(ValueError, match=r"^levels: '.*a.txt' holds byte 195 \(at offset 1\), which levels=128"):
        load_data(tmp_path / "a.txt", levels=128, length=64)  # non-ASCII is an error, never clipped
    (tmp_path / "ascii.txt").write_bytes(b"plain ascii " * 20)
    assert load_data(tmp_path / "ascii.txt", levels=128, length=16).levels == 128
    data = load_data(tmp_path / "a.txt", length=10, max_bytes=35)
    assert len(data) == 3 and data.info["bytes"] == 35


def test_text_folder_classes_and_format(tmp_path):
    (tmp_path / "by" / "ann").mkdir(parents=True)
    (tmp_path / "by" / "bob").mkdir()
    (tmp_path / "by" / "ann" / "1.txt").write_bytes(b"a" * 25)
    (tmp_path / "by" / "bob" / "1.txt").write_bytes(b"b" * 10)
    (tmp_path / "by" / "bob" / "2.md").write_bytes(b"c" * 10)  # a text folder reads every file
    data = load_data(tmp_path / "by", length=10)
    assert torch.equal(data.context, torch.tensor([0, 0, 1, 1])) and data.num_classes == 2
    assert torch.equal(data.values[:, 0], torch.tensor([97, 97, 98, 99]))
    assert same(reload(data), data)

    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "x.py").write_bytes(b"print(1)\n" * 10)
    with pytest.raises(ValueError, match=r"^source: cannot tell the format of folder .* \(\.py\); .* format='text'"):
        load_data(tmp_path / "code")
    data = load_data(tmp_path / "code", format="text", length=9)
    assert len(data) == 10 and data.description["format"] == "text" and same(reload(data), data)
    assert len(load_data(tmp_path / "code" / "x.py", format="text", length=9)) == 10
    with pytest.raises(ValueError, match=r"^source: cannot tell the format of '.*x.py' from its name"):
        load_data(tmp_path / "code" / "x.py")


# ---------------------------------------------------------------------------- sources, options, records


def test_source_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^source: no built-in data set or file named '.*nowhere'"):
        load_data(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"built-ins: digits, photos, pygame-sounds, stdlib-text"):
        load_data("digit")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"^source: folder '.*empty' is empty"):
        load_data(tmp_path / "empty")
    write_png(tmp_path / "mix" / "a.png", np.zeros((1, 2, 2), dtype=np.uint8))
    write_wav(tmp_path / "mix" / "b.wav", np.zeros(8))
    with pytest.raises(ValueError, match=r"^source: folder .* mixes png and wav files; give format="):
        load_data(tmp_path / "mix")
    assert load_data(tmp_path / "mix", format="png").values.shape == (1, 1, 2, 2)
    with pytest.raises(ValueError, match=r"^source: folder .* holds no .png files"):
        load_data(tmp_path / "empty", format="png")
    with pytest.raises(ValueError, match=r"^format: 'npy' is a format of files, but .* is a folder"):
        load_data(tmp_path / "mix", format="npy")
    with pytest.raises(ValueError, match=r"^format: expected one of npy, npz, idx, png, wav, text"):
        load_data(tmp_path / "mix", format="jpeg")
    with pytest.raises(ValueError, match=r"^format: applies to files, not to the built-in data set 'digits'"):
        load_data("digits", format="npy")
    with pytest.raises(TypeError, match=r"^source: expected a built-in name or a path, got int"):
        load_data(3)
    with pytest.raises(ValueError, match=r"^max_items: expected an int >= 1, got 0"):
        load_data(tmp_path / "mix", format="png", max_items=0)
    with pytest.raises(TypeError, match=r"^labels: expected a bool"):
        load_data(tmp_path / "mix", format="png", labels=1)


def test_sha256_detects_changed_data(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(12).reshape(3, 4))
    data = load_data(tmp_path / "a.npy")
    assert set(data.description) == {"source", "format", "levels", "sha256"}
    assert data.description["source"] == str((tmp_path / "a.npy").resolve())
    np.save(tmp_path / "a.npy", np.arange(12).reshape(3, 4)[::-1])
    with pytest.raises(ValueError, match=r"^sha256: the data loaded from .* differs from the recorded data"):
        reload(data)


def test_max_items_is_recorded(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(40).reshape(10, 4))
    data = load_data(tmp_path / "a.npy", max_items=3)
    assert torch.equal(data.values, torch.arange(12).reshape(3, 4)) and data.description["max_items"] == 3
    assert same(reload(data), data)


# ---------------------------------------------------------------------------- the record and its splits


def test_dataset_checks_its_values():
    ok = torch.tensor([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match=r"^values: expected integers in \[0, 1\] \(levels=2\), got \[0, 2\]"):
        Dataset(ok * 2, "sequence", 2)
    with pytest.raises(TypeError, match=r"^values: expected a torch.long tensor, got torch.float32"):
        Dataset(ok.float(), "sequence", 2)
    with pytest.raises(ValueError, match=r"^values: expected a non-empty \(N, C, H, W\) tensor for kind 'image'"):
        Dataset(ok, "image", 2)
    with pytest.raises(ValueError, match=r"^kind: expected one of image, audio, text, sequence"):
        Dataset(ok, "video", 2)
    with pytest.raises(ValueError, match=r"^context: expected labels in \[0, 0\] \(num_classes=1\), got \[0, 1\]"):
        Dataset(ok, "sequence", 2, context=torch.tensor([0, 1]), num_classes=1)
    with pytest.raises(ValueError, match=r"^context: expected a torch.long tensor of shape \(2,\)"):
        Dataset(ok, "sequence", 2, context=torch.tensor([0]), num_classes=1)
    with pytest.raises(ValueError, match=r"^sample_rate: expected an int for audio and None otherwise"):
        Dataset(ok, "audio", 2)
    with pytest.raises(ValueError, match=r"^fixed_split: expected a Split of size 2, got size 3"):
        Dataset(ok, "sequence", 2, fixed_split=Split.random(3, fractions=(1.0, 0.0, 0.0)))
    with pytest.raises(TypeError, match=r"^description: expected a JSON-serialisable dict"):
        Dataset(ok, "sequence", 2, description={"x": torch.zeros(1)})


def test_split_reproducible_disjoint_covering():
    a, b, c = Split.random(103, seed=0), Split.random(103, seed=0), Split.random(103, seed=1)
    assert all(torch.equal(a[p], b[p]) for p in ("train", "val", "test"))
    assert not torch.equal(a.train, c.train)
    assert [len(a.train), len(a.val), len(a.test)] == [83, 10, 10]
    assert torch.equal(torch.cat([a.train, a.val, a.test]).sort().values, torch.arange(103))
    assert all(torch.equal(a[p], a[p].sort().values) for p in ("train", "val", "test"))
    restored = Split.from_dict(json.loads(json.dumps(a.to_dict())))
    assert all(torch.equal(restored[p], a[p]) for p in ("train", "val", "test"))
    assert (restored.seed, restored.method, restored.size, restored.fractions) == (0, "random", 103, (0.8, 0.1, 0.1))
    parts = a.apply(torch.arange(103) * 10)
    assert torch.equal(parts["val"], a.val * 10)
    odd = Split.random(50, seed=3, fractions=(0.5, 0.0, 0.5))
    assert len(odd.val) == 0 and len(odd.test) == 25


def test_split_errors():
    with pytest.raises(ValueError, match=r"^fractions: expected three numbers >= 0 .* got \(0.5, 0.5, 0.5\)"):
        Split.random(10, fractions=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match=r"^fractions: a val fraction of 0.01 of 10 items leaves the val part empty"):
        Split.random(10, fractions=(0.98, 0.01, 0.01))
    record = Split.random(10, seed=0).to_dict()
    with pytest.raises(ValueError, match=r"^train, val, test: expected disjoint parts"):
        Split.from_dict(record | {"val": record["train"][:1]})
    with pytest.raises(ValueError, match=r"^test: expected indices in \[0, 9\] \(size 10\), got \[10, 10\]"):
        Split.from_dict(record | {"test": [10]})
    with pytest.raises(ValueError, match=r"^record: expected the keys of Split.to_dict, missing \['seed'\]"):
        Split.from_dict({k: v for k, v in record.items() if k != "seed"})
    with pytest.raises(ValueError, match=r"^items: expected a tensor of 10 rows \(the split's size\), got \(9,\)"):
        Split.random(10).apply(torch.zeros(9))
    with pytest.raises(ValueError, match=r"^method: expected None, 'fixed' or 'random', got 'k-fold'"):
        Dataset(torch.zeros(4, 2, dtype=torch.long), "sequence", 2).split(method="k-fold")
    split = Split.random(np.int64(10), seed=np.int64(3))
    assert type(split.seed) is int and type(split.size) is int and json.dumps(split.to_dict())
    with pytest.raises(ValueError, match=r"^seed: a random split records its seed"):
        Split(torch.arange(2), torch.arange(2, 3), torch.arange(3, 4), seed=None, method="random", size=4)


def test_helpers():
    windows, labels, dropped = cut_windows([torch.arange(5), torch.arange(2), torch.arange(4)], 2, [0, 1, 2])
    assert windows.tolist() == [[0, 1], [2, 3], [0, 1], [0, 1], [2, 3]] and labels.tolist() == [0, 0, 1, 2, 2]
    assert dropped == 1
    v = torch.arange(256)
    for levels in (2, 3, 17, 255, 256):
        q, k = requantise(v, 256, levels)
        assert k == levels and int(q.max()) == levels - 1 and int(q.min()) == 0
        assert torch.equal(q, torch.tensor([math.floor(x * levels / 256) for x in range(256)]))
        assert torch.all(q[1:] >= q[:-1])  # monotone: each level a contiguous run


# ---------------------------------------------------------------------------- built-ins


def test_digits_keeps_tomczaks_split():
    from sklearn.datasets import load_digits

    from pyro_autoregressive.datasets import load_digits_split

    data = load_data("digits")
    digits = load_digits()
    assert data.values.shape == (1797, 1, 8, 8) and data.levels == 17 and data.num_classes == 10
    assert torch.equal(data.values.flatten(1), torch.as_tensor(digits.data, dtype=torch.long))
    assert torch.equal(data.context, torch.as_tensor(digits.target))
    split = data.split(seed=5)
    assert split.method == "fixed" and split.seed is None
    assert [(int(p[0]), int(p[-1]) + 1) for p in (split.train, split.val, split.test)] == list(DIGITS_SPLIT)
    assert Split.from_dict(json.loads(json.dumps(split.to_dict()))).to_dict() == split.to_dict()
    assert split.to_dict()["train"] == {"start": 0, "stop": 1000}  # the compact form of a run
    assert data.split(fractions=[0.8, 0.1, 0.1]).method == "fixed"  # the default fractions: the fixed split
    with pytest.raises(ValueError, match=r"^fractions: the data set's fixed split has its own parts, not \(0.5"):
        data.split(fractions=(0.5, 0.25, 0.25))  # never silently ignored
    drawn = data.split(seed=1, fractions=(0.5, 0.25, 0.25), method="random")
    assert drawn.method == "random" and len(drawn.train) == 1797 - 2 * 449
    old = load_digits_split()
    assert torch.equal(old["test"], torch.as_tensor(digits.data[1350:], dtype=torch.long))
    assert torch.equal(old["val"], torch.as_tensor(digits.data[1000:1350], dtype=torch.long))
    few = load_data("digits", max_items=100, levels=2)
    assert few.fixed_split is None and few.split().method == "random" and few.levels == 2
    with pytest.raises(ValueError, match=r"^method: this data set has no fixed split"):
        few.split(method="fixed")
    assert torch.equal(few.values, data.values[:100] * 2 // 17)
    assert same(reload(few), few)


def test_photos():
    data = load_data("photos", max_items=50)
    assert data.values.shape == (50, 3, 8, 8) and data.levels == 256 and data.kind == "image"
    from sklearn.datasets import load_sample_images

    china = torch.tensor(load_sample_images().images[0]).permute(2, 0, 1).long()  # (3, 427, 640)
    assert torch.equal(data.values[0], china[:, :8, :8]) and torch.equal(data.values[1], china[:, :8, 8:16])
    big = load_data("photos", patch_size=16, levels=16, max_items=3)
    assert big.event_shape == (3, 16, 16) and torch.equal(big.values[2], china[:, :16, 32:48] // 16)
    assert same(reload(big), big)
    with pytest.raises(ValueError, match=r"^patch_size: expected an int >= 1 <= 427, got 0"):
        load_data("photos", patch_size=0)
    with pytest.raises(ValueError, match=r"^length: does not apply to the built-in data set 'photos'"):
        load_data("photos", length=8)


@pytest.mark.skipif(importlib.util.find_spec("pygame") is None, reason="pygame is not installed")
def test_pygame_sounds():
    data = load_data("pygame-sounds", audio_encoding="linear", length=512, max_items=30)
    assert data.kind == "audio" and data.sample_rate == 11025 and data.values.shape == (30, 512)
    assert data.info["skipped_files"] == ["secosmic_lo.wav"]  # MS ADPCM, not PCM
    from pyro_autoregressive.data.builtin import pygame_sound_files

    with wave.open(str(pygame_sound_files()[0][0]), "rb") as file:  # boom.wav: the first, 8-bit PCM
        raw = np.frombuffer(file.readframes(512), np.uint8)
    assert torch.equal(data.values[0], torch.from_numpy(raw.astype(np.int64)))  # linear 256: the bytes exactly
    assert same(reload(data), data)


def test_stdlib_text():
    data = load_data("stdlib-text", max_items=20, length=128)
    assert data.kind == "text" and data.values.shape == (20, 128) and data.description["max_bytes"] == 2_000_000
    import sysconfig
    from pathlib import Path

    first = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))[0].read_bytes()
    assert bytes(data.values[0].tolist()) == first[:128]
    small = load_data("stdlib-text", max_bytes=1000, length=100)
    assert small.info["bytes"] == 1000 and same(reload(small), small)
