"""Experiment runner: one run -> one JSON record, grids of runs that resume after a crash.

One module per job; arrows point one way (cli -> grid -> executors -> run -> spec, and every
module -> store):

- :mod:`~.spec`: the spec's keys, defaults and validation, old-record upgrade, the run id;
- :mod:`~.run`: one spec's data (cached per process), its detector, its record;
- :mod:`~.store`: every file of a run (atomic writes, integrity, the one reader, claims);
- :mod:`~.model_files`: the model-file format (a fitted detector as data only), used by
  the store's ``serialize_model`` / ``load_model``;
- :mod:`~.executors`: where runs execute (this process, local workers, Ray);
- :mod:`~.grid`: config lists checked and expanded, ``--quick``, :func:`~.grid.run_grid`;
- :mod:`~.cli`: :func:`~.cli.trainer_main`, the command line of every trainer;
- :mod:`~.labels`: the labels of scenarios, samplers, methods and runs, and their styles.

A run's id is a hash of its spec (``device`` excluded), so a re-run of a grid skips the runs
whose record already exists. Each record is written atomically the moment its run ends, with
the raw test and validation scores beside it (``<run_id>.scores.npz``). A run that raises is
recorded with ``status: "failed"``, the error and its traceback, and the grid goes on.
:mod:`torch_ae_sad.model.results` turns a folder of records into a table of means and
standard deviations over seeds.
"""

from torch_ae_sad.model.experiment.cli import format_table, summary_rows, trainer_main
from torch_ae_sad.model.experiment.executors import EXECUTORS, run_specs
from torch_ae_sad.model.experiment.grid import (
    QUICK,
    check_config_lists,
    expand_grid,
    quick_model,
    run_grid,
)
from torch_ae_sad.model.experiment.run import (
    build_detector,
    environment,
    failed_record,
    free_memory,
    is_out_of_memory,
    prepare_data,
    run_one,
    spec_detector,
)
from torch_ae_sad.model.experiment.spec import (
    SCHEMA,
    SPEC_DEFAULTS,
    SPLIT_KEYS,
    Spec,
    SpecError,
    check_sampler_params,
    make_spec,
    run_id,
    upgrade_spec,
)
from torch_ae_sad.model.experiment.store import (
    DEFAULT_OUT,
    MODEL_KEY,
    Claims,
    RecordFileError,
    atomic_write,
    clean_stale_tmp,
    load_model,
    load_records,
    load_scores,
    model_path,
    read_record,
    save_record,
    serialize_model,
)

__all__ = [
    "DEFAULT_OUT", "EXECUTORS", "MODEL_KEY", "QUICK", "SCHEMA", "SPEC_DEFAULTS", "SPLIT_KEYS",
    "Claims", "RecordFileError", "Spec", "SpecError", "atomic_write", "build_detector",
    "check_config_lists", "check_sampler_params", "clean_stale_tmp", "environment",
    "expand_grid", "failed_record", "format_table", "free_memory", "is_out_of_memory",
    "load_model", "load_records", "load_scores", "make_spec", "model_path", "prepare_data",
    "quick_model", "read_record", "run_grid", "run_id", "run_one", "run_specs", "save_record",
    "serialize_model", "spec_detector", "summary_rows", "trainer_main", "upgrade_spec",
]
