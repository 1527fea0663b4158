"""CellScatter: objects are a pure function of position, whatever its cache holds."""

import numpy as np
import pytest

from autoscope.devices.twin.fields import CellScatter
from autoscope.errors import ConfigurationError


def _draw(rng, x0, y0, cell):
    n = int(rng.poisson(3))
    return {"x": x0 + cell * rng.random(n), "y": y0 + cell * rng.random(n), "v": rng.normal(size=n)}


def _tour(scatter, boxes):
    return [scatter.query(*b) for b in boxes]


def test_bounded_cache_gives_the_same_objects_as_an_unbounded_one():
    rng = np.random.default_rng(0)
    boxes = []
    for _ in range(300):  # wander far, then come back to where it started
        x, y = rng.uniform(-500, 500, 2)
        boxes.append((x, x + 25, y, y + 12))
    boxes += boxes[:20]
    small = CellScatter(7, 10.0, _draw, tag=1, max_cells=16)
    big = CellScatter(7, 10.0, _draw, tag=1, max_cells=10**6)
    for a, b in zip(_tour(small, boxes), _tour(big, boxes)):
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    assert len(small._cache) == 16
    assert len(big._cache) > 16 * 20


def test_cache_drops_the_least_recently_used_cell():
    s = CellScatter(1, 10.0, _draw, max_cells=2)
    s.query(1, 2, 1, 2)  # cell (0, 0)
    s.query(11, 12, 1, 2)  # cell (1, 0)
    s.query(1, 2, 1, 2)  # (0, 0) used again
    s.query(21, 22, 1, 2)  # cell (2, 0) pushes out (1, 0), not (0, 0)
    assert list(s._cache) == [(0, 0), (2, 0)]


def test_max_cells_must_be_positive():
    with pytest.raises(ConfigurationError, match="max_cells must be >= 1; got 0"):
        CellScatter(1, 10.0, _draw, max_cells=0)
