"""Plots and tables from a folder of run records (the JSON records are all these read).

Each module is a script, ``python -m torch_ae_sad.model.analysis.<name> RECORDS_DIR
[--out DIR]``; :mod:`~torch_ae_sad.model.analysis.all` draws every one of them:

- ``tables``: aggregated tables as Markdown and LaTeX (booktabs), best of a row in bold;
- ``auroc_by_sampler``: AUROC by sampler and scenario, mean ± std over seeds;
- ``time_reduction``: training seconds per sampler and the reduction against ``none``;
- ``pareto``: AUROC against training seconds with the Pareto front;
- ``significance``: critical-difference diagram (Friedman, Nemenyi) and pairwise Wilcoxon
  tests with Holm's correction, of the samplers (or ``--compare method``);
- ``curves``: ROC and precision-recall curves per run, threshold marked;
- ``score_histograms``: normal vs anomalous test scores per run, threshold marked;
- ``confusion``: confusion matrix per run at the recorded threshold;
- ``loss_curves``: train / validation loss (and validation AUROC) per run;
- ``grid_ranking``: a hyper-parameter grid ranked by AUROC and by the anomaly-normal error gap;
- ``toll_beta``: TOLL's AUROC against beta (the paper's ablation);
- ``noise_robustness``: AUROC and test scores against the std of the test noise;
- ``reconstructions``: original and reconstructed test images per run (saved models);
- ``latent_space``: the latent space in 2D per run, and decoder activations side by side.

Two more scripts: ``toll_dynamics`` (TOLL on a 2-D Gaussian, needs no records) and ``report``
(every study a records folder can feed plus ``toll_dynamics``, into ``latex/generated``, with
the sections of the documents left empty and the command that fills each).

The scripts share three modules, arrows pointing one way (scripts -> cli / plotting -> data):

- :mod:`~torch_ae_sad.model.analysis.data`: records, scores, saved models, grouping (no
  drawing);
- :mod:`~torch_ae_sad.model.analysis.plotting`: layouts, the fixed sampler / method styles,
  bars, lines, saving figures;
- :mod:`~torch_ae_sad.model.analysis.cli`: ``script_main`` and ``PerRunScript``, the one
  factory of the per-run scripts;

and :mod:`~torch_ae_sad.model.analysis.studies` says which section of the thesis a folder of
records can fill. Labels come from :mod:`torch_ae_sad.model.experiment.labels`, shared with
the trainers' tables and :mod:`torch_ae_sad.model.results`.
"""

#: Script modules in the order :mod:`~torch_ae_sad.model.analysis.all` runs them.
SCRIPTS = ("tables", "auroc_by_sampler", "time_reduction", "pareto", "significance", "curves",
           "score_histograms", "confusion", "loss_curves", "grid_ranking", "toll_beta",
           "noise_robustness", "reconstructions", "latent_space")
#: Scripts that draw one figure per run and accept ``run=``.
PER_RUN = ("curves", "score_histograms", "confusion", "loss_curves", "reconstructions",
           "latent_space")

__all__ = ["PER_RUN", "SCRIPTS"]
