"""Warnings that skadaptive raises, so that they can be filtered or turned into errors."""

__all__ = ["GuaranteeWarning"]


class GuaranteeWarning(UserWarning):
    """Budget mode's guarantee mode could not certify any candidate.

    Raised at the end of ``fit`` of :class:`~skadaptive.EarlyExitClassifierCV` or
    :class:`~skadaptive.NetworkSelectionClassifierCV` with ``confidence`` set, when
    no candidate router could be certified on the calibration rows: the estimator
    then serves its fallback (the reference for an accuracy target, stage 0 alone for
    a cost target), and the message says which.  Turn it into an error with
    ``warnings.simplefilter("error", GuaranteeWarning)`` where a fallback is not
    acceptable.
    """
