"""The numbers rung takes in, and the statistics that stay numbers over any of them.

**The range of numbers.** A number that enters rung from a client — a numeric feature of
``/predict``, ``rung predict`` or an evaluated dataset (:func:`rung.core.columns.check_frame`),
a regression label of ``/feedback`` or ``rung feedback`` — is finite and at most
:data:`MAX_MAGNITUDE` (1e100) in magnitude; subnormal numbers (``1e-320``) are accepted.
1e100 is far beyond any measured quantity, and it keeps every statistic rung computes a
number: a squared error of such values is at most 4e200, and a sum of 2⁶³ of them stays below
float64's largest value (1.8e308). Past it, one value decides the sum: a label of ``1e308``
made the live RMSE infinite, R² NaN, and the bootstrap of the next evaluation raise
``OverflowError``. A float column of a narrower dtype (float32: 3.4e38, float16: 65504)
takes only what its dtype holds (:func:`dtype_max`): a larger value would become infinity.

**Statistics over extreme values.** Datasets are a record of what was given (``rung data add``
does not refuse 1e300), and a model may predict beyond the range, so metrics, bootstraps and
drift statistics are computed in float64, scaled by the largest magnitude involved
(:func:`regression`), under :func:`quiet` (no numpy warning reaches the user). A result that
is still not finite is explained in one line by :func:`not_finite` — the metric, its value and
the row that makes it so — never left as a silent NaN that disables an alert.

This module is pure: numpy is imported when a function needs it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

MAX_MAGNITUDE = 1e100
"""The largest magnitude of a number rung takes in (a feature value, a regression label)."""
RANGE = "-1e100 … 1e100"
"""The accepted range, as messages and docs write it."""


def dtype_max(dtype: str) -> float:
    """The largest magnitude a float column of ``dtype`` takes: :data:`MAX_MAGNITUDE`, or less
    for float16 (65504) and float32 (3.4e38), whose values past it become infinity."""
    name = dtype.lower()
    if name in ("float16", "float32"):
        import numpy as np

        return float(np.finfo(name).max)
    return MAX_MAGNITUDE


def out_of_range(value: float, dtype: str = "float64") -> str | None:
    """Why the finite number ``value`` is refused (its magnitude past :func:`dtype_max` of
    ``dtype``), in a phrase naming it and the range; ``None`` when it is accepted."""
    limit = dtype_max(dtype)
    if abs(value) <= limit:
        return None
    if limit == MAX_MAGNITUDE:
        return f"{value!r} is outside the range of numbers rung accepts ({RANGE})"
    return f"{value!r} is outside the range of {dtype} (-{limit:.5g} … {limit:.5g})"


def in_range(value: Any) -> bool:
    """True for a finite int or float (not a bool) of magnitude at most :data:`MAX_MAGNITUDE`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value) and abs(value) <= MAX_MAGNITUDE
    except OverflowError:  # an integer beyond any float
        return False


@contextmanager
def quiet() -> Iterator[None]:
    """Float64 arithmetic that says nothing: numpy's overflow, division and invalid-value
    warnings are off (``np.errstate``), and RuntimeWarnings of libraries (scikit-learn's,
    scipy's) are not shown. Results that are not finite are explained by :func:`not_finite`."""
    import numpy as np

    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _scale(values: Any) -> float:
    """The largest finite magnitude among ``values`` (1.0 when there is none, or it is 0)."""
    import numpy as np

    finite = np.abs(values[np.isfinite(values)])
    top = float(finite.max()) if finite.size else 0.0
    return top if top > 0 else 1.0


def regression(y: Any, p: Any) -> dict[str, float | None]:
    """MAE, RMSE and R² of predictions ``p`` against labels ``y`` (1-d, same length), in
    float64, each computed on values divided by the largest magnitude involved and scaled
    back, so that they are finite whenever the errors are (``1e308`` and ``-1e308`` give a
    finite RMSE of ~1e308; the plain formula overflows to infinity). R² follows
    scikit-learn's ``r2_score``: ``1 - SS_res / SS_tot``, 1.0 for a perfect fit of constant
    labels and 0.0 for an imperfect one, ``None`` with fewer than two rows. An empty input
    gives ``None`` for all three."""
    import numpy as np

    with quiet():
        yf = np.asarray(y, dtype=float)
        pf = np.asarray(p, dtype=float)
        n = len(yf)
        if n == 0:
            return {"mae": None, "rmse": None, "r2": None}
        err = yf - pf
        se = _scale(err)
        scaled = err / se
        mae = float(np.mean(np.abs(scaled)) * se)
        rmse = float(np.sqrt(np.mean(scaled * scaled)) * se)
        r2: float | None = None
        if n > 1:
            sy = _scale(yf)
            ys = yf / sy
            dev = ys - np.mean(ys)
            sd = _scale(dev)
            ss_tot = float(np.sum((dev / sd) ** 2))  # in units of (sy * sd)²
            ss_res = float(np.sum(scaled * scaled))  # in units of se²
            if ss_res == 0:
                r2 = 1.0
            elif ss_tot == 0:
                r2 = 0.0
            else:
                # numpy scalars, multiplied: Python floats raise on overflow and on x / 0
                unit = np.float64(se) / (np.float64(sy) * np.float64(sd))
                ratio = unit * unit * (ss_res / ss_tot)
                r2 = float(1.0 - ratio)
        return {"mae": mae, "rmse": rmse, "r2": r2}


def not_finite(
    metric: str, value: Any, labels: Any, predictions: Any, rows: Any = None
) -> str | None:
    """One line saying why ``value`` of ``metric`` is not a finite number, naming the row that
    makes it so — the largest label or prediction in magnitude (``rows``: how each row is
    named, ``row 17`` by default) — or ``None`` when the value is finite or not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isfinite(value):
        return None
    import numpy as np

    with quiet():
        yf = np.asarray(labels, dtype=float)
        pf = np.asarray(predictions, dtype=float)
        if not len(yf):
            return f"{metric} is not finite ({value}): no rows"
        where = [f"row {i}" for i in range(len(yf))] if rows is None else list(rows)
        iy = int(np.argmax(np.where(np.isnan(yf), -1.0, np.abs(yf))))
        ip = int(np.argmax(np.where(np.isnan(pf), -1.0, np.abs(pf))))
        spread = f"labels {float(np.nanmin(yf)):.4g} … {float(np.nanmax(yf)):.4g}"
        errors = yf - pf
        if value == -math.inf and np.isfinite(errors).all():  # R²: tiny spread, not overflow
            top = float(np.max(np.abs(errors)))
            return (
                f"{metric} is not finite ({value}): the errors (up to {top:.4g}) are more than"
                f" 1e308 times the labels' spread ({spread}): the labels barely vary"
            )
        if abs(pf[ip]) > abs(yf[iy]):
            cause = f"the prediction {pf[ip]:.4g} on {where[ip]}"
        else:
            cause = f"the label {yf[iy]:.4g} on {where[iy]}"
    return (
        f"{metric} is not finite ({value}): {cause} ({spread}) is past what float64 arithmetic"
        f" holds; rung accepts numbers in {RANGE}"
    )


def _rescaled(total: float, ratio: float) -> float:
    """A running sum in a new unit (``ratio`` <= 1); an infinite sum stays infinite (inf × 0
    would be NaN)."""
    return total * ratio if math.isfinite(total) else total


class Running:
    """MAE, RMSE and R² of (prediction, label) pairs added one at a time, in bounded memory and
    scaled like :func:`regression`: the sums are kept in units of the largest error (and of the
    largest label, for the labels' variance by Welford's update: B. P. Welford 1962, "Note on
    a method for calculating corrected sums of squares and products", *Technometrics* 4(3)),
    rescaled when a larger one arrives, so that a label of ``1e308`` gives finite metrics.
    The rows holding the largest label and prediction are kept (``where`` of :meth:`add`) for
    :meth:`not_finite`."""

    def __init__(self) -> None:
        self.n = 0
        self._se = 0.0  # scale of the errors
        self._abs = 0.0  # sum of |error| / se
        self._sq = 0.0  # sum of (error / se)²
        self._sy = 0.0  # scale of the labels
        self._mean = 0.0  # of label / sy
        self._m2 = 0.0  # of label / sy
        self.top_label: tuple[float, str] = (0.0, "")
        self.top_prediction: tuple[float, str] = (0.0, "")

    def add(self, prediction: float, label: float, where: str = "") -> None:
        """One row: its prediction, its label (numbers), and how a message names it."""
        p, y = float(prediction), float(label)
        where = where or f"row {self.n}"
        with quiet():
            error = p - y
            if not (abs(p) <= abs(self.top_prediction[0])):
                self.top_prediction = (p, where)
            if not (abs(y) <= abs(self.top_label[0])):
                self.top_label = (y, where)
            if math.isfinite(error) and abs(error) > self._se:
                ratio = self._se / abs(error)
                self._abs, self._sq = _rescaled(self._abs, ratio), _rescaled(self._sq, ratio**2)
                self._se = abs(error)
            if math.isfinite(y) and abs(y) > self._sy:
                ratio = self._sy / abs(y)
                self._mean, self._m2 = _rescaled(self._mean, ratio), _rescaled(self._m2, ratio**2)
                self._sy = abs(y)
            se, sy = self._se or 1.0, self._sy or 1.0
            self.n += 1
            self._abs += abs(error) / se
            self._sq += (error / se) * (error / se) if math.isfinite(error) else math.inf
            ys = y / sy
            delta = ys - self._mean
            self._mean += delta / self.n
            self._m2 += delta * (ys - self._mean)

    def report(self) -> dict[str, float | None]:
        """``{"mae", "rmse", "r2"}``: None without rows (R²: with fewer than two rows, or
        labels that do not vary)."""
        n = self.n
        if not n:
            return {"mae": None, "rmse": None, "r2": None}
        se, sy = self._se or 1.0, self._sy or 1.0
        with quiet():
            r2 = None
            if n > 1 and self._m2 > 0:
                unit = se / sy  # multiplied, not **: Python's ** raises OverflowError
                r2 = float(1 - unit * unit * (self._sq / self._m2))
            return {
                "mae": float(self._abs / n * se),
                "rmse": float(math.sqrt(self._sq / n) * se),
                "r2": r2,
            }

    def not_finite(self, metric: str, value: Any) -> str | None:
        """As the module's :func:`not_finite`, naming the row of the largest label or
        prediction given to :meth:`add`."""
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isfinite(value):
            return None
        if value == -math.inf and math.isfinite(self._sq):  # R²: tiny spread, not overflow
            return (
                f"{metric} is not finite ({value}): the errors are more than 1e308 times the"
                " labels' spread: the labels barely vary"
            )
        (y, wy), (p, wp) = self.top_label, self.top_prediction
        cause = (
            f"the prediction {p:.4g} of {wp}" if abs(p) > abs(y) else f"the label {y:.4g} of {wy}"
        )
        return (
            f"{metric} is not finite ({value}): {cause} is past what float64 arithmetic holds;"
            f" rung accepts numbers in {RANGE}"
        )
