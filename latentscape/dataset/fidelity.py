"""What the images show (`latentscape info DIR --fidelity`): how much of each image the object
covers, how much of it is clipped white, how well it stands out from what surrounds it.

Per image (stored while rendering from latentscape 0.4 on, in meta/; older datasets need the mask
pass for clipping and contrast):
    visible    fraction of the image's pixels covered by the object (meta/visible_fraction)
    clipped    fraction of the object's pixels (mask = 255) with all three channels >= 254
    contrast   |mean sRGB luminance of the object's pixels - that of a 3-px ring around them|,
               in 0..255 (Rec. 709 weights on the 8-bit sRGB values)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from latentscape.dataset.reader import DatasetReader
from latentscape.latents import appearance

LUMA = np.array(appearance.LUMA)  # Rec. 709, as the contrast is predicted
RING_PX = 3
CLIP_LEVEL = 254


def ring(mask: np.ndarray, width: int = RING_PX) -> np.ndarray:
    """Pixels within `width` px (8-neighbour steps) of `mask` but not in it."""
    grown = mask.copy()
    for _ in range(width):
        g = grown.copy()
        g[1:] |= grown[:-1]
        g[:-1] |= grown[1:]
        g[:, 1:] |= grown[:, :-1]
        g[:, :-1] |= grown[:, 1:]
        g[1:, 1:] |= grown[:-1, :-1]
        g[:-1, :-1] |= grown[1:, 1:]
        g[1:, :-1] |= grown[:-1, 1:]
        g[:-1, 1:] |= grown[1:, :-1]
        grown = g
    return grown & ~mask


def image_fidelity(image: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(clipped fraction of the object's pixels, contrast to its ring); NaN without object pixels."""
    obj = mask == 255
    if not obj.any():
        return float("nan"), float("nan")
    clipped = float((image[obj] >= CLIP_LEVEL).all(-1).mean())
    inside, around = object_and_ring(image, mask)
    return clipped, float(abs(inside - around))


def object_and_ring(image: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Mean 0..255 luminance of the object's pixels (mask 255) and of the 3-px ring around them, the
    two sides of the contrast; NaN for a side with no pixel."""
    obj, around = mask == 255, ring(mask > 127)
    lum = image.astype(np.float64) @ LUMA
    return (float(lum[obj].mean()) if obj.any() else float("nan"),
            float(lum[around].mean()) if around.any() else float("nan"))


def measure(root, limit: int | None = None) -> dict:
    """Per-image arrays: visible, clipped, contrast (NaN where unknown), category, background_id."""
    with DatasetReader(root) as r:
        lat = r.latents()
        n = len(lat["index"]) if limit is None else min(limit, len(lat["index"]))
        stored = "meta/clipped_fraction" in lat and "meta/contrast" in lat  # measured while rendering (0.4 on)
        has_masks = stored or r.has_masks()
        clipped = np.full(n, np.nan)
        contrast = np.full(n, np.nan)
        if stored:
            clipped[:], contrast[:] = lat["meta/clipped_fraction"][:n], lat["meta/contrast"][:n]
        elif has_masks:
            for i, index in enumerate(lat["index"][:n]):
                clipped[i], contrast[i] = image_fidelity(r.image(int(index)), r.mask(int(index)))
        categories = list(r.categories)
        solid_kinds = [b.get("kind") in ("color", "backdrop") for b in r.manifest.get("backgrounds", [])]
    visible = lat.get("meta/visible_fraction", np.full(len(lat["index"]), np.nan))[:n].astype(np.float64)
    return {"visible": visible, "clipped": clipped, "contrast": contrast, "has_masks": has_masks,
            "category": lat["category"][:n], "background_id": lat["background_id"][:n],
            "categories": categories, "solid_backgrounds": solid_kinds}


def summarise(m: dict, contrast_threshold: float = 10.0, clip_share: float = 0.2) -> dict:
    """The numbers of docs/fidelity.md from `measure`'s arrays."""
    v, c, k = m["visible"], m["clipped"], m["contrast"]
    n = len(v)
    out = {"images": n, "empty": int(np.sum(v == 0)), "under_0.1%": int(np.sum(v < 0.001)),
           "under_1%": int(np.sum(v < 0.01)),
           "visible_q05_q50_q95": [float(x) for x in np.nanquantile(v, [0.05, 0.5, 0.95])] if n else None}
    per_cat = {}
    for j, name in enumerate(m["categories"]):
        sel = m["category"] == j
        if sel.any():
            per_cat[name] = float(np.median(v[sel]))
    if per_cat:
        lo, hi = min(per_cat.values()), max(per_cat.values())
        out["category_median_visible"] = {"min": lo, "max": hi, "ratio": hi / lo if lo > 0 else None,
                                          "smallest": min(per_cat, key=per_cat.get),
                                          "largest": max(per_cat, key=per_cat.get)}
    if m["has_masks"]:
        out[f"clipped_over_{int(clip_share * 100)}%"] = int(np.sum(c > clip_share))
        out["clipped_over_50%"] = int(np.sum(c > 0.5))
        out[f"contrast_under_{contrast_threshold:g}"] = int(np.sum(k < contrast_threshold))
        kinds = m["solid_backgrounds"]
        solid = np.array([0 <= b < len(kinds) and kinds[b] for b in m["background_id"]], dtype=bool)
        out["solid_background_images"] = int(solid.sum())
        out[f"solid_contrast_under_{contrast_threshold:g}"] = int(np.sum(k[solid] < contrast_threshold))
        out["contrast_median"] = float(np.nanmedian(k)) if np.isfinite(k).any() else None
    return out


def report(root, limit: int | None = None) -> str:
    """The `info --fidelity` text."""
    m = measure(root, limit)
    s = summarise(m)
    q = s["visible_q05_q50_q95"]
    lines = [f"fidelity of {s['images']} image(s) of {Path(root)}",
             f"  visible fraction  5% {q[0]:.4f}  median {q[1]:.4f}  95% {q[2]:.4f}",
             f"  empty images      {s['empty']}   under 0.1%: {s['under_0.1%']}   under 1%: {s['under_1%']}"]
    pc = s.get("category_median_visible")
    if pc:
        ratio = f"{pc['ratio']:.1f}x" if pc["ratio"] else "inf"
        lines.append(f"  per category      median visible {pc['min']:.4f} ({pc['smallest']}) .. "
                     f"{pc['max']:.4f} ({pc['largest']}): {ratio}")
    if m["has_masks"]:
        lines.append(f"  clipped           {s['clipped_over_20%']} image(s) with > 20% of the object's pixels "
                     f"clipped, {s['clipped_over_50%']} with > 50%")
        lines.append(f"  contrast          median {s['contrast_median']:.1f}/255; under 10/255: "
                     f"{s['contrast_under_10']} image(s), {s['solid_contrast_under_10']} of "
                     f"{s['solid_background_images']} on solid backgrounds")
    else:
        lines.append("  clipping and contrast need the mask pass (render with --passes mask)")
    return "\n".join(lines)
