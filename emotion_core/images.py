"""Reading image files, and images a browser sends as data URLs, into RGB uint8 arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .face import MAX_FRAME_SIDE

MAX_DATA_URL_CHARS = 4_000_000  # a webcam frame as a JPEG data URL is tens of kilobytes; refuse far more


def load_image(path: str | Path) -> np.ndarray:
    """Decode an image file to ``HxWx3`` RGB uint8, turned upright as its EXIF orientation says.

    Greyscale, palette, RGBA, CMYK and 16-bit images are converted; an animation gives its first
    frame. Raises ``ValueError`` for files that are not images, are damaged, or are larger than
    MAX_FRAME_SIDE a side.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as image:
            if max(image.size) > MAX_FRAME_SIDE:
                raise ValueError(f"image is {image.size[0]}x{image.size[1]}; at most {MAX_FRAME_SIDE} pixels a side")
            image.load()
            upright = ImageOps.exif_transpose(image)
            if upright.mode.startswith("I;16"):  # 16-bit grey: keep the top 8 bits rather than clip at 255
                upright = Image.fromarray((np.asarray(upright, dtype=np.uint32) >> 8).clip(0, 255).astype(np.uint8))
            return np.asarray(upright.convert("RGB"), dtype=np.uint8)
    except UnidentifiedImageError as error:
        raise ValueError(f"cannot read {path.name} as an image: not a format Pillow reads "
                         "(JPEG, PNG, WebP, GIF, BMP, TIFF...)") from error
    except (OSError, SyntaxError, Image.DecompressionBombError) as error:  # damaged data; message without our path
        raise ValueError(f"cannot read {path.name} as an image: {str(error).replace(str(path), path.name)}") from error



def decode_image_bytes(data: bytes) -> np.ndarray:
    """An encoded image (JPEG, PNG, WebP... as a browser sends it) -> ``HxWx3`` RGB uint8.

    Raises ``ValueError`` for data that is not an image, or an image over MAX_FRAME_SIDE a side (its
    size is read from the header, before decoding).
    """
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            if max(image.size) > MAX_FRAME_SIDE:
                raise ValueError(f"image is {image.size[0]}x{image.size[1]}; at most {MAX_FRAME_SIDE} pixels a side")
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as error:
        raise ValueError(f"the data holds no readable image: {error}") from None


def decode_data_url(url: str) -> np.ndarray:
    """A ``data:image/...;base64,`` URL (what a browser canvas gives) -> ``HxWx3`` RGB uint8.

    Raises ``ValueError`` for anything else: another scheme, bad base64, data that is not an image,
    or a URL longer than MAX_DATA_URL_CHARS.
    """
    import base64
    import binascii

    if not isinstance(url, str) or not url.startswith("data:image/") or ";base64," not in url[:64]:
        raise ValueError("expected an image as a base64 data URL (data:image/...;base64,...)")
    if len(url) > MAX_DATA_URL_CHARS:
        raise ValueError(f"the image data URL has {len(url)} characters; at most {MAX_DATA_URL_CHARS}")
    try:
        data = base64.b64decode(url.split(",", 1)[1], validate=True)
    except binascii.Error as error:
        raise ValueError(f"the image data URL is not valid base64: {error}") from None
    return decode_image_bytes(data)
