"""Thermal bands: brightness temperature, stored through the band's kelvin ``range``.

The surface is warmer than the air by day, more so when dry or bare; water lags
the air's seasonal cycle, snow and ice stay below freezing, cloud tops are cold.
"""

from __future__ import annotations

import numpy as np

from eossl.data.synthetic.landcover import SNOW_ICE, WATER
from eossl.data.synthetic.noise import _F32
from eossl.data.synthetic.units import _avoid_nodata, _limits
from eossl.sensors import Band

# daytime surface minus air temperature, K = _T0 + (1 - G) * _T1
_T0 = np.array([0.0, 1.5, 2.0, 3.0, 9.0, 12.0, -1.0], _F32)
_T1 = np.array([0.0, 1.0, 8.0, 5.0, 0.0, 0.0, 0.0], _F32)


def _thermal(label, G, snow, alpha, beta, t_pix, clim, t_air, tex_n, f_tex):
    """Brightness temperature in kelvin, (T, H, W)."""
    T = G.shape[0]
    K = t_pix + (_T0[label] + (1 - G) * _T1[label]) + _F32(273.15)
    K += _F32(0.6) * f_tex + _F32(0.3) * tex_n
    water = label == WATER
    for t in range(T):
        kt = K[t]
        # water lags the air: damped seasonal cycle, not below freezing unless frozen
        tw = max(clim.t_mean + 0.6 * (float(t_air[t]) - clim.t_mean), 0.5) + 273.15
        kt[water] = tw + 0.3 * tex_n[water]
        cold = label == SNOW_ICE
        if snow[t] is not None:
            cold = cold | (snow[t] >= 0.5)
        kt[cold] = np.minimum(kt[cold] - _T0[label[cold]], _F32(273.15 - 0.5)) - 1.0
        if alpha[t] is not None:
            top = kt - _F32(25.0) - _F32(15.0) * alpha[t]
            kt *= 1 - alpha[t]
            kt += alpha[t] * top
            kt -= _F32(4.0) * beta[t]
    return K


def _thermal_dn(kelvin, rng_k, nodata, dtype):
    """Kelvin to stored units: ``range`` mapped linearly onto the dtype (as SSL4EO-L)."""
    if dtype.kind in "iu":
        kmin, kmax = rng_k if rng_k else (200.0, 350.0)
        info = np.iinfo(dtype)
        span = float(info.max) - float(info.min) + 1  # SSL4EO-L: onto [0, 2**bits)
        x = (kelvin - _F32(kmin)) * _F32(span / (kmax - kmin)) + _F32(info.min)
    else:
        x = kelvin
    lo, hi = _limits(dtype, nodata)
    out = np.clip(x, lo, hi).astype(dtype)
    return _avoid_nodata(out, nodata)


def _thermal_band(
    rng: np.random.Generator, kelvin: np.ndarray, band: Band, nodata, dtype: np.dtype
) -> np.ndarray:
    """One thermal band in stored units, with 0.2 K sensor noise, (T, H, W)."""
    noisy = kelvin + rng.standard_normal(kelvin.shape, dtype=_F32) * _F32(0.2)
    return _thermal_dn(noisy, band.range, nodata, dtype)
