"""Where the runs of a grid execute: in this process, on local worker processes, or on Ray.

:func:`run_specs` is the one entry point (:func:`~torch_ae_sad.model.experiment.run_grid` and
every trainer's ``--workers`` / ``--executor`` flags call it). Whatever the executor, the
*driver* (this process) writes each record with
:func:`~torch_ae_sad.model.experiment.save_record` the moment its run comes back, so

- records are only ever written complete (temporary file + ``os.replace``); a driver killed at
  any moment (even ``SIGKILL``) loses at most the runs in flight, and the next call skips the
  finished ones (run id = hash of the spec) and removes the stale temporary files;
- a run that raises, a worker process that dies (killed, out of host memory) and an
  out-of-memory error (``MemoryError``, ``torch.cuda.OutOfMemoryError``) each become a
  ``status: "failed"`` record with the error, and the grid goes on.

Executors
---------
``serial``
    One run after the other in this process, with the threads of :func:`threads_per_worker`
    for one worker.
``local``
    ``workers`` worker processes, each with ``max(1, cpus // workers)`` torch threads
    (``cpus``: the CPUs not busy with other work, see :func:`threads_per_worker`). Workers
    start by ``forkserver`` where the OS has it (they fork from a server process that has
    imported torch and this package once, so starting or replacing one is quick), else by
    ``spawn``; never by plain ``fork``, which is unsafe with OpenMP threads and CUDA. Either
    way the main module is imported again, so a script that calls it must guard its entry
    point with ``if __name__ == "__main__":``.
    Each worker is a one-process :class:`~concurrent.futures.ProcessPoolExecutor`, so a
    crashed worker breaks only its own run: it is replaced and the grid goes on. Runs sharing
    a split and sampler go to the same worker when that keeps every worker busy, because
    sampling is cached per process; when a worker would otherwise idle it takes a run of a
    group another worker is on and samples that group again (at most once per worker and
    group). Workers ignore ``SIGINT`` (the
    driver stops them) and exit by themselves when the driver dies.
``ray``
    One ``@ray.remote`` task per run, at most ``workers`` in flight, each reserving
    ``max(1, cpus // workers)`` CPUs (``cpus``: the cluster's, capped by its largest node) and
    ``1 / workers`` of a GPU when ``torch.cuda.is_available()`` in the driver. ``ray`` is an
    optional dependency (``pip install 'torch_ae_sad[ray]'``); ``ray.init(address=ray_address)``
    joins a cluster (``None``: starts a local instance, shut down at the end) unless Ray is
    already initialised. Ray reuses its worker processes, so the per-process sampling cache
    often hits, but a group may be sampled again on each Ray worker. On a cluster every node
    needs the package and the datasets at the same paths.

Runs are ordered by (split, sampler) group for every executor, so each group is sampled once
per process (the per-process cache holds a few groups only).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import torch

from torch_ae_sad.model.experiment import (
    _SPLIT_KEYS,
    clean_stale_tmp,
    failed_record,
    is_out_of_memory,
    make_spec,
    run_id,
    run_one,
    save_record,
)

EXECUTORS = ("serial", "local", "ray")
RAY_MISSING = ("executor 'ray' needs Ray, an optional dependency: pip install "
               "'torch_ae_sad[ray]'")

Record = dict[str, Any]
Scores = dict[str, Any] | None


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def idle_cpus() -> int:
    """CPUs not busy with other work: the CPUs minus the 1-minute load average (at least 1)."""
    cpus = available_cpus()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return cpus
    return max(1, min(cpus, int(cpus - load + 0.5)))


def threads_per_worker(workers: int, cpus: int | None = None) -> int:
    """``max(1, cpus // workers)``: the torch intra-op threads of each of ``workers``.

    ``cpus`` defaults to :func:`idle_cpus`: on a machine busy with other work, two spinning
    OpenMP threads per process can make training tens of times slower than one.
    """
    return max(1, (cpus or idle_cpus()) // max(1, workers))


def group_key(spec: dict[str, Any]) -> str:
    """The (split, sampler) part of a spec: runs with the same key share one sampling."""
    return json.dumps({**{k: spec[k] for k in _SPLIT_KEYS}, "sampler": spec["sampler"],
                       "sampler_params": spec["sampler_params"]}, sort_keys=True)


def order_by_group(specs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``specs`` grouped by :func:`group_key` (groups in order of first appearance)."""
    groups: dict[str, list[dict[str, Any]]] = OrderedDict()
    for spec in specs:
        groups.setdefault(group_key(spec), []).append(spec)
    return [spec for members in groups.values() for spec in members]


# -- worker side --------------------------------------------------------------------------------
def _driver_gone(driver: int, parent: int) -> bool:
    if os.getppid() != parent:  # re-parented: the driver (or the fork server) died
        return True
    try:
        os.kill(driver, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _watch_driver(driver: int, parent: int) -> None:
    """Exit this worker as soon as the driver is gone (no orphan keeps computing)."""
    while True:
        time.sleep(0.5)
        if _driver_gone(driver, parent):
            os._exit(3)


def _init_worker(threads: int, driver: int) -> None:
    """Initializer of a local worker process: threads, SIGINT, orphan watchdog."""
    torch.set_num_threads(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C and stops us
    threading.Thread(target=_watch_driver, args=(driver, os.getppid()), daemon=True,
                     name="driver-watchdog").start()


def _run_in_worker(spec: dict[str, Any], verbose: int,
                   save_model: bool = False) -> tuple[Record, Scores]:
    """What a worker runs: :func:`run_one`, plus the worker's pid in the record."""
    record, scores = run_one(spec, verbose=verbose, save_model=save_model)
    record["worker_pid"] = os.getpid()
    return record, scores


def _ray_task(spec: dict[str, Any], threads: int, verbose: int,
             save_model: bool = False) -> tuple[Record, Scores]:
    """Body of the Ray task: one run with ``threads`` torch threads."""
    torch.set_num_threads(threads)
    return _run_in_worker(spec, verbose, save_model)


# -- driver side --------------------------------------------------------------------------------
def _failed(spec: dict[str, Any], exc: BaseException, where: str) -> Record:
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    record = failed_record(spec, f"{where}: {type(exc).__name__}: {exc}", tb)
    if is_out_of_memory(exc) or "OutOfMemory" in type(exc).__name__:
        record["error_kind"] = "out_of_memory"
    return record


def _load_ok(path: Path) -> Record | None:
    """The record at ``path`` if it is readable and ``ok``, else None (with a warning)."""
    try:
        old = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        print(f"warning: {path} is not a readable record ({exc}); running that spec again",
              file=sys.stderr)
        return None
    return old if isinstance(old, dict) and old.get("status") == "ok" else None


def run_specs(specs: Sequence[dict[str, Any]], out_dir: str | Path, *,
              executor: str | None = "serial", workers: int = 1,
              ray_address: str | None = None, skip_existing: bool = True,
              verbose: int = 1, threads: int | None = None,
              save_models: bool = False) -> list[Record]:
    """Run every spec on ``executor`` and write each record as it comes back.

    Parameters
    ----------
    specs : sequence of dict
        Specs; duplicates (same run id) run once.
    out_dir : str or Path
        Records folder (created). Stale temporary files of killed writes are removed.
    executor : {"serial", "local", "ray"}, optional
        See the module docstring; ``None``: ``serial`` for one worker, else ``local``.
    workers : int
        Runs at once (ignored by ``serial``).
    ray_address : str, optional
        Address of a Ray cluster; ``None`` starts a local instance (``executor="ray"``).
    skip_existing : bool
        Skip specs whose record exists with ``status: "ok"``.
    verbose : int
        0 silent, 1 a progress bar and failures, 2 also the training progress (serial only).
    threads : int, optional
        Torch intra-op threads per run (``serial`` sets them for the grid and restores them
        after). Default: :func:`threads_per_worker`, the idle CPUs divided among the workers
        (on a busy machine one thread per run can be many times faster than two); for
        ``ray`` the cluster's CPUs divided among the workers.
    save_models : bool
        Also save each fitted detector beside its record (``<run_id>.model.pt``, named by
        the record's ``model_file``) for the analysis figures that need a trained model.

    Returns
    -------
    list of dict
        One record per spec, in the order of ``specs``.
    """
    from tqdm.auto import tqdm

    workers = int(workers)
    if workers < 1:
        raise ValueError(f"workers: expected >= 1, found {workers}")
    if executor is None:
        executor = "serial" if workers == 1 else "local"
    if executor not in EXECUTORS:
        raise ValueError(f"executor: expected one of {EXECUTORS}, found {executor!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stale = clean_stale_tmp(out)
    if stale and verbose:
        print(f"removed {len(stale)} stale temporary file(s) of killed writes in {out}",
              file=sys.stderr)

    specs = [make_spec(s) for s in specs]
    ids = [run_id(s) for s in specs]
    done: dict[str, Record] = {}
    todo: dict[str, dict[str, Any]] = {}
    for rid, spec in zip(ids, specs, strict=True):
        if rid in done or rid in todo:
            continue
        old = _load_ok(out / f"{rid}.json") if skip_existing else None
        if old is not None and save_models and not (out / str(old.get("model_file"))).is_file():
            old = None  # recorded without its model: run again to save it
        if old is not None:
            done[rid] = old
        else:
            todo[rid] = spec
    pending = order_by_group(list(todo.values()))
    if executor != "serial":
        workers = min(workers, max(1, len(pending)))
    if threads is not None and int(threads) < 1:
        raise ValueError(f"threads: expected >= 1, found {threads}")
    if threads is None and executor != "ray":
        threads = threads_per_worker(workers)
    info = {"executor": executor, "workers": 1 if executor == "serial" else workers,
            "threads": threads}
    if verbose:
        where = "in this process" if executor == "serial" else \
            f"on {workers} {executor} worker(s)"
        print(f"{len(ids)} runs: {len(done)} already recorded, {len(pending)} to run {where}",
              file=sys.stderr)

    bar = tqdm(total=len(pending), desc="runs", unit="run", disable=verbose < 1 or not pending)

    def finish(record: Record, scores: Scores) -> None:
        record["executor"] = dict(info)
        save_record(out, record, scores)
        done[record["run_id"]] = record
        if record["status"] != "ok":
            tqdm.write(f"run {record['run_id']} failed: {record['error']}", file=sys.stderr)
        bar.update(1)

    saved_threads = torch.get_num_threads()
    try:
        if executor == "serial":
            torch.set_num_threads(threads)
            for spec in pending:
                bar.set_postfix_str(f"{spec['method']} {spec['sampler']} "
                                    f"{spec['normal_classes']} seed {spec['seed']}")
                finish(*run_one(spec, verbose=max(0, verbose - 1), save_model=save_models))
        elif executor == "local":
            _run_local(pending, workers, threads, finish, save_models)
        else:
            _run_ray(pending, workers, ray_address, threads, finish, info, save_models)
    except KeyboardInterrupt:
        print(f"\ninterrupted: {bar.n} of {len(pending)} runs recorded in {out}; the same "
              "command resumes the grid", file=sys.stderr)
        raise
    finally:
        bar.close()
        if torch.get_num_threads() != saved_threads:
            torch.set_num_threads(saved_threads)
    return [done[rid] for rid in ids]


# -- local processes ----------------------------------------------------------------------------
def _mp_context() -> multiprocessing.context.BaseContext:
    """The start method of the local workers: ``forkserver`` where the OS has it, else ``spawn``.

    The fork server imports torch and this package once; never plain ``fork``, which is unsafe
    with OpenMP threads and CUDA.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["__main__", __name__])
        return ctx
    return multiprocessing.get_context("spawn")


def _new_pool(threads: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=1, mp_context=_mp_context(),
                               initializer=_init_worker, initargs=(threads, os.getpid()))


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now, terminating a worker still running."""
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if callable(terminate):
        try:
            terminate()
            return
        except Exception:  # noqa: BLE001 - fall back to the manual way
            pass
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=5)
    pool.shutdown(wait=True)  # joins the pool's management thread, releasing its semaphores


def _run_local(pending: list[dict[str, Any]], workers: int, threads: int,
               finish: Callable[[Record, Scores], None], save_models: bool = False) -> None:
    """Schedule ``pending`` on ``workers`` one-process pools, keeping groups together."""
    queues: dict[str, deque[dict[str, Any]]] = OrderedDict()
    for spec in pending:
        queues.setdefault(group_key(spec), deque()).append(spec)
    pools: list[ProcessPoolExecutor | None] = [None] * workers
    current: list[str | None] = [None] * workers  # the group each worker has sampled last
    running: dict[Future, tuple[int, dict[str, Any]]] = {}

    def take(slot: int) -> dict[str, Any]:
        key = current[slot]
        if key not in queues:  # pick a group no other worker is on, else share the largest
            others = {current[i] for i in range(workers) if i != slot}
            free = [k for k in queues if k not in others]
            key = free[0] if free else max(queues, key=lambda k: len(queues[k]))
        spec = queues[key].popleft()
        if not queues[key]:
            del queues[key]
        current[slot] = key
        return spec

    try:
        while queues or running:
            busy = {slot for slot, _ in running.values()}
            for slot in range(workers):
                if slot in busy or not queues:
                    continue
                if pools[slot] is None:
                    pools[slot] = _new_pool(threads)
                spec = take(slot)
                running[pools[slot].submit(_run_in_worker, spec, 0, save_models)] = (slot, spec)
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in finished:
                slot, spec = running.pop(fut)
                try:
                    record, scores = fut.result()
                except BrokenProcessPool as exc:
                    exc = BrokenProcessPool(
                        "the worker process died during this run (killed by a signal or by "
                        f"the OS, e.g. out of host memory): {exc}")
                    record, scores = _failed(spec, exc, "local worker"), None
                    _stop_pool(pools[slot])
                    pools[slot], current[slot] = None, None
                except Exception as exc:  # noqa: BLE001 - recorded, the grid goes on
                    record, scores = _failed(spec, exc, "local worker"), None
                finish(record, scores)
    finally:
        for pool in pools:
            if pool is not None:
                if running:
                    _stop_pool(pool)
                else:
                    pool.shutdown(wait=True)


# -- Ray ----------------------------------------------------------------------------------------
def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ImportError(RAY_MISSING) from exc
    return ray


def _ray_threads(ray: Any, workers: int) -> int:
    """CPUs per task: the cluster's CPUs divided among ``workers``, capped by the largest node."""
    total = int(ray.cluster_resources().get("CPU", 1))
    largest = max((int(n.get("Resources", {}).get("CPU", 0)) for n in ray.nodes()
                   if n.get("Alive", True)), default=total) or total
    return max(1, min(total // workers, largest))


def _run_ray(pending: list[dict[str, Any]], workers: int, ray_address: str | None,
             threads: int | None, finish: Callable[[Record, Scores], None],
             info: dict[str, Any], save_models: bool = False) -> None:
    """One Ray task per run, at most ``workers`` in flight; results saved as they finish.

    Sets ``info["threads"]`` to the CPUs (torch threads) each task gets.
    """
    ray = _import_ray()
    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if ray_address is None:
            kwargs["num_cpus"] = available_cpus()
        ray.init(address=ray_address, **kwargs)
        started = True
    try:
        threads = int(threads) if threads is not None else _ray_threads(ray, workers)
        info["threads"] = threads
        options: dict[str, Any] = {"num_cpus": threads, "max_retries": 0}
        if torch.cuda.is_available():
            options["num_gpus"] = 1.0 / workers
        task = ray.remote(_ray_task).options(**options)
        queue = deque(pending)
        running: dict[Any, dict[str, Any]] = {}
        try:
            while queue or running:
                while queue and len(running) < workers:
                    spec = queue.popleft()
                    running[task.remote(spec, threads, 0, save_models)] = spec
                ready, _ = ray.wait(list(running), num_returns=1)
                for ref in ready:
                    spec = running.pop(ref)
                    try:
                        record, scores = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - RayError, worker crash, OOM
                        record, scores = _failed(spec, exc, "ray task"), None
                    finish(record, scores)
        finally:
            for ref in running:
                ray.cancel(ref, force=True)
    finally:
        if started:
            ray.shutdown()
