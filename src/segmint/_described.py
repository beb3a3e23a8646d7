"""What describes a run's customers besides the clustering features, lined up with its table.

:func:`gather` gathers the descriptors (:func:`segmint.features.describe_customers`), the
monthly activity and the data quality of a cleaned log, and lines them up with the customer
table that is clustered: the same customers in the same order, whatever a window kept
(:mod:`segmint.windows`) and with the same pseudonymous ids (:mod:`segmint._pseudonym`).
:func:`describe_segments` turns them into the business half of a run's profiles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from segmint.errors import SegmintError

if TYPE_CHECKING:
    import pandas as pd

    from segmint.clean import Cleaned
    from segmint.features import FeatureTable
    from segmint.model import Segmenter

__all__ = ["Described", "describe_segments", "gather"]


@dataclass
class Described:
    """What describes the customers besides the clustering features (see :func:`gather`).

    Attributes
    ----------
    customers : pandas.DataFrame
        :func:`segmint.features.describe_customers`, rows as in the customer table.
    monthly : pandas.DataFrame or None
        :func:`segmint.features.monthly_activity`, of the same customers.
    quality : dict
        :func:`segmint.quality.data_quality`.
    """

    customers: pd.DataFrame
    monthly: pd.DataFrame | None
    quality: dict[str, Any]


def gather(cleaned: Cleaned, table: FeatureTable, pseudonymize_key: str | None = None) -> Described:
    """The descriptors of the customers of ``table``, in its order and with its ids.

    ``cleaned`` must come from ``clean(..., descriptors=True)``. When ``table`` holds
    pseudonymous ids, the descriptors' ids are turned into tokens under the same key
    (``pseudonymize_key``, as given to :func:`segmint.features.feature_table`).
    """
    import pandas as pd

    from segmint.features import describe_customers, monthly_activity, pseudonymous_ids
    from segmint.quality import data_quality

    customers = describe_customers(cleaned)
    monthly = monthly_activity(cleaned)
    if table.pseudonymized:
        customers = pseudonymous_ids(customers, pseudonymize_key)
        monthly = None if monthly is None else pseudonymous_ids(monthly, pseudonymize_key)
    ids = table.table["customer_id"].astype(str)
    if not customers["customer_id"].astype(str).reset_index(drop=True).equals(ids):
        # a window keeps the customers active in it; tokens sort in another order
        by_id = customers.set_index("customer_id")
        missing = ids[~ids.isin(by_id.index)]
        if len(missing):
            raise SegmintError(
                f"internal: customer {missing.iloc[0]!r} of the table has no descriptors"
            )
        customers = by_id.reindex(pd.Index(ids)).rename_axis("customer_id").reset_index()
        if monthly is not None:
            monthly = monthly[monthly["customer_id"].isin(set(ids))].reset_index(drop=True)
    return Described(customers, monthly, data_quality(cleaned))


def describe_segments(
    segmenter: Segmenter, table: FeatureTable, described: Described
) -> dict[str, Any]:
    """:func:`segmint.cluster.business.describe_segments` of a fitted run."""
    from segmint.cluster.business import describe_segments as business

    return business(
        segmenter,
        table.table["customer_id"].astype(str).tolist(),
        described.customers,
        described.monthly,
        described.quality,
    )
