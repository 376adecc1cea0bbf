"""Reading what users bring, without trusting it: folders and zips of images, CSVs of 2-D points. gan.data turns
what these return into datasets.

A zip is never extracted to disk: members are listed, checked (names, types, sizes, count, compression ratio) and
read into memory one by one with zf.open(); PIL's decompression-bomb check stays on. Anything refused gets a
message that names the member and the rule it broke.

Every image file, from a folder or a zip, becomes pixels in one place, decode_image: upright (EXIF orientation),
its first frame (GIF, APNG, WebP animations), transparency laid over a background colour, 16-bit scaled to 8-bit.
"""
from __future__ import annotations

import io
import logging
import math
import stat
import warnings
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np

from gan.errors import FieldError, GanInputError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
MAX_FOLDER_IMAGES = 100_000
MAX_CSV_BYTES = 50 * 2 ** 20
MAX_CSV_ROWS = 1_000_000
MAX_MEMBERS = 20_000
MAX_MEMBER_BYTES = 20 * 2 ** 20          # one image, uncompressed
MAX_TOTAL_BYTES = 512 * 2 ** 20          # the whole archive, uncompressed
MAX_RATIO = 200                          # uncompressed / compressed, per member (zip bombs reach 1000+)


WHITE = (255, 255, 255)                 # what transparent pixels are laid over unless a user picks a colour
GREY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"}
SIXTEEN_BIT_MODES = {"I", "I;16", "I;16L", "I;16B", "I;16N"}   # PIL reads a 16-bit grayscale PNG or TIFF as these


def background_rgb(value) -> tuple[int, int, int]:
    """The colour transparent pixels are laid over, from what a user typed (TrainConfig.background, --background):
    anything PIL.ImageColor.getrgb reads (a name such as white or black, #rgb, #rrggbb, rgb(...), hsl(...)), and
    opaque. Anything else is a FieldError on `background`."""
    from PIL import ImageColor

    rule = "must be a colour: a name such as white or black, or #rrggbb"
    if not isinstance(value, str) or not value.strip():
        raise FieldError("background", rule, value)
    try:
        rgb = ImageColor.getrgb(value.strip())
    except ValueError:
        raise FieldError("background", rule, value) from None
    if len(rgb) == 4 and rgb[3] != 255:
        raise FieldError("background", "must be an opaque colour (transparent pixels are laid over it)", value)
    return tuple(int(v) for v in rgb[:3])


def sixteen_to_eight_bit(im):
    """A 16-bit grayscale image as 8-bit L, scaled by 255/65535 (v / 257, rounded): 0 is black and 65535 white,
    whatever range the file actually uses, as an image viewer shows it (PIL's own convert("L") clips at 255, which
    turns almost every 16-bit image white). Mode I (32-bit) is read as 16-bit: below 0 is black, above 65535
    white."""
    from PIL import Image

    values = np.clip(np.asarray(im).astype(np.int64), 0, 65535)
    return Image.fromarray(((values + 128) // 257).astype(np.uint8))


def _grey_and_alpha(im):
    """A grayscale image as 8-bit L, and its alpha (L) or None when it has no transparency."""
    from PIL import Image

    if im.mode in ("LA", "La"):
        la = im.convert("LA")
        return la.getchannel("L"), la.getchannel("A")
    grey = sixteen_to_eight_bit(im) if im.mode in SIXTEEN_BIT_MODES else im.convert("L")
    key = im.info.get("transparency")
    if not isinstance(key, int):
        return grey, None
    if im.mode in SIXTEEN_BIT_MODES:  # one grey value that is transparent (PNG's tRNS), compared at full depth
        return grey, Image.fromarray(np.where(np.asarray(im) == key, 0, 255).astype(np.uint8))
    return grey, im.convert("LA").getchannel("A") if im.mode in ("1", "L") else None


def as_training_mode(im, background: tuple[int, int, int] = WHITE):
    """An image as a person sees it, in the modes training takes: grayscale stays one channel (L), everything
    else (palette, CMYK, RGBA, ...) becomes RGB. Transparent pixels (an alpha channel, a palette's transparent
    entries, PNG's transparent colour) are laid over `background`, an (r, g, b); grayscale with transparency laid
    over a colour that is not grey becomes RGB. 16-bit grayscale is scaled to 8-bit (sixteen_to_eight_bit).
    gan.data then turns a folder's images into the dataset's channels (grey only if every image is L) and size."""
    from PIL import Image

    if im.mode in GREY_MODES:
        grey, alpha = _grey_and_alpha(im)
        if alpha is None:
            return grey
        if background[0] == background[1] == background[2]:
            base = Image.new("L", im.size, background[0])
        else:
            base, grey = Image.new("RGB", im.size, background), grey.convert("RGB")
        base.paste(grey, mask=alpha)
        return base
    if im.mode != "P" and "A" not in im.mode and "a" not in im.mode and "transparency" not in im.info:
        return im.convert("RGB")
    rgba = im.convert("RGBA")   # a palette's colours and its transparent entries, a colour key, premultiplied alpha
    base = Image.new("RGB", im.size, background)
    base.paste(rgba.convert("RGB"), mask=rgba.getchannel("A"))
    return base


def decode_image(source, background: tuple[int, int, int] = WHITE):
    """One image file (a path or a file object) decoded in full as a training-mode PIL image (as_training_mode):
    its first frame (an animated GIF, PNG or WebP), turned upright by its EXIF orientation (a phone's photo is
    stored sideways with a tag that says so). PIL's decompression-bomb warning is an error here. Raises whatever
    PIL raises for a file that is no image."""
    from PIL import Image, ImageOps

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(source) as im:
            im.load()  # Image.open stands on the first frame
            return as_training_mode(ImageOps.exif_transpose(im), background)


def read_image_folder(path: str | Path, background: tuple[int, int, int] = WHITE) -> list:
    """Every image under a folder as PIL images (RGB or L, see decode_image), at most MAX_FOLDER_IMAGES; unreadable
    files (corrupt, truncated, decompression bombs) are skipped with a warning."""
    folder = Path(path)
    if not folder.is_dir():
        raise GanInputError(f"{str(path)!r} is not a folder")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise GanInputError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found in {str(path)!r}")
    decoded, skipped = [], 0
    for p in files[:MAX_FOLDER_IMAGES]:
        try:
            decoded.append(decode_image(p, background))
        except Exception as e:  # corrupt, truncated, bomb, not an image: skip it and say so
            skipped += 1
            log.warning("skipping %s: %s", p.name, e)
    if not decoded:
        raise GanInputError(f"none of the {len(files)} image files in {str(path)!r} could be read")
    if skipped:
        log.warning("%d of %d files in %s were not readable images", skipped, len(files), path)
    return decoded


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


def read_image_zip(path: str | Path, background: tuple[int, int, int] = WHITE) -> list:
    """The images of an uploaded zip as PIL images (RGB or L, see decode_image). Nested zips and non-image members
    are skipped; unsafe members refuse the upload."""
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
                images.append(decode_image(io.BytesIO(data), background))
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


def read_points_csv(path: str | Path) -> np.ndarray:
    """x,y rows, with or without a header line; anything else is refused with the line that broke it."""
    p = Path(path)
    if not p.is_file():
        raise GanInputError(f"no such CSV file: {str(path)!r}")
    if p.stat().st_size > MAX_CSV_BYTES:
        raise GanInputError(f"{p.name} is larger than {MAX_CSV_BYTES // 2 ** 20} MB")
    lines = _count_lines(p)
    if lines > MAX_CSV_ROWS + 1:   # one line more for a header; counted before any is parsed, so a huge file is quick
        raise GanInputError(f"{p.name} has more than {MAX_CSV_ROWS:,} rows ({lines:,} lines)")
    rows = []
    with open(p, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            cells = [c.strip() for c in line.replace(";", ",").split(",")]
            try:
                values = [float(c) for c in cells]
            except ValueError:
                if number == 1 and not rows:
                    continue  # a header
                raise GanInputError(f"{p.name} line {number}: expected two numbers x,y, got {line[:60]!r}") from None
            if len(values) != 2:
                raise GanInputError(f"{p.name} line {number}: expected 2 columns (x,y), got {len(values)}")
            if not all(math.isfinite(v) for v in values):
                raise GanInputError(f"{p.name} line {number}: NaN or infinite value")
            rows.append(values)
            if len(rows) > MAX_CSV_ROWS:
                raise GanInputError(f"{p.name} has more than {MAX_CSV_ROWS:,} rows")
    if len(rows) < 2:
        raise GanInputError(f"{p.name} needs at least 2 points, found {len(rows)}")
    points = np.array(rows)
    check_distinct_points(points, p.name)
    return points


def _count_lines(path: Path) -> int:
    """Lines in a file (a last line without its newline counts), read in 1 MiB blocks."""
    count, last = 0, b"\n"
    with open(path, "rb") as f:
        while block := f.read(2 ** 20):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def check_distinct_points(points: np.ndarray, what: str) -> None:
    """At least two different points: copies of one point have no spread to standardise by and nothing for a GAN
    to learn but a dot (gan.data._points would divide by a zero standard deviation's stand-in and train on it)."""
    if len(np.unique(points, axis=0)) < 2:
        raise GanInputError(f"{what}: a GAN needs at least 2 distinct points, and all {len(points):,} rows are the "
                            f"same point {tuple(float(v) for v in points[0])}")
