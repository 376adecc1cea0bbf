"""Uploaded zips of images are read in memory and refused with a reason when unsafe."""
import io
import stat
import zipfile

import numpy as np
import pytest
from PIL import Image

from gan import uploads
from gan.data import load_dataset
from gan.errors import GanInputError


def png(size=(20, 20), mode="L"):
    buf = io.BytesIO()
    arr = np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr).convert(mode).save(buf, format="PNG" if mode != "CMYK" else "JPEG")
    return buf.getvalue()


def make_zip(path, members, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members:
            if isinstance(data, zipfile.ZipInfo):
                zf.writestr(data, name)
            else:
                zf.writestr(name, data)
    return path


def test_mixed_images_become_one_rgb_dataset(tmp_path):
    z = make_zip(tmp_path / "a.zip", [("a/1.png", png(mode="L")), ("2.png", png((40, 10), "RGBA")),
                                      ("3.png", png(mode="P")), ("4.jpg", png(mode="CMYK")),
                                      ("5.png", png()[:60]), ("notes.txt", b"hello"), ("fake.png", b"nope"),
                                      ("inner.zip", make_zip(tmp_path / "in.zip", [("x.png", png())]).read_bytes())])
    ds = load_dataset(f"zip:{z}", image_size=32)
    assert ds.data.shape == (4, 3, 32, 32)


def symlink_member():
    info = zipfile.ZipInfo("link.png")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize("members,words", [
    ([("../evil.png", png())], "outside the archive"),
    ([("/etc/evil.png", png())], "absolute path"),
    ([("C:/evil.png", png())], "absolute path"),
    ([("/etc/passwd", symlink_member())], "symbolic link"),
    ([("bomb.png", b"\0" * (5 * 2 ** 20))], "zip bomb"),
    ([], "no readable images"),
    ([("only.txt", b"text")], "no readable images"),
    ([("n.zip", b"PK\x03\x04 nested")], "no readable images"),
])
def test_unsafe_or_empty_zips_are_refused(tmp_path, members, words):
    z = make_zip(tmp_path / "z.zip", members)
    with pytest.raises(GanInputError, match=words):
        uploads.read_image_zip(z)


def test_not_a_zip_and_too_many_members(tmp_path, monkeypatch):
    bad = tmp_path / "x.zip"
    bad.write_bytes(b"this is not a zip")
    with pytest.raises(GanInputError, match="not a zip"):
        uploads.read_image_zip(bad)
    monkeypatch.setattr(uploads, "MAX_MEMBERS", 50)
    many = make_zip(tmp_path / "many.zip", [(f"{i}.png", png((4, 4))) for i in range(51)])
    with pytest.raises(GanInputError, match="members"):
        uploads.read_image_zip(many)


def test_total_size_cap(tmp_path, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_TOTAL_BYTES", 10_000)
    z = make_zip(tmp_path / "big.zip", [(f"{i}.png", png((60, 60))) for i in range(5)], zipfile.ZIP_STORED)
    with pytest.raises(GanInputError, match="inflate"):
        uploads.read_image_zip(z)


def test_thousands_of_tiny_members_are_fine(tmp_path):
    z = make_zip(tmp_path / "tiny.zip", [(f"{i}.png", png((4, 4))) for i in range(2000)])
    assert len(uploads.read_image_zip(z)) == 2000
