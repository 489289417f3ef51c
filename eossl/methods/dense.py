"""A dense contrastive term: the feature-map cells of two views that see the same ground.

Two views of a location (two seasons, or one date twice) are cropped, flipped and
rotated independently. Each view's crop box says where every cell of its feature map
comes from in the source tile, so the cells of view A and view B that cover the same
ground are known from the geometry alone (as in PixPro, Xie et al. 2021), with no
feature matching (DenseCL's way, for views whose geometry is unknown). Matched cells
are positives and every other cell of the batch's B views a negative (InfoNCE, as
DenseCL's dense loss). With two real dates as the views, the cells learn to agree
across seasons at the same place and to differ between places: what a per-pixel
change probe on ``|f(t2) - f(t1)|`` needs, and what a pooled loss does not ask for.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["cell_centres", "cell_offset", "dense_infonce", "matched_cells"]

# cells of view B per step: above, images are subsampled (64 images of 4 x 4 cells at 64 px,
# 20 of 14 x 14 at 224 px). Negatives come from each process's own batch, not gathered.
MAX_TOKENS = 4096


def cell_offset(backbone: nn.Module, stage: int, in_chans: int, size: int = 256) -> float:
    """Where the cells of ``stage``'s map are centred in a view: pixel ``stride * r + offset``.

    Measured once per backbone (on a copy, about a second) as the centroid of the input
    gradient's magnitude of the 3 x 3 interior cells, for random inputs: about 0 for
    ResNets (padded strided convs), about 7.5 for a 16-pixel patchify stem (ConvNeXt).
    """
    model = copy.deepcopy(backbone).float().eval()
    x = torch.randn(
        4, in_chans, size, size, generator=torch.Generator().manual_seed(0), requires_grad=True
    )
    (maps,) = model.forward_intermediates(x, indices=[stage], intermediates_only=True)
    stride, middle = size / maps.shape[-1], maps.shape[-1] // 2
    pos = torch.arange(size, dtype=torch.float64)
    found = []
    for r in range(middle - 1, middle + 2):
        for c in range(middle - 1, middle + 2):
            x.grad = None
            maps[:, :, r, c].sum().backward(retain_graph=True)
            weight = x.grad.abs().sum(dim=(0, 1)).double()
            found.append((weight.sum(1) * pos).sum() / weight.sum() - stride * r)
            found.append((weight.sum(0) * pos).sum() / weight.sum() - stride * c)
    return round(float(torch.stack(found).mean()), 1)


def cell_centres(box: Tensor, grid: tuple[int, int], size: int, offset: float) -> Tensor:
    """(B, h*w, 2) source-pixel (x, y) of the centre of each cell of an h x w map.

    ``box`` is (B, 4, 2): the source corners that the view's top-left, top-right,
    bottom-right and bottom-left pixels come from (``kornia``'s ``crop_and_resize``
    with ``align_corners=True``; flips and rotations permute the corners). Cell ``r``
    of a map of an S-pixel view is centred on view pixel ``r * S / h + offset``
    (:func:`cell_offset`).
    """
    h, w = grid
    rows = torch.arange(h, device=box.device, dtype=box.dtype) * size / h + offset
    cols = torch.arange(w, device=box.device, dtype=box.dtype) * size / w + offset
    v, u = torch.meshgrid(rows / max(size - 1, 1), cols / max(size - 1, 1), indexing="ij")
    u, v = u.reshape(1, -1, 1), v.reshape(1, -1, 1)
    tl, tr, bl = box[:, None, 0], box[:, None, 1], box[:, None, 3]
    return tl + u * (tr - tl) + v * (bl - tl)


def matched_cells(
    centres_a: Tensor, centres_b: Tensor, reach: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """For each cell of A, the nearest cell of B in the same image, and what is near it.

    ``reach`` (B,) is the largest source distance that counts as the same ground: half a
    cell of the view with the larger cells. Returns (B, h*w) indices into B's cells, a
    (B, h*w) mask of the cells of A that have a match, and the (B, h*w, h*w) mask of the
    cells of B within reach of each cell of A (the same ground: never a negative).
    """
    distance = torch.cdist(centres_a, centres_b)
    nearest, index = distance.min(dim=2)
    return index, nearest <= reach[:, None], distance <= reach[:, None, None]


def dense_infonce(
    map_a: Tensor,
    map_b: Tensor,
    box_a: Tensor,
    box_b: Tensor,
    size: int,
    temperature: float,
    offset: float = 0.0,
) -> Tensor:
    """InfoNCE of matched cells of two (B, D, h, w) projected maps, B's other cells negative.

    The nearest cell of B is the positive; B's other cells on the same ground (a larger
    cell of A covers several) are left out of the negatives. Returns 0 (with a gradient
    path) when no cell of A sees the ground of a cell of B.
    """
    n, _, h, w = map_a.shape
    if n * h * w > MAX_TOKENS:  # keep the similarity matrix bounded at any view size
        keep = max(1, MAX_TOKENS // (h * w))
        pick = torch.randperm(n, device=map_a.device)[:keep]
        map_a, map_b, box_a, box_b = map_a[pick], map_b[pick], box_a[pick], box_b[pick]
        n = keep
    centres_a = cell_centres(box_a.float(), (h, w), size, offset)
    centres_b = cell_centres(box_b.float(), (h, w), size, offset)
    reach = torch.maximum(_cell(box_a.float(), h, w), _cell(box_b.float(), h, w)) / 2
    index, near, close = matched_cells(centres_a, centres_b, reach)
    za = F.normalize(map_a.flatten(2).transpose(1, 2).float(), dim=-1)  # (B, hw, D)
    zb = F.normalize(map_b.flatten(2).transpose(1, 2).float(), dim=-1)
    if not near.any():
        return (za.sum() + zb.sum()) * 0.0
    cells = h * w
    starts = torch.arange(n, device=za.device)[:, None] * cells  # image i's first cell
    target = (index + starts)[near]  # each matched cell's positive among all B cells
    logits = za[near] @ zb.reshape(n * cells, -1).T / temperature
    same = torch.zeros(n, cells, n, cells, dtype=torch.bool, device=za.device)
    same[torch.arange(n), :, torch.arange(n)] = close
    same = same.reshape(n, cells, n * cells)[near]
    same[torch.arange(len(target)), target] = False
    return F.cross_entropy(logits.masked_fill(same, float("-inf")), target)


def _cell(box: Tensor, h: int, w: int) -> Tensor:
    """(B,) the longer side, in source pixels, of a cell of an h x w map of each box."""
    across = (box[:, 1] - box[:, 0]).norm(dim=1) / w
    down = (box[:, 3] - box[:, 0]).norm(dim=1) / h
    return torch.maximum(across, down)
