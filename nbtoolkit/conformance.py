"""validate(): does a frame keep a data contract — one given, one inferred from a reference frame,
or the one stored with a model version (``model="NAME@alias"``).

Above the data model (:mod:`nbtoolkit.contract` knows no registry): this is the one place that
fetches a version's contract (:func:`nbtoolkit.registry.artifacts.stored_contract`) to check a
frame against it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .contract import Contract, _timedelta
from .errors import Arg, BadInput, ContractViolation, say
from .registry.artifacts import stored_contract
from .validation import fraction, number
from .vocabulary import renamed

if TYPE_CHECKING:  # pragma: no cover
    from .reports.data import ValidationReport

__all__ = ["validate"]


@renamed(raise_on_fail="fail")
def validate(
    frame: Any,
    *,
    model: str | None = None,
    reference: Any = None,
    contract: Contract | None = None,
    fail: bool = False,
    max_age: str | None = None,
    timestamp: str | None = None,
    null_tolerance: float = 0.05,
    range_tolerance: float = 0.0,
) -> ValidationReport:
    """Check ``frame`` against a data contract; return a ValidationReport (``.passed``).

    Parameters
    ----------
    frame : DataFrame
    model : str, optional
        ``NAME``, ``NAME/3`` or ``NAME@alias``: the contract stored with that version.
    reference : DataFrame, optional
        Infer the contract from this frame instead.
    contract : Contract, optional
        Use this contract.
    fail : bool
        (old name ``raise_on_fail``)
        Raise :class:`~nbtoolkit.errors.ContractViolation` (carrying the report) on any error,
        so a pipeline step fails.
    max_age : str, optional
        Freshness: the newest value of the timestamp column must be at most this old (``"2D"``).
    timestamp : str, optional
        The timestamp column for ``max_age`` (default: the only datetime column).
    null_tolerance : float
        Allowed increase of a column's null rate over the contract's before it is an error.
    range_tolerance : float
        Allowed excursion outside the contract's numeric range, as a fraction of its span. Values
        outside it are a warning when they are at most 1% of the rows and within one span of the
        range, an error otherwise.
    """
    null_tolerance = fraction(null_tolerance, "null_tolerance", hint=" (an allowed rise of the null rate, e.g. 0.05)")
    range_tolerance = number(range_tolerance, "range_tolerance", low=0, hint=" (a fraction of the range, e.g. 0.1)")
    if max_age is not None:
        _timedelta(max_age)  # a bad duration is refused before the store is read
    sources = [x is not None for x in (model, reference, contract)]
    if sum(sources) != 1:
        raise BadInput(say("Pass exactly one of ", Arg("model", "'NAME@alias'"), ", ", Arg("reference", "DataFrame"),
                           " or ", Arg("contract", "Contract"), f" (got {sum(sources)})."))
    source = "contract"
    if model is not None:
        contract, source = _stored_contract(model)
    elif reference is not None:
        contract, source = Contract.from_frame(reference), f"reference frame ({len(reference)} rows)"
    elif not isinstance(contract, Contract):
        raise BadInput(f"contract must be a Contract, got {type(contract).__name__}.")
    report = contract.check(frame, max_age=max_age, timestamp=timestamp, null_tolerance=null_tolerance,
                            range_tolerance=range_tolerance, source=source)
    if fail and not report.passed:
        raise ContractViolation(report.failure_message(), report)
    return report


def _stored_contract(ref: str) -> tuple[Contract, str]:
    mv, text = stored_contract(ref)
    return Contract.from_json(text), f"{mv.name}/{mv.version} contract"
