"""Plots and tables from a folder of run records (the JSON records are all these read).

Each module is a script, ``python -m torch_ae_sad.model.analysis.<name> RECORDS_DIR
[--out DIR]``; :mod:`~torch_ae_sad.model.analysis.all` draws every one of them:

- ``auroc_by_sampler``: AUROC by sampler and scenario, mean ± std over seeds;
- ``time_reduction``: training seconds per sampler and the reduction against ``none``;
- ``pareto``: AUROC against training seconds with the Pareto front;
- ``curves``: ROC and precision-recall curves per run, threshold marked;
- ``score_histograms``: normal vs anomalous test scores per run, threshold marked;
- ``confusion``: confusion matrix per run at the recorded threshold;
- ``loss_curves``: train / validation loss (and validation AUROC) per run;
- ``tables``: aggregated tables as Markdown and LaTeX (booktabs), best of a row in bold.
"""

#: Script modules in the order :mod:`~torch_ae_sad.model.analysis.all` runs them.
SCRIPTS = ("tables", "auroc_by_sampler", "time_reduction", "pareto", "curves",
           "score_histograms", "confusion", "loss_curves")

__all__ = ["SCRIPTS"]
