"""Bounded running statistics: count, mean, standard deviation, min/max and streaming quantiles.

Long runs must not keep one entry per image: :class:`RunningStat` holds a fixed number of
floats whatever the number of samples.

* mean / variance: Welford's update, ``d = x - m;  m += d / n;  M2 += d (x - m)``;
  ``var = M2 / (n - 1)``.
* quantiles: the P-squared algorithm (Jain & Chlamtac 1985), five markers per quantile ``p``
  at heights ``q_i`` and positions ``n_i``, desired positions ``n'_i`` advancing by
  ``(0, p/2, p, (1+p)/2, 1)`` per sample; a marker off its desired position by one or more
  moves by ``d = +-1`` with the piecewise-parabolic estimate

      q_i += d / (n_{i+1} - n_{i-1}) * [ (n_i - n_{i-1} + d)(q_{i+1} - q_i) / (n_{i+1} - n_i)
                                        + (n_{i+1} - n_i - d)(q_i - q_{i-1}) / (n_i - n_{i-1}) ]

  (linear when the parabola leaves ``(q_{i-1}, q_{i+1})``).  Exact for the first five samples.

Non-finite values are counted apart (:attr:`RunningStat.n_nan`) and do not enter the statistics.
"""
from __future__ import annotations

import math
from typing import Dict, Iterable, Sequence


class P2Quantile:
    """Streaming estimate of one quantile ``p`` in O(1) memory (P-squared)."""

    def __init__(self, p: float):
        if not 0.0 < p < 1.0:
            raise ValueError(f"quantile must be in (0, 1), got {p}")
        self.p = float(p)
        self.q: list = []  # marker heights (the first five samples, sorted, until n = 5)
        self.n = [0, 1, 2, 3, 4]
        self.want = [0.0, 2 * p, 4 * p, 2 + 2 * p, 4.0]
        self.dwant = [0.0, p / 2, p, (1 + p) / 2, 1.0]

    def add(self, x: float) -> None:
        q = self.q
        if len(q) < 5:
            q.append(float(x))
            q.sort()
            return
        if x < q[0]:
            q[0], k = float(x), 0
        elif x >= q[4]:
            q[4], k = max(q[4], float(x)), 3
        else:
            k = next(i for i in range(4) if q[i] <= x < q[i + 1])
        for i in range(k + 1, 5):
            self.n[i] += 1
        for i in range(5):
            self.want[i] += self.dwant[i]
        for i in (1, 2, 3):
            d = self.want[i] - self.n[i]
            if (d >= 1 and self.n[i + 1] - self.n[i] > 1) or (d <= -1 and self.n[i - 1] - self.n[i] < -1):
                s = 1 if d > 0 else -1
                qp = self._parabolic(i, s)
                if not q[i - 1] < qp < q[i + 1]:
                    qp = q[i] + s * (q[i + s] - q[i]) / (self.n[i + s] - self.n[i])
                q[i] = qp
                self.n[i] += s

    def _parabolic(self, i: int, d: int) -> float:
        q, n = self.q, self.n
        return q[i] + d / (n[i + 1] - n[i - 1]) * (
            (n[i] - n[i - 1] + d) * (q[i + 1] - q[i]) / (n[i + 1] - n[i])
            + (n[i + 1] - n[i] - d) * (q[i] - q[i - 1]) / (n[i] - n[i - 1]))

    def value(self) -> float:
        q = self.q
        if not q:
            return float("nan")
        if len(q) < 5:  # exact (linear interpolation between order statistics)
            pos = self.p * (len(q) - 1)
            lo = int(math.floor(pos))
            hi = min(lo + 1, len(q) - 1)
            return q[lo] + (pos - lo) * (q[hi] - q[lo])
        return q[2]


class RunningStat:
    """Count, mean, std, min, max and the quantiles ``quantiles`` of a stream of floats."""

    def __init__(self, quantiles: Sequence[float] = (0.5, 0.95)):
        self.n = 0
        self.n_nan = 0
        self.mean = 0.0
        self._m2 = 0.0
        self.min = math.inf
        self.max = -math.inf
        self._q = {float(p): P2Quantile(p) for p in quantiles}

    def add(self, x) -> None:
        x = float(x)
        if not math.isfinite(x):
            self.n_nan += 1
            return
        self.n += 1
        d = x - self.mean
        self.mean += d / self.n
        self._m2 += d * (x - self.mean)
        self.min = min(self.min, x)
        self.max = max(self.max, x)
        for q in self._q.values():
            q.add(x)

    def extend(self, xs: Iterable[float]) -> None:
        for x in xs:
            self.add(x)

    @property
    def std(self) -> float:
        return math.sqrt(self._m2 / (self.n - 1)) if self.n > 1 else float("nan")

    def quantile(self, p: float) -> float:
        return self._q[float(p)].value()

    def value_mean(self) -> float:
        """The mean, NaN when there is no finite sample."""
        return self.mean if self.n else float("nan")

    def summary(self) -> Dict[str, float]:
        out = {"count": self.n, "nan": self.n_nan, "mean": self.value_mean(), "std": self.std,
               "min": self.min if self.n else float("nan"), "max": self.max if self.n else float("nan")}
        for p, q in self._q.items():
            out[f"p{round(100 * p):g}"] = q.value()
        return out
