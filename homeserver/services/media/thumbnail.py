"""Thumbnails: which configured size answers a request, and making it with Pillow.

Only raster images Pillow decodes with one of ``_DECODERS`` are thumbnailed;
the stored content type is not trusted for that choice (the file's own bytes
decide) and SVG is never rendered. Decoding runs in a thread, after checking
the pixel count from the header against ``media.max_image_pixels`` so a small
file can't expand into gigabytes (a decompression bomb). The EXIF orientation
is applied, so a photo taken sideways is thumbnailed upright.

Animated GIF and WebP images give an animated thumbnail of the same format
when the client asks for ``animated=true`` (at most ``MAX_FRAMES`` frames, and
no more decoded pixels than ``max_pixels`` over all frames); otherwise a static
thumbnail of their first frame.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

#: Pillow decoders we allow, by the format name Pillow reports.
_DECODERS = ("JPEG", "PNG", "GIF", "WEBP", "BMP")
#: Content types a thumbnail may be made from.
THUMBNAILABLE_TYPES = frozenset(
    {"image/jpeg", "image/jpg", "image/png", "image/apng", "image/gif", "image/webp", "image/bmp"}
)


#: Source types that may give an animated thumbnail.
ANIMATABLE_TYPES = frozenset({"image/gif", "image/webp"})
#: Content types of animated thumbnails (static ones are PNG or JPEG).
ANIMATED_OUTPUT_TYPES = frozenset({"image/gif", "image/webp"})
#: Frames kept in an animated thumbnail; later frames are dropped.
MAX_FRAMES = 100


@dataclass(frozen=True, slots=True)
class Target:
    width: int
    height: int
    method: str  # "crop" | "scale"


class NotAnImage(Exception):
    """The bytes are not an image we thumbnail."""


class TooManyPixels(Exception):
    """The image is larger than media.max_image_pixels."""


@dataclass(frozen=True, slots=True)
class Rendered:
    data: bytes
    content_type: str
    ext: str
    width: int
    height: int


def choose_target(sizes: Sequence[Target], width: int, height: int, method: str) -> Target:
    """The configured size that best answers a request for ``width`` x ``height``.

    The smallest size of the requested method that covers the request wins;
    when none covers it, the largest of that method; sizes of the other method
    are used only when none of the requested one is configured.

    Args:
        sizes: the configured sizes (at least one).
    """
    same = [s for s in sizes if s.method == method] or list(sizes)
    covering = [s for s in same if s.width >= width and s.height >= height]
    if covering:
        return min(covering, key=lambda s: (s.width * s.height, s.width))
    return max(same, key=lambda s: (s.width * s.height, s.width))


def render(path: Path, target: Target, max_pixels: int, *, animated: bool = False) -> Rendered:
    """Makes the thumbnail of the image at ``path`` (blocking: run it in a thread).

    Args:
        animated: keep the frames of an animated GIF or WebP.

    Raises:
        NotAnImage: not a raster image we decode.
        TooManyPixels: more pixels than ``max_pixels``.
    """
    with warnings.catch_warnings():
        # Our own pixel check below replaces Pillow's global bomb warning.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(path, formats=_DECODERS)
        except Image.DecompressionBombError as e:
            raise TooManyPixels(str(e)) from e
        except (OSError, ValueError, SyntaxError) as e:
            raise NotAnImage(str(e)) from e
        with img:
            src_w, src_h = img.size
            if src_w < 1 or src_h < 1:
                raise NotAnImage("empty image")
            if src_w * src_h > max_pixels:
                raise TooManyPixels(f"{src_w}x{src_h}")
            source_format = img.format
            try:
                if source_format == "JPEG":
                    # Decode at a reduced scale when the target is much smaller.
                    img.draft("RGB", (target.width, target.height))
                frames = getattr(img, "n_frames", 1)
                if animated and frames > 1 and source_format in ("GIF", "WEBP"):
                    return _render_animated(img, target, max_pixels, source_format)
                img.seek(0)
                frame = ImageOps.exif_transpose(img)
                out = _resize(frame, target)
                return _encode(out, as_jpeg=source_format == "JPEG")
            except (OSError, ValueError, SyntaxError, EOFError) as e:
                raise NotAnImage(str(e)) from e


def _render_animated(
    img: Image.Image, target: Target, max_pixels: int, source_format: str
) -> Rendered:
    src_w, src_h = img.size
    count = min(int(getattr(img, "n_frames", 1)), MAX_FRAMES, max(1, max_pixels // (src_w * src_h)))
    frames: list[Image.Image] = []
    durations: list[int] = []
    for index in range(count):
        img.seek(index)
        durations.append(int(img.info.get("duration", 100)))
        frames.append(_resize(img.convert("RGBA"), target))
    buf = io.BytesIO()
    first, rest = frames[0], frames[1:]
    loop = int(img.info.get("loop", 0))
    if source_format == "GIF":
        first.save(
            buf,
            "GIF",
            save_all=True,
            append_images=rest,
            duration=durations,
            loop=loop,
            disposal=2,
        )
        return Rendered(buf.getvalue(), "image/gif", "gif", first.width, first.height)
    first.save(
        buf,
        "WEBP",
        save_all=True,
        append_images=rest,
        duration=durations,
        loop=loop,
        quality=80,
    )
    return Rendered(buf.getvalue(), "image/webp", "webp", first.width, first.height)


def _resize(img: Image.Image, target: Target) -> Image.Image:
    src_w, src_h = img.size
    if img.mode not in ("RGB", "RGBA", "L", "LA"):
        img = img.convert("RGBA" if _has_alpha(img) else "RGB")
    if target.method == "crop":
        # Scale so the image covers the box, then cut the middle.
        return ImageOps.fit(img, (target.width, target.height), Image.Resampling.LANCZOS)
    # Scale to fit inside the box, keeping the aspect ratio; never enlarge.
    ratio = min(target.width / src_w, target.height / src_h, 1.0)
    size = (max(1, round(src_w * ratio)), max(1, round(src_h * ratio)))
    if size == img.size:
        return img.copy()
    return img.resize(size, Image.Resampling.LANCZOS)


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info


def _encode(img: Image.Image, *, as_jpeg: bool) -> Rendered:
    buf = io.BytesIO()
    if as_jpeg:
        if img.mode != "RGB":
            img = img.convert("RGB")
        img.save(buf, "JPEG", quality=80, optimize=True)
        return Rendered(buf.getvalue(), "image/jpeg", "jpg", img.width, img.height)
    img.save(buf, "PNG", optimize=True)
    return Rendered(buf.getvalue(), "image/png", "png", img.width, img.height)
