"""Reading image files into RGB uint8 arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .face import MAX_FRAME_SIDE


def load_image(path: str | Path) -> np.ndarray:
    """Decode an image file to ``HxWx3`` RGB uint8 (greyscale, palette and RGBA are converted).

    Raises ``ValueError`` for files that are not images or are larger than MAX_FRAME_SIDE a side.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if max(image.size) > MAX_FRAME_SIDE:
                raise ValueError(f"image is {image.size[0]}x{image.size[1]}; at most {MAX_FRAME_SIDE} pixels a side")
            image.load()
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
        raise ValueError(f"cannot read {Path(path).name} as an image: {error}") from error
