"""The discrete candidate set of a campaign: every pixel of the overview image.

Each candidate is one pixel of the overview, with its position (nm) and the
image patch centred on it (the image is mirrored at its borders so that edge
pixels have full patches). Agents index candidates ``0 .. N-1`` in row-major
order (``index = row * W + col``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autoscope.errors import ConfigurationError

__all__ = ["CandidateSet", "default_patch_size", "extract_patches", "pca_scores"]


def pca_scores(flat: np.ndarray, components: int) -> np.ndarray:
    """Leading principal-component scores of ``flat`` ``(N, D)``, unit variance on the first."""
    centered = flat - flat.mean(0)
    k = int(min(components, *centered.shape))
    _, sv, vt = np.linalg.svd(centered, full_matrices=False)
    scores = centered @ vt[:k].T
    return scores / max(sv[0] / np.sqrt(len(flat)), np.finfo(float).tiny)


def default_patch_size(shape: tuple[int, int]) -> int:
    """An odd patch size that suits an image of ``shape``: about 1/5 of the short side, 3 to 13.

    20 x 20 -> 5, 64 x 64 -> 13 (a patch must see a domain wall and what is
    around it; on the PFM twin at 64 x 64, 13 explains the loop area better
    than 5 or 9).
    """
    side = min(shape)
    size = int(np.clip(round(side / 5), 3, 13))
    return size if size % 2 == 1 else size + 1


def extract_patches(image: np.ndarray, patch_size: int) -> np.ndarray:
    """Every ``patch_size x patch_size`` patch centred on a pixel of ``image``.

    Parameters
    ----------
    image : array, shape ``(H, W)``
    patch_size : int, odd, at least 1

    Returns
    -------
    float64 array, shape ``(H * W, patch_size, patch_size)``, row-major over pixels.
    """
    img = np.asarray(image, dtype=float)
    if img.ndim != 2:
        raise ConfigurationError(f"overview image must be 2-D (H, W), got shape {img.shape}")
    if patch_size < 1 or patch_size % 2 == 0:
        raise ConfigurationError(f"patch size must be an odd number >= 1, got {patch_size}")
    half = patch_size // 2
    if half >= min(img.shape):
        raise ConfigurationError(
            f"patch size {patch_size} is too large for an image of shape {img.shape}"
        )
    padded = np.pad(img, half, mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (patch_size, patch_size))
    return windows.reshape(-1, patch_size, patch_size).copy()


@dataclass
class CandidateSet:
    """Positions and image patches of every candidate.

    Attributes
    ----------
    image : array ``(H, W)``, the overview image as measured
    positions : array ``(N, 2)``, (x, y) in ``units`` of every candidate
    patches : array ``(N, p, p)``, normalised patches (zero mean, unit std over the image)
    shape : ``(H, W)``
    units : str
    """

    image: np.ndarray
    positions: np.ndarray
    patches: np.ndarray
    shape: tuple[int, int]
    units: str = "nm"

    @classmethod
    def from_image(
        cls,
        image: np.ndarray,
        patch_size: int | None = None,
        pixel_size: float = 1.0,
        origin: tuple[float, float] = (0.0, 0.0),
        units: str = "nm",
    ) -> CandidateSet:
        """Candidates from an overview image.

        Pixel ``(row, col)`` sits at ``x = origin_x + (col + 0.5) * pixel_size``,
        ``y = origin_y + (row + 0.5) * pixel_size`` (rows run up the image, as the
        scan lines of :class:`autoscope.devices.backend.ScanFrame`).
        """
        img = np.asarray(image, dtype=float)
        if img.ndim != 2:
            raise ConfigurationError(f"overview image must be 2-D (H, W), got shape {img.shape}")
        if not np.isfinite(img).all():
            raise ConfigurationError(
                f"overview image holds {int((~np.isfinite(img)).sum())} non-finite pixels"
            )
        if not pixel_size > 0:
            raise ConfigurationError(f"pixel size must be positive, got {pixel_size}")
        p = default_patch_size(img.shape) if patch_size is None else int(patch_size)
        std = img.std()
        norm = (img - img.mean()) / (std if std > 0 else 1.0)
        patches = extract_patches(norm, p)
        h, w = img.shape
        rows, cols = np.mgrid[0:h, 0:w]
        x = origin[0] + (cols.ravel() + 0.5) * pixel_size
        y = origin[1] + (rows.ravel() + 0.5) * pixel_size
        return cls(img, np.column_stack([x, y]), patches, (h, w), units)

    def __len__(self) -> int:
        return self.positions.shape[0]

    @property
    def patch_size(self) -> int:
        return self.patches.shape[-1]

    def nearest(self, xy: np.ndarray) -> np.ndarray:
        """Index of the candidate nearest to each position, ``xy`` of shape ``(n, 2)``."""
        xy = np.atleast_2d(np.asarray(xy, dtype=float))
        d2 = ((xy[:, None, :] - self.positions[None, :, :]) ** 2).sum(-1)
        return np.argmin(d2, axis=1)

    def normalized_positions(self) -> np.ndarray:
        """Positions scaled to the unit square, shape ``(N, 2)``."""
        lo = self.positions.min(0)
        span = np.maximum(self.positions.max(0) - lo, np.finfo(float).tiny)
        return (self.positions - lo) / span
