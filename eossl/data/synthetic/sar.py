"""SAR bands: backscatter in dB, co-pol (VV/HH) and cross-pol (VH/HV).

Per-class backscatter with a seasonal term for vegetation (crops above all),
texture, a scene calibration offset, wet snow dark and lake ice bright, and
multiplicative gamma speckle of a Sentinel-1 IW GRDH product.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from eossl.data.synthetic.landcover import WATER
from eossl.data.synthetic.noise import _F32
from eossl.data.synthetic.units import _avoid_nodata

# SAR backscatter (dB): co-pol (VV/HH) and cross-pol (VH/HV), value = A + G * B
_SAR_A = np.array(
    [
        [-24.0, -29.0],  # water: calm
        [-8.5, -15.5],  # forest: volume scattering in VH
        [-13.0, -22.0],  # cropland: bare / harvested soil
        [-12.0, -20.0],  # grassland
        [-3.0, -9.0],  # urban: double bounce
        [-14.0, -23.0],  # bare
        [-11.0, -18.0],
    ],  # snow / ice
    _F32,
)
_SAR_B = np.array(
    [[8.0, 4.0], [1.0, 1.5], [3.5, 7.0], [1.5, 3.0], [0.0, 0.0], [0.5, 1.0], [0.0, 0.0]], _F32
)
_SAR_TEX = np.array([0.4, 1.0, 0.8, 0.8, 2.5, 1.2, 0.8], _F32)  # dB
_SAR_ENL = 4.4  # equivalent number of looks, Sentinel-1 IW GRDH


@cache
def _log_gamma_table(looks: float) -> np.ndarray:
    """65,536 quantiles of 10 log10(Gamma(L, 1/L)): speckle in dB by table lookup."""
    sample = np.random.default_rng(20240607).gamma(looks, 1.0 / looks, 1 << 20)
    sample.sort()
    return (10.0 * np.log10(sample[8::16])).astype(_F32)


def _sar(sensor, rng, label, G, snow, t_pix, f_tex, tex_n):
    """SAR backscatter in dB, (T, C, H, W), with gamma speckle."""
    T, H = G.shape[0], G.shape[1]
    names = [b.name.lower() for b in sensor.bands]
    pol = np.array([1 if n in ("vh", "hv") or n.endswith(("vh", "hv")) else 0 for n in names])
    a_tab = _SAR_A[:, pol]  # (K, C)
    b_tab = _SAR_B[:, pol]
    flat = label.ravel()
    C = len(names)
    al = np.take(a_tab.T, flat, axis=1).reshape(C, H, H)
    bl = np.take(b_tab.T, flat, axis=1).reshape(C, H, H)
    al += (_SAR_TEX[label] * (_F32(0.8) * f_tex + _F32(0.4) * tex_n))[None]
    al += _F32(rng.normal(0, 1.0))  # scene calibration / soil moisture
    db = np.empty((T, C, H, H), _F32)
    np.multiply(G[:, None], bl[None], out=db)
    db += al[None]
    water = label == WATER
    for t in range(T):
        if snow[t] is None:
            continue
        # wet snow (near 0 degC) absorbs; frozen ground slightly darker; lake ice brighter
        adj = np.where(t_pix[t] > -2.0, _F32(-5.0), _F32(-1.0)) * snow[t]
        adj[water] = _F32(7.0) * snow[t][water]
        db[t] += adj[None]
    table = _log_gamma_table(_SAR_ENL)
    idx = np.frombuffer(rng.bytes(2 * db.size), np.uint16).reshape(db.shape)
    db += table[idx]
    dtype = np.dtype(sensor.dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        db = np.clip(np.rint(db), info.min, info.max)
    out = db.astype(dtype, copy=False)
    return _avoid_nodata(out, sensor.nodata)
