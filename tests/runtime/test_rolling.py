"""Running statistics: Welford mean/std and P-squared quantiles against numpy, O(1) memory."""
import math

import numpy as np
import pytest

from gr_semcod.runtime.rolling import P2Quantile, RunningStat


def test_mean_std_min_max_match_numpy():
    x = np.random.default_rng(1).normal(25.0, 3.0, 5000)
    r = RunningStat()
    r.extend(x)
    assert r.n == 5000
    assert r.mean == pytest.approx(x.mean(), rel=1e-12)
    assert r.std == pytest.approx(x.std(ddof=1), rel=1e-9)
    assert (r.min, r.max) == (x.min(), x.max())


@pytest.mark.parametrize("p", [0.05, 0.5, 0.95])
def test_p2_quantiles_close_to_exact(p):
    rng = np.random.default_rng(2)
    for x in (rng.standard_normal(20000), rng.exponential(1.0, 20000)):
        q = P2Quantile(p)
        for v in x:
            q.add(v)
        exact = np.quantile(x, p)
        spread = np.quantile(x, 0.75) - np.quantile(x, 0.25)
        assert abs(q.value() - exact) < 0.02 * spread, (p, q.value(), exact)


def test_few_samples_exact_and_nan_counted():
    r = RunningStat((0.5, 0.95))
    assert math.isnan(r.value_mean()) and math.isnan(r.quantile(0.5))
    r.extend([3.0, float("nan"), 1.0, 2.0, float("inf")])
    assert (r.n, r.n_nan) == (3, 2)
    assert r.quantile(0.5) == 2.0
    assert r.quantile(0.95) == pytest.approx(np.quantile([1, 2, 3], 0.95))


def test_state_is_bounded():
    r = RunningStat()
    r.extend(range(10))
    size = len(r._q[0.5].q) + len(r._q[0.5].n)
    r.extend(range(100000))
    assert len(r._q[0.5].q) + len(r._q[0.5].n) == size == 10
    assert r.quantile(0.5) == pytest.approx(np.median(np.r_[np.arange(10), np.arange(100000)]), rel=0.01)
