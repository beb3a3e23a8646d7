"""Option checks made before any work, so a bad option fails in a second, not after the read."""

from __future__ import annotations

from segmint.errors import SegmintError

__all__ = ["check_customers", "check_options"]


def check_options(
    k: int | None,
    k_range: tuple[int, int],
    scale: str,
    gmm_criterion: str,
    mixture: str = "count",
) -> None:
    """Fail before any work on a k, k range, scale, criterion or mixture that cannot be used."""
    from segmint.cluster import CRITERIA, MIXTURES, SCALES

    lo, hi = k_range
    if lo < 1 or hi < lo:
        raise SegmintError(f"--k-range {lo}..{hi}: use 1 <= LOW <= HIGH, e.g. --k-range 1..10")
    if k is not None and k < 1:
        raise SegmintError(f"--k {k}: use a k of at least 1, or leave --k out to choose it")
    if k is not None and not lo <= k <= hi:
        raise SegmintError(
            f"--k {k} is outside --k-range {lo}..{hi}; widen it, e.g. "
            f"--k-range {min(lo, k)}..{max(hi, k)}"
        )
    if scale not in SCALES:
        raise SegmintError(f"--scale {scale}: use one of {', '.join(SCALES)}")
    if gmm_criterion not in CRITERIA:
        raise SegmintError(f"--gmm-criterion {gmm_criterion}: use one of {', '.join(CRITERIA)}")
    if mixture not in MIXTURES:
        raise SegmintError(f"--mixture {mixture}: use one of {', '.join(MIXTURES)}")


def check_customers(source: str, n: int, k: int | None, k_range: tuple[int, int]) -> None:
    """Fail when there are too few customers for the k asked for or searched."""
    lo, hi = k_range
    if n < 2:
        raise SegmintError(
            f"{source} has {n} customer after cleaning; segments need at least 2: check the "
            "customer id column, or use segmint features for the customer table alone"
        )
    if k is not None and n < k:
        raise SegmintError(
            f"{source} has {n} customers after cleaning, fewer than --k {k}; choose --k {n} or less"
        )
    if n < hi:
        raise SegmintError(
            f"{source} has {n} customers after cleaning, fewer than the largest k searched "
            f"(--k-range {lo}..{hi}); pass --k-range {min(lo, n)}..{n}"
        )
