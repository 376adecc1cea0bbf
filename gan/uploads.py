"""Reading what users upload, without trusting it: zips of images and CSVs of 2-D points.

A zip is never extracted to disk: members are listed, checked (names, types, sizes, count, compression ratio) and
read into memory one by one with zf.open(); PIL's decompression-bomb check stays on. Anything refused gets a
message that names the member and the rule it broke.
"""
from __future__ import annotations

import io
import logging
import stat
import warnings
import zipfile
from pathlib import Path, PurePosixPath

from gan.data import IMAGE_SUFFIXES, as_training_mode
from gan.errors import GanInputError

log = logging.getLogger(__name__)

MAX_MEMBERS = 20_000
MAX_MEMBER_BYTES = 20 * 2 ** 20          # one image, uncompressed
MAX_TOTAL_BYTES = 512 * 2 ** 20          # the whole archive, uncompressed
MAX_RATIO = 200                          # uncompressed / compressed, per member (zip bombs reach 1000+)


def check_member(info: zipfile.ZipInfo) -> str | None:
    """Why a member is refused outright (the whole upload is then refused), or None."""
    name = info.filename
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return f"{name!r} has an absolute path"
    if ".." in path.parts:
        return f"{name!r} points outside the archive (..)"
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return f"{name!r} is a symbolic link"
    return None


def read_image_zip(path: str | Path) -> list:
    """The images of an uploaded zip as PIL images (RGB or L). Nested zips and non-image members are skipped;
    unsafe members refuse the upload."""
    from PIL import Image

    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise GanInputError(f"{Path(path).name} is not a zip file ({e})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise GanInputError(f"the zip holds {len(infos):,} members; at most {MAX_MEMBERS:,} are accepted")
        total = 0
        for info in infos:
            reason = check_member(info)
            if reason:
                raise GanInputError(f"refused: {reason}")
            total += info.file_size
            if info.file_size > MAX_MEMBER_BYTES:
                raise GanInputError(f"refused: {info.filename!r} would inflate to {info.file_size:,} bytes "
                                    f"(limit {MAX_MEMBER_BYTES:,})")
            if info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
                raise GanInputError(f"refused: {info.filename!r} is compressed {info.file_size // info.compress_size}"
                                    f":1, a zip bomb's ratio (limit {MAX_RATIO}:1)")
        if total > MAX_TOTAL_BYTES:
            raise GanInputError(f"refused: the zip would inflate to {total:,} bytes (limit {MAX_TOTAL_BYTES:,})")
        images, skipped = [], 0
        for info in infos:
            if info.is_dir() or PurePosixPath(info.filename).suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                with zf.open(info) as f:
                    data = f.read(MAX_MEMBER_BYTES + 1)  # the header's size can lie: never read past the cap
                if len(data) > MAX_MEMBER_BYTES:
                    raise GanInputError(f"{info.filename!r} is larger than its header says")
                with warnings.catch_warnings():
                    warnings.simplefilter("error", Image.DecompressionBombWarning)
                    with Image.open(io.BytesIO(data)) as im:
                        im.load()
                        images.append(as_training_mode(im))
            except GanInputError:
                raise
            except Exception as e:  # not an image, truncated, a bomb: skip it and say so
                skipped += 1
                log.warning("skipping %s: %s", info.filename, e)
        if not images:
            raise GanInputError(f"no readable images in {Path(path).name}"
                                + (f" ({skipped} image files could not be read)" if skipped else ""))
        if skipped:
            log.warning("%d image files in %s could not be read and were skipped", skipped, Path(path).name)
        return images
