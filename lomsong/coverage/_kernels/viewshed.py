"""Exact radial-sweep viewshed with GRASS ``r.viewshed``'s terrain model.

Terrain model (Haverkort, Toma & Zhuang, "Computing visibility on terrains in external memory",
ACM JEA 13, 2009, with M. Metz's surface interpolation as shipped in GRASS 7 and 8):

* The observer stands on the centre of the cell holding it, ``observer_height_m`` above that
  cell's elevation.  A target cell is visible when the line of sight from the observer to the
  point ``target_height_m`` above the target's centre clears every cell it crosses.
* A crossed cell is an obstacle whose height along the sight line is interpolated, linearly in
  the angle seen from the observer, between three points: the corner where the rotating sight
  line enters the cell, the centre, and the corner where it leaves.  A corner's elevation is the
  mean of the four cells around it (the cell's own elevation at the DEM edge).  Only cells whose
  centre is strictly closer than the target's and within the radius are obstacles.
* Heights compare as vertical angles ``atan(dz / d)`` from the observer's eye; the target is
  visible when no obstacle's angle exceeds its own (ties are visible).  As in GRASS, an obstacle
  whose three angles all exceed the target's blocks it without interpolating.
* Earth curvature lowers every point by ``curvature_coeff * d**2 / (2 * earth_radius_m)``; the
  coefficient is GDAL's ``-cc`` (1 - refraction coefficient), so 0.75 is k = 4/3.
* Elevations are rounded to float32 where GRASS rounds them (its ``surface_type`` is float).

Algorithm: an angular sweep (van Kreveld) over three events per cell of the radius disc.  The
event order depends only on cell size and radius, so it is built once (:func:`disc_events`,
sorted by the caller) and every observer reuses it.  Within each 45-degree octant the cells the
sweep ray crosses form a staircase: at most two per column along the octant's main axis, and
their distance order is the column order.  So the status structure is a max segment tree over
``2 * (radius_cells + 2)`` column slots (a few kB, in L1 cache), re-slotted when the main axis
changes.  Per observer the cost is O(n log r) for the disc's n cells and radius r (in cells).

Every function here takes ndarrays and scalars and returns new ndarrays; none writes to its
inputs.  The two called once per event (``_tree_set``, ``_blocked``) are inlined at Numba IR
level: it saves ~10 % of the instructions per observer.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: Event types, in the order GRASS processes them when several fall on the same angle: a cell
#: leaves before a centre is tested, and enters after.
EXIT = 0
CENTRE = 1
ENTER = 2

#: Largest |row| or |col| offset an event code can hold (12 bits each).
MAX_OFFSET = 2047

#: atan2 of real-equal directions differs by a few ulp (~1e-15 rad); distinct lattice directions
#: within MAX_OFFSET differ by more than 5e-9 rad.  Adding type * 1e-12 orders ties by type.
_TYPE_EPS = 1e-12


@njit(cache=True, nogil=True)
def corner_signs(dr, dc):
    """Half-cell offsets ``(er, ec, xr, xc)`` of the entering and exiting corners of (dr, dc).

    Rows grow southwards.  The entering corner is the one the counter-clockwise sweep (from
    east) meets first, the exiting corner the one it leaves last; on an axis both are near
    corners.  This is GRASS's table (eventlist.cpp, ``calculate_event_position``).
    """
    if dr < 0 and dc < 0:  # north-west
        return -1, 1, 1, -1
    if dc == 0 and dr < 0:  # north
        return 1, 1, 1, -1
    if dr < 0 and dc > 0:  # north-east
        return 1, 1, -1, -1
    if dr == 0 and dc > 0:  # east
        return 1, -1, -1, -1
    if dr > 0 and dc > 0:  # south-east
        return 1, -1, -1, 1
    if dc == 0 and dr > 0:  # south
        return -1, -1, -1, 1
    if dr > 0 and dc < 0:  # south-west
        return -1, -1, 1, 1
    return -1, 1, 1, 1  # west


@njit(cache=True, nogil=True)
def encode(dr, dc, er, ec, xr, xc, typ):
    """Pack a cell offset, its corner signs and an event type into bits 0-29 of an int."""
    bits = (1 if er > 0 else 0) | (2 if ec > 0 else 0) | (4 if xr > 0 else 0) | (
        8 if xc > 0 else 0)
    return np.int32(((dr + 2048) << 18) | ((dc + 2048) << 6) | (bits << 2) | typ)


@njit(cache=True, nogil=True)
def _x_major(octant):
    """Whether octant ``octant``'s sight lines run closer to east-west than north-south."""
    return octant == 0 or octant == 3 or octant == 4 or octant == 7


@njit(cache=True, nogil=True)
def _slot(dr, dc, x_major):
    """Status-tree slot of cell (dr, dc): two per column along the octant's main axis."""
    if x_major:
        return 2 * abs(dc) + (dr & 1)
    return 2 * abs(dr) + (dc & 1)


@njit(cache=True, nogil=True)
def with_slot(code, dr, dc, x_major):
    """Add to an event code its slot and its |minor offset| in its octant (bits 30-53)."""
    minor = abs(dr) if x_major else abs(dc)
    return np.int64(code) | (np.int64(_slot(dr, dc, x_major)) << 30) | (np.int64(minor) << 42)


@njit(cache=True, nogil=True)
def decode(code):
    """Inverse of :func:`encode`: ``(dr, dc, er, ec, xr, xc, typ)``."""
    typ = code & 3
    bits = (code >> 2) & 15
    dc = ((code >> 6) & 4095) - 2048
    dr = ((code >> 18) & 4095) - 2048
    er = 1 if bits & 1 else -1
    ec = 1 if bits & 2 else -1
    xr = 1 if bits & 4 else -1
    xc = 1 if bits & 8 else -1
    return dr, dc, er, ec, xr, xc, typ


@njit(cache=True, nogil=True)
def _octant(y2, x2):
    """Octant 0..7 of direction (y up, x east), octant k covering [45k, 45k + 45) degrees."""
    if y2 > 0 or (y2 == 0 and x2 > 0):
        if x2 > 0:
            return 0 if y2 < x2 else 1
        return 2 if -x2 < y2 else 3
    if x2 < 0:
        return 4 if -y2 < -x2 else 5
    return 6 if x2 < -y2 else 7


@njit(cache=True, nogil=True)
def disc_events(cell_m, radius_m):
    """The radius disc's cells and their sweep events, unsorted.

    A cell is in the disc when its centre is within ``radius_m`` of the observer's cell centre
    (GRASS and GDAL count it the same way); the observer's own cell has no events.  Sorting
    ``key`` gives the processing order: angle counter-clockwise from east, ties by type.

    Returns
    -------
    key : float64 (3n,)
        Event angle in [0, 2 pi) plus ``type * 1e-12``.
    code : int64 (3n,)
        Event codes (:func:`encode`, :func:`with_slot` for the event's octant).
    octant : int8 (3n,)
        Octant of each event's point, exactly (from integer comparisons).
    start : int64
        Enter codes of the cells crossed at angle 0 (the eastward axis), active from the start.
    radius_cells : int
        Largest row or column offset in the disc.

    Memory: 21 bytes per disc cell (the sorted event order kept by the caller: 24).
    """
    rc = int(math.floor(radius_m / cell_m)) + 1
    n = 0
    for dr in range(-rc, rc + 1):
        for dc in range(-rc, rc + 1):
            if dr == 0 and dc == 0:
                continue
            dx = dc * cell_m
            dy = dr * cell_m
            if math.sqrt(dx * dx + dy * dy) <= radius_m:
                n += 1
    key = np.empty(3 * n, np.float64)
    code = np.empty(3 * n, np.int64)
    octs = np.empty(3 * n, np.int8)
    start = np.empty(rc, np.int64)
    two_pi = 2.0 * math.pi
    n_start = 0
    k = 0
    rmax = 0
    for dr in range(-rc, rc + 1):
        for dc in range(-rc, rc + 1):
            if dr == 0 and dc == 0:
                continue
            dx = dc * cell_m
            dy = dr * cell_m
            if math.sqrt(dx * dx + dy * dy) > radius_m:
                continue
            rmax = max(rmax, abs(dr), abs(dc))
            er, ec, xr, xc = corner_signs(dr, dc)
            if dr == 0 and dc > 0:
                start[n_start] = with_slot(encode(dr, dc, er, ec, xr, xc, ENTER), dr, dc, True)
                n_start += 1
            # Doubled integer coordinates, y up: collinear points give real-equal angles.
            for typ, py, px in ((EXIT, -(2 * dr + xr), 2 * dc + xc), (CENTRE, -2 * dr, 2 * dc),
                                (ENTER, -(2 * dr + er), 2 * dc + ec)):
                a = math.atan2(py, px)
                if a < 0.0:
                    a += two_pi
                key[k] = a + typ * _TYPE_EPS
                o = _octant(py, px)
                code[k] = with_slot(encode(dr, dc, er, ec, xr, xc, typ), dr, dc, _x_major(o))
                octs[k] = o
                k += 1
    return key, code, octs, start[:n_start].copy(), rmax


@njit(cache=True, nogil=True)
def _dist(y2, x2, cell_m):
    """Distance in metres of a point given in doubled cell offsets."""
    dx = (x2 * 0.5) * cell_m
    dy = (y2 * 0.5) * cell_m
    return math.sqrt(dx * dx + dy * dy)


@njit(cache=True, nogil=True)
def _centre_z(elev, r, c, d, curv_per_m):
    # GRASS adjust_for_curvature: h - dist * dist / (2a) * (1 - refraction), stored as float.
    return np.float32(np.float64(elev[r, c]) - d * d * curv_per_m)


@njit(cache=True, nogil=True)
def eye_z(elev, r, c, observer_height_m):
    """The observer's eye elevation (float32 sum, as GRASS stores it), as float64."""
    return np.float64(np.float32(elev[r, c]) + np.float32(observer_height_m))


@njit(cache=True, nogil=True)
def _rel_angle(uy, ux, py, px):
    """Signed angle from direction u to point p (doubled offsets, y up); exact in sign."""
    cross = ux * py - uy * px
    dot = ux * px + uy * py
    return math.atan2(float(cross), float(dot))


@njit(cache=True, nogil=True)
def interpolated_angle(q0, q1, q2, uy, ux, dr, dc, er, ec, xr, xc):
    """Vertical angle of obstacle cell (dr, dc) on the sight line of direction (uy, ux).

    ``q0, q1, q2`` are its slopes (entering corner, centre, exiting corner).  Linear in angle
    between the entering corner and the centre, or between the centre and the exiting corner,
    as GRASS's ``find_max_value_within_key`` does.
    """
    g1 = math.atan(q1)
    p1 = _rel_angle(uy, ux, -2 * dr, 2 * dc)
    if p1 > 0.0:
        g0 = math.atan(q0)
        p0 = _rel_angle(uy, ux, -(2 * dr + er), 2 * dc + ec)
        return g1 + (g0 - g1) * p1 / (p1 - p0)
    if p1 < 0.0:
        g2 = math.atan(q2)
        p2 = _rel_angle(uy, ux, -(2 * dr + xr), 2 * dc + xc)
        return g1 + (g2 - g1) * (-p1) / (p2 - p1)
    return g1


@njit(cache=True, nogil=True, inline='always')
def _tree_set(tree, leaf, h, lw):
    """Set a leaf of the interleaved (max high slope, max low slope) tree and update upwards."""
    n = leaf
    tree[2 * n] = h
    tree[2 * n + 1] = lw
    n >>= 1
    while n >= 1:
        nh = max(tree[4 * n], tree[4 * n + 2])
        nl = max(tree[4 * n + 1], tree[4 * n + 3])
        if nh == tree[2 * n] and nl == tree[2 * n + 1]:
            break
        tree[2 * n] = nh
        tree[2 * n + 1] = nl
        n >>= 1


@njit(cache=True, nogil=True)
def _leaf_blocks(s, q, g_target, uy, ux, sq, scode):
    """Does the obstacle in slot ``s`` rise above the target's sight line?

    ``q`` is the target's slope and ``g_target`` its vertical angle (NaN until needed).
    Returns 1 (blocks) or 0 (does not), and the target's angle if it was computed.
    """
    q0 = sq[3 * s]
    q1 = sq[3 * s + 1]
    q2 = sq[3 * s + 2]
    if q0 > q and q1 > q and q2 > q:
        return 1, g_target
    dr, dc, er, ec, xr, xc, _ = decode(scode[s])
    # Which half of the cell the sight line crosses picks the two interpolated points.
    cross = ux * (-2 * dr) - uy * (2 * dc)
    if cross > 0:
        a, b = q0, q1
    elif cross < 0:
        a, b = q1, q2
    else:
        a, b = q1, q1
    if a < q and b < q:
        return 0, g_target
    if g_target != g_target:
        g_target = math.atan(q)
    g = interpolated_angle(q0, q1, q2, uy, ux, dr, dc, er, ec, xr, xc)
    return (1 if g > g_target else 0), g_target


@njit(cache=True, nogil=True, inline='always')
def _blocked(end, other, t_minor, q, uy, ux, x_major, tree, sq, scode, big, stack, nodes):
    """Does an active cell closer than the target rise above its sight line?

    Closer cells are those in columns before the target's (slots ``[0, end)``) and, in the
    target's column, the other cell if its minor offset is smaller (slot ``other``).
    """
    g_target = np.nan
    if scode[other] >= 0:
        code = scode[other]
        o_minor = abs(((code >> 18) & 4095) - 2048) if x_major else abs(
            ((code >> 6) & 4095) - 2048)
        if o_minor < t_minor:
            hit, g_target = _leaf_blocks(other, q, g_target, uy, ux, sq, scode)
            if hit:
                return True
    # [0, end) is covered by the left siblings on the path from leaf ``end`` to the root; their
    # maxima decide most targets: some cell wholly above the sight line blocks it (GRASS's
    # quick test), no cell reaching it leaves it visible.  The rest is settled cell by cell.
    max_hi = -np.inf
    max_lo = -np.inf
    n = big + end
    while n > 1:
        # Branch-free (the bit is unpredictable): an even n reads node 0, which is never
        # written and holds -inf.  ~8 % of a sweep faster than branching.
        m = (n - 1) * (n & 1)
        max_hi = max(max_hi, tree[2 * m])
        max_lo = max(max_lo, tree[2 * m + 1])
        n >>= 1
    if max_lo > q:
        return True
    if max_hi < q:
        return False
    nn = 0
    n = big + end
    while n > 1:
        if n & 1:
            nodes[nn] = n - 1
            nn += 1
        n >>= 1
    for k in range(nn):
        top = 1
        stack[0] = nodes[k]
        while top > 0:
            top -= 1
            m = stack[top]
            if tree[2 * m] < q:
                continue
            if m >= big:
                hit, g_target = _leaf_blocks(m - big, q, g_target, uy, ux, sq, scode)
                if hit:
                    return True
                continue
            stack[top] = 2 * m
            stack[top + 1] = 2 * m + 1
            top += 2
    return False


@njit(cache=True, nogil=True)
def _slope_grids(elev, obs_row, obs_col, z0, target_height_m, cell_m, curv_per_m, box_row0,
                 box_col0, box_rows, box_cols):
    """Slopes from the eye to every box cell's centre (as obstacle, as target) and corner.

    Row-major flat arrays.  Corner (i, j) is the top-left corner of box cell (i, j).  A corner on
    the DEM edge has no four cells around it and is NaN: its value depends on the cell asking.
    """
    nrows, ncols = elev.shape
    tgt = np.float32(target_height_m)
    qc = np.empty(box_rows * box_cols)
    qt = np.empty(box_rows * box_cols)
    for i in range(box_rows):
        r = box_row0 + i
        for j in range(box_cols):
            c = box_col0 + j
            ij = i * box_cols + j
            if r == obs_row and c == obs_col:  # never an obstacle nor a target
                qc[ij] = np.nan
                qt[ij] = np.nan
                continue
            d = _dist(2 * (r - obs_row), 2 * (c - obs_col), cell_m)
            zc = _centre_z(elev, r, c, d, curv_per_m)
            qc[ij] = (np.float64(zc) - z0) / d
            qt[ij] = (np.float64(np.float32(zc + tgt)) - z0) / d
    kcols = box_cols + 1
    qk = np.empty((box_rows + 1) * kcols)
    for i in range(box_rows + 1):
        r = box_row0 + i  # the corner's lower-right cell
        for j in range(kcols):
            c = box_col0 + j
            if r < 1 or r >= nrows or c < 1 or c >= ncols:
                qk[i * kcols + j] = np.nan
                continue
            d = _dist(2 * (r - obs_row) - 1, 2 * (c - obs_col) - 1, cell_m)
            s = (np.float64(elev[r - 1, c - 1]) + np.float64(elev[r - 1, c])
                 + np.float64(elev[r, c - 1]) + np.float64(elev[r, c]))
            zk = np.float32(np.float64(np.float32(s / 4.0)) - d * d * curv_per_m)
            qk[i * kcols + j] = (np.float64(zk) - z0) / d
    return qc, qt, qk


@njit(cache=True, nogil=True)
def _edge_corner_slope(elev, r, c, dr, dc, hr, hc, z0, cell_m, curv_per_m):
    """Slope to a DEM-edge corner of cell (r, c): the cell's own elevation stands in."""
    d = _dist(2 * dr + hr, 2 * dc + hc, cell_m)
    return (np.float64(np.float32(np.float64(elev[r, c]) - d * d * curv_per_m)) - z0) / d


@njit(cache=True, nogil=True)
def viewshed_sweep(elev, obs_row, obs_col, observer_height_m, target_height_m, cell_m,
                   curv_per_m, box_row0, box_col0, box_rows, box_cols, events, octant_start,
                   start, radius_cells):
    """Visibility of every cell of a box from one observer: uint8 255 visible, 0 not.

    Parameters
    ----------
    elev : float32 (rows, cols)
        The whole DEM; only the radius box and the cells around it are read.
    obs_row, obs_col : int
        The observer's cell.
    observer_height_m, target_height_m : float
        Heights above the ground of the eye and of the target.
    cell_m : float
        Cell size (square cells).
    curv_per_m : float
        ``curvature_coeff / (2 * earth_radius_m)``; 0 ignores the curvature.
    box_row0, box_col0, box_rows, box_cols : int
        The output window in DEM cells: the radius box clipped to the DEM; it must hold every
        disc cell inside the DEM.
    events, octant_start, start, radius_cells
        The shared geometry: event codes sorted by angle (ties by type), the index of each
        octant's first event (9 entries, the last ``len(events)``), the cells active at angle
        0, and the largest offset in the disc (see :func:`disc_events`).

    Returns
    -------
    uint8 (box_rows, box_cols): 255 where visible, 0 where not or beyond the radius.

    Memory: 25 bytes per box cell (three float64 slope grids and the output) plus about 64
    bytes per column slot (two per cell of radius) for the status tree.
    """
    nrows, ncols = elev.shape
    out = np.zeros(box_rows * box_cols, np.uint8)
    out[(obs_row - box_row0) * box_cols + obs_col - box_col0] = 255
    z0 = eye_z(elev, obs_row, obs_col, observer_height_m)
    qc, qt, qk = _slope_grids(elev, obs_row, obs_col, z0, target_height_m, cell_m, curv_per_m,
                              box_row0, box_col0, box_rows, box_cols)
    kcols = box_cols + 1
    n_slots = 2 * (radius_cells + 2)
    big = 1
    while big < n_slots:
        big *= 2
    tree = np.full(4 * big, -np.inf)  # node n at [2n, 2n + 1]; root 1; node 0 stays -inf
    sq = np.empty(3 * big)
    scode = np.full(big, -1, np.int64)
    keep_code = np.empty(big, np.int64)
    keep_q = np.empty(3 * big)
    stack = np.empty(256, np.int64)
    nodes = np.empty(64, np.int64)

    x_major = True
    for octant in range(-1, 8):
        if octant < 0:  # cells crossed at angle 0 are active from the start
            first, last, codes = 0, start.shape[0], start
        else:
            first, last, codes = octant_start[octant], octant_start[octant + 1], events
            if _x_major(octant) != x_major:
                # The octant's main axis changes: re-slot the active cells.
                x_major = not x_major
                nk = 0
                for s in range(big):
                    if scode[s] >= 0:
                        keep_code[nk] = scode[s]
                        keep_q[3 * nk:3 * nk + 3] = sq[3 * s:3 * s + 3]
                        nk += 1
                        scode[s] = -1
                tree[:] = -np.inf
                for m in range(nk):
                    kc = keep_code[m]
                    s = _slot(((kc >> 18) & 4095) - 2048, ((kc >> 6) & 4095) - 2048, x_major)
                    sq[3 * s:3 * s + 3] = keep_q[3 * m:3 * m + 3]
                    scode[s] = kc
                    a = keep_q[3 * m]
                    b = keep_q[3 * m + 1]
                    e = keep_q[3 * m + 2]
                    _tree_set(tree, big + s, max(a, max(b, e)), min(a, min(b, e)))
        for k in range(first, last):
            code = codes[k]
            typ = code & 3
            dc = ((code >> 6) & 4095) - 2048
            dr = ((code >> 18) & 4095) - 2048
            r = obs_row + dr
            c = obs_col + dc
            if r < 0 or r >= nrows or c < 0 or c >= ncols:
                continue
            i = r - box_row0
            j = c - box_col0
            s = (code >> 30) & 4095
            if typ == ENTER:
                # Corner (i + 1, j) is the bottom-left corner of cell (i, j), and so on.
                q0 = qk[(i + ((code >> 2) & 1)) * kcols + j + ((code >> 3) & 1)]
                q2 = qk[(i + ((code >> 4) & 1)) * kcols + j + ((code >> 5) & 1)]
                if q0 != q0:
                    q0 = _edge_corner_slope(elev, r, c, dr, dc, 1 if code & 4 else -1,
                                            1 if code & 8 else -1, z0, cell_m, curv_per_m)
                if q2 != q2:
                    q2 = _edge_corner_slope(elev, r, c, dr, dc, 1 if code & 16 else -1,
                                            1 if code & 32 else -1, z0, cell_m, curv_per_m)
                q1 = qc[i * box_cols + j]
                sq[3 * s] = q0
                sq[3 * s + 1] = q1
                sq[3 * s + 2] = q2
                scode[s] = code
                _tree_set(tree, big + s, max(q0, max(q1, q2)), min(q0, min(q1, q2)))
            elif typ == EXIT:
                scode[s] = -1
                _tree_set(tree, big + s, -np.inf, -np.inf)
            else:
                if not _blocked(s & ~1, s ^ 1, (code >> 42) & 4095, qt[i * box_cols + j],
                                -2 * dr, 2 * dc, x_major, tree, sq, scode, big, stack, nodes):
                    out[i * box_cols + j] = 255
    return out.reshape((box_rows, box_cols))
