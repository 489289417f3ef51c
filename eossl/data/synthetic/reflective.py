"""Reflective bands: surface reflectance through the atmosphere, in stored units.

Each pixel blends its class's bare and green spectra by its greenness G, scaled
by texture; snow covers it in part, clouds veil it and their shadows darken it.
Then path radiance (top-of-atmosphere products), sensor noise, the card's
``quantification`` and the dtype's range.
"""

from __future__ import annotations

import numpy as np

from eossl.data.synthetic.atmosphere import _path_radiance, _transmission
from eossl.data.synthetic.noise import _F32
from eossl.data.synthetic.spectra import _band_spectra
from eossl.data.synthetic.units import _avoid_nodata, _limits


def _reflective(sensor, rng, bands, label, G, snow, alpha, beta, tex, dtype):
    """Reflective bands in stored units, (T, C, H, W)."""
    T, H = G.shape[0], G.shape[1]
    C = len(bands)
    wl = np.array([0.65 if b.wavelength is None else b.wavelength for b in bands])
    s = _band_spectra(wl)
    soil = s["soil"] * rng.uniform(0.6, 1.4)
    crop_soil = soil * 0.75
    s0 = np.stack(
        [s["water_clear"], s["forest_bare"], crop_soil, s["dry_grass"], s["urban"], soil, s["ice"]]
    )  # (K, C)
    s1 = np.stack(
        [
            s["water_turbid"],
            s["forest_leaf"],
            s["green"],
            0.95 * s["green"],
            0.75 * s["urban"] + 0.25 * s["green"],
            0.75 * soil + 0.25 * s["dry_grass"],
            s["snow"],
        ]
    )
    trans = _transmission(wl)
    s0 = s0 * trans
    d = s1 * trans - s0
    snow_spec = (s["snow"] * trans).astype(_F32)[:, None, None]
    # low clouds sit under part of the water vapour: partly absorbed in B09/B10
    cloud_spec = (s["cloud"] * (0.35 + 0.65 * trans)).astype(_F32)

    flat = label.ravel()
    s0l = np.take(s0.T.astype(_F32), flat, axis=1).reshape(C, H, H)
    dl = np.take(d.T.astype(_F32), flat, axis=1).reshape(C, H, H)
    s0l *= tex
    dl *= tex
    R = np.empty((T, C, H, H), _F32)
    np.multiply(G[:, None], dl[None], out=R)
    R += s0l[None]
    tmp = np.empty((C, H, H), _F32)
    for t in range(T):
        rt = R[t]
        if snow[t] is not None:
            np.subtract(snow_spec, rt, out=tmp)
            tmp *= snow[t]
            rt += tmp
        if alpha[t] is not None:
            a_t = alpha[t]
            fac = (1 - a_t) * (1 - _F32(0.7) * beta[t])
            rt *= fac
            bright = a_t * (_F32(0.5) + _F32(0.3) * a_t) * _F32(rng.uniform(0.85, 1.1))
            np.multiply(cloud_spec[:, None, None], bright, out=tmp)
            rt += tmp

    # to stored units: path radiance (TOA), noise, rounding, clipping
    # a card without `quantification`: integers as reflectance x 10,000 (x 255 for bytes)
    q = float(
        sensor.quantification or (1.0 if dtype.kind == "f" else min(1e4, _limits(dtype, None)[1]))
    )
    path = _path_radiance(sensor, wl)
    # sensor noise, near-gaussian and cheap: the sum of two random int8 (triangular,
    # std 104.5); the second term is the same byte stream one band and one pixel
    # further on, so one random byte per value
    sigma = (0.002 + 0.001 * (wl > 1.0)) * q / 104.5
    N, lag = R.size, H * H + 1
    raw = np.frombuffer(rng.bytes(N + lag), np.int8)
    noise = np.add(raw[:N], raw[lag:], dtype=np.int16).reshape(R.shape)
    R *= _F32(q)
    R += np.multiply(noise, sigma.astype(_F32)[:, None, None], dtype=_F32)
    rounding = 0.5 if dtype.kind in "iu" else 0.0
    R += (path * q + rounding).astype(_F32)[:, None, None]
    lo, hi = _limits(dtype, sensor.nodata)
    np.clip(R, lo, hi, out=R)
    out = R.astype(dtype)
    nodata = sensor.nodata
    if nodata is not None and (dtype.kind == "f" or lo < nodata < hi):
        out = _avoid_nodata(out, nodata)
    return out
