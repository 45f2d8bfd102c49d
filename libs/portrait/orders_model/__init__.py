"""The orders-only purchase model of any mapped orders export (`portrait orders-model`)."""

from portrait.orders_model.fallback import summary_line
from portrait.orders_model.features import customer_lines, purchase_days, with_order_features, with_purchase_label
from portrait.orders_model.references import clv_by_decile, reference_aucs
from portrait.orders_model.run import RunConf, labelled_rows, run

__all__ = [
    "RunConf",
    "clv_by_decile",
    "customer_lines",
    "labelled_rows",
    "purchase_days",
    "reference_aucs",
    "run",
    "summary_line",
    "with_order_features",
    "with_purchase_label",
]
