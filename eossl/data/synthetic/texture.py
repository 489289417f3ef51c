"""Texture: pixel-scale variation within each class (crowns, roofs, furrows).

A 3-pixel octave and per-pixel noise are added to the landscape's texture field;
the reflective bands scale by a per-class amplitude of it, jittered per parcel.
"""

from __future__ import annotations

import numpy as np

from eossl.data.synthetic.landcover import _K, _LandCover
from eossl.data.synthetic.noise import _F32, _SPLINE_STD, _bspline, _grid, _upsample

# per-class texture amplitude (relative brightness)
_TEX_AMP = np.array([0.03, 0.12, 0.06, 0.08, 0.22, 0.10, 0.03], _F32)


def _texture_fields(rng: np.random.Generator, f_tex: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Texture: ``f_tex`` plus a 3-pixel B-spline octave (in place), and per-pixel noise."""
    H = f_tex.shape[0]
    o3, n3 = _grid(0.0, H - 1.0, 3.0)
    m3 = _bspline(np.arange(H), o3, 3.0, n3)
    f_tex3 = _upsample(rng.standard_normal((n3, n3), dtype=_F32), m3, m3)
    f_tex3 *= _F32(1 / _SPLINE_STD)
    f_tex += f_tex3
    f_tex *= _F32(0.7)
    tex_n = rng.standard_normal((H, H), dtype=_F32)
    return f_tex, tex_n


def _brightness_texture(
    rng: np.random.Generator, cover: _LandCover, f_tex: np.ndarray, tex_n: np.ndarray
) -> np.ndarray:
    """Relative brightness per pixel, (H, W) in [0.5, 1.8]; each parcel a little different."""
    label = cover.label
    tex = _TEX_AMP[label] * (f_tex + _F32(0.5) * tex_n)
    tex += 1
    if cover.p_class is not None:
        n_parcels = len(cover.p_class)
        jit = np.ones(_K + n_parcels, _F32)
        jit[_K:] = rng.uniform(0.85, 1.15, n_parcels)
        tex *= jit[cover.gid]
    np.clip(tex, 0.5, 1.8, out=tex)
    return tex
