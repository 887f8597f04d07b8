"""Where the runs of a grid execute: in this process, on local worker processes, or on Ray.

:func:`run_specs` is the one entry point (:func:`~.grid.run_grid` and every trainer's
``--workers`` / ``--executor`` flags call it). Whatever the executor, the *driver* (this
process) writes each record with :func:`~.store.save_record` the moment its run comes back, so

- records are only ever written complete (temporary file + ``os.replace``); a driver killed at
  any moment (even ``SIGKILL``) loses at most the runs in flight, and the next call skips the
  finished ones (run id = hash of the spec) and removes the stale temporary files;
- a run that raises, a worker process that dies (killed, out of host memory) and an
  out-of-memory error (``MemoryError``, ``torch.cuda.OutOfMemoryError``) each become a
  ``status: "failed"`` record with the error, and the grid goes on;
- several drivers may share one records folder, on one machine or on several sharing a file
  system: each claims a run before starting it (:class:`~.store.Claims`, a claim file with
  owner and heartbeat, taken over when stale), so they split the grid instead of repeating
  it, and each returns every record of its grid.

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
    point with ``if __name__ == "__main__":`` (:func:`check_main_guard` says so before any
    worker starts).
    Each worker is a one-process :class:`~concurrent.futures.ProcessPoolExecutor`, so a
    crashed worker breaks only its own run: it is replaced, the run is tried once more, and
    the grid goes on. With GPUs each worker sees one of its own (``CUDA_VISIBLE_DEVICES``).
    Runs sharing a split and sampler go to the same worker when that keeps every worker busy,
    because sampling is cached per process; when a worker would otherwise idle it takes a run
    of a group another worker is on and samples that group again (at most once per worker
    and group). Workers ignore ``SIGINT`` (the driver stops them) and exit by themselves when
    the driver dies.
``ray``
    One ``@ray.remote`` task per run, at most ``workers`` in flight, each reserving
    ``max(1, cpus // workers)`` CPUs (``cpus``: the cluster's, capped by its largest node) and
    the GPUs :func:`ray_gpus_per_task` decides from the *cluster's* resources. ``ray`` is an
    optional dependency (``pip install 'torch_ae_sad[ray]'``); ``ray.init(address=ray_address)``
    joins a cluster (``None``: starts a local instance, shut down at the end) unless Ray is
    already initialised, with Ray's own logs kept out of the driver's terminal. The driver
    ships each data set once through the object store (the nodes need the package, not the
    data files); a task whose worker or node was lost is submitted again
    (:data:`MAX_ATTEMPTS`), a run that raised is recorded at once. Ray reuses its worker
    processes, so the per-process sampling cache often hits, but a group may be sampled again
    on each Ray worker.

Runs are ordered by (split, sampler) group for every executor, so each group is sampled once
per process (the per-process cache holds a few groups only).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import torch

from torch_ae_sad.model.experiment.run import failed_record, group_key, run_one
from torch_ae_sad.model.experiment.spec import make_spec, run_id
from torch_ae_sad.model.experiment.store import (
    Claims,
    check_writable,
    clean_stale_tmp,
    finished_record,
    read_record,
    save_record,
)

EXECUTORS = ("serial", "local", "ray")
#: Tries of a run whose worker process (local) or Ray worker or node was lost.
MAX_ATTEMPTS = {"serial": 1, "local": 2, "ray": 3}
#: Ray errors that mean the task's worker or node was lost, not that the run raised.
RAY_LOST = ("WorkerCrashedError", "NodeDiedError", "LocalRayletDiedError", "ObjectLostError",
            "ObjectFetchTimedOutError")
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


def _init_worker(threads: int, driver: int, gpu: int | None = None) -> None:
    """Initializer of a local worker process: threads, its own GPU, SIGINT, orphan watchdog."""
    if gpu is not None:  # before anything touches CUDA in this process
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    torch.set_num_threads(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C and stops us
    threading.Thread(target=_watch_driver, args=(driver, os.getppid()), daemon=True,
                     name="driver-watchdog").start()


def task_device(device: str | None) -> str | None:
    """A spec's device as a worker that sees only its own GPU names it (``cuda:1`` -> ``cuda``)."""
    if device is not None and device.startswith("cuda:"):
        return "cuda"
    return device


def _run_in_worker(spec: dict[str, Any], verbose: int, save_model: bool = False,
                   own_gpu: bool = False) -> tuple[Record, Scores]:
    """What a worker runs: :func:`run_one`, plus where it ran in the record.

    ``own_gpu``: this process sees only the GPU given to it, so ``cuda:N`` means ``cuda``.
    """
    if own_gpu:
        spec = {**spec, "device": task_device(spec.get("device"))}
    record, scores = run_one(spec, verbose=verbose, save_model=save_model)
    record["worker_pid"] = os.getpid()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        record["environment"]["cuda_visible_devices"] = visible
    return record, scores


def _ray_task(spec: dict[str, Any], threads: int, verbose: int, save_model: bool,
              data: tuple[Any, ...] | None) -> tuple[Record, Scores]:
    """Body of the Ray task: one run with ``threads`` torch threads.

    ``data`` are the arrays of the spec's dataset, shipped once through the object store by
    the driver (Ray resolves the reference), so the node needs no copy of the files.
    """
    import ray

    from torch_ae_sad.dataset_loaders import provide_dataset

    torch.set_num_threads(threads)
    if data is not None:
        provide_dataset(spec["dataset"], data)
    record, scores = _run_in_worker(spec, verbose, save_model, own_gpu=True)
    record["environment"]["ray_node"] = ray.get_runtime_context().get_node_id()
    record["environment"]["data_from"] = "object_store" if data is not None else "files"
    return record, scores


# -- driver side --------------------------------------------------------------------------------
class WorkQueue:
    """The runs a driver still has to do, handed out under a claim, grouped by sampling.

    A run is handed out only once this driver holds its claim (:class:`~.store.Claims`); a
    run another live driver holds waits until that driver records it (then it counts as done
    here) or its claim goes stale (then it is taken over). Runs sharing a (split, sampler)
    group are handed out together, since sampling is cached per process.
    """

    def __init__(self, specs: Sequence[dict[str, Any]], folder: Path, claims: Claims,
                 need_model: bool, on_elsewhere: Callable[[Record], None]) -> None:
        self.groups: dict[str, deque[dict[str, Any]]] = OrderedDict()
        for spec in specs:
            self.groups.setdefault(group_key(spec), deque()).append(spec)
        self.waiting: dict[str, dict[str, Any]] = {}
        self.folder, self.claims, self.need_model = folder, claims, need_model
        self.on_elsewhere = on_elsewhere
        self.started = time.time()

    def __bool__(self) -> bool:
        return bool(self.groups or self.waiting)

    def _pick(self, prefer: str | None, avoid: set[str]) -> str:
        if prefer in self.groups:
            return prefer
        free = [k for k in self.groups if k not in avoid]
        return free[0] if free else max(self.groups, key=lambda k: len(self.groups[k]))

    def take(self, prefer: str | None = None,
             avoid: set[str] | None = None) -> tuple[dict[str, Any], str] | None:
        """The next run this driver claimed and its group, or None when none is claimable."""
        while self.groups:
            key = self._pick(prefer, avoid or set())
            spec = self.groups[key].popleft()
            if not self.groups[key]:
                del self.groups[key]
            rid = run_id(spec)
            if not self.claims.take(rid):
                self.waiting[rid] = spec
                continue
            if self._recorded(rid):  # recorded by another driver since the folder was read
                self.claims.release(rid)
                continue
            return spec, key
        return None

    def all_specs(self) -> list[dict[str, Any]]:
        """Every spec still to hand out or waiting for another driver."""
        return [s for group in self.groups.values() for s in group] + list(self.waiting.values())

    def retry(self, spec: dict[str, Any], key: str) -> None:
        """Hand ``spec`` (still claimed by this driver) out again, first of its group."""
        self.groups.setdefault(key, deque()).appendleft(spec)

    def _recorded(self, rid: str) -> bool:
        """Whether another driver has recorded ``rid`` (ok, or failed during this grid)."""
        record, _ = finished_record(self.folder, rid, need_model=self.need_model)
        if record is None:
            path = self.folder / f"{rid}.json"
            try:
                if path.stat().st_mtime < self.started:
                    return False
                record = read_record(path)
            except (OSError, ValueError):
                return False
        self.on_elsewhere(record)
        return True

    def poll(self) -> None:
        """Settle the waiting runs: recorded elsewhere -> done; claim gone stale -> to do."""
        for rid, spec in list(self.waiting.items()):
            if self._recorded(rid):
                del self.waiting[rid]
            elif self.claims.holder(rid) is None:
                del self.waiting[rid]
                self.groups.setdefault(group_key(spec), deque()).append(spec)

    def idle(self, seconds: float = 1.0) -> None:
        """Wait for other drivers when nothing is claimable, then :meth:`poll`."""
        time.sleep(seconds)
        self.poll()


def _plan(specs: Sequence[dict[str, Any]], out: Path, skip_existing: bool, save_models: bool,
          verbose: int) -> tuple[list[str], dict[str, Record], list[dict[str, Any]]]:
    """Run ids of ``specs``, the runs already recorded, and the specs still to run."""
    specs = [make_spec(s) for s in specs]
    ids = [run_id(s) for s in specs]
    done: dict[str, Record] = {}
    todo: dict[str, dict[str, Any]] = {}
    for rid, spec in zip(ids, specs, strict=True):
        if rid in done or rid in todo:
            continue
        old, why = finished_record(out, rid, need_model=save_models) if skip_existing else \
            (None, None)
        if why and verbose:
            print(f"warning: {why}; running that spec again", file=sys.stderr)
        if old is not None:
            done[rid] = old
        else:
            todo[rid] = spec
    if verbose:
        _warn_other_device(done.values())
    return ids, done, order_by_group(list(todo.values()))


def _warn_other_device(records: Iterable[Record]) -> None:
    """Say when records kept from an earlier start ran on another kind of device than this one.

    The run id leaves the device out (the same run on a GPU is the same run), but CPU and
    CUDA results of one spec differ in their noise and kernels, so a resumed grid says so.
    """
    here = "cuda" if torch.cuda.is_available() else "cpu"
    other = [r for r in records if str(r.get("device", here)).split(":")[0] != here
             and r["spec"].get("device") in (None, here)]
    if other:
        kind = str(other[0].get("device")).split(":")[0]
        print(f"note: {len(other)} run(s) kept from an earlier start ran on {kind}, this "
              f"machine runs on {here}; --force runs them again here (results: --filter "
              "ran_on=... or --group-by ... ran_on keeps them apart)", file=sys.stderr)


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
        Records folder (created; checked for writing before any run). Stale temporary files
        of killed writes are removed. Other drivers may share it: each run is claimed by the
        driver that starts it (:class:`~.store.Claims`), so they share the grid.
    executor : {"serial", "local", "ray"}, optional
        See the module docstring; ``None``: ``serial`` for one worker, else ``local``.
    workers : int
        Runs at once (ignored by ``serial``).
    ray_address : str, optional
        Address of a Ray cluster; ``None`` starts a local instance (``executor="ray"``).
    skip_existing : bool
        Skip specs whose record exists with ``status: "ok"`` and intact files.
    verbose : int
        0 silent, 1 a progress bar and failures, 2 also the training progress (serial only).
    threads : int, optional
        Torch intra-op threads per run. Default: :func:`threads_per_worker`; for ``ray`` the
        cluster's CPUs divided among the workers.
    save_models : bool
        Also save each fitted detector beside its record (``<run_id>.model.pt``).

    Returns
    -------
    list of dict
        One record per spec, in the order of ``specs``.
    """
    workers, executor = _check_options(executor, workers, threads)
    out = check_writable(out_dir)
    stale = clean_stale_tmp(out)
    if stale and verbose:
        print(f"removed {len(stale)} stale temporary file(s) of killed writes in {out}",
              file=sys.stderr)
    ids, done, pending = _plan(specs, out, skip_existing, save_models, verbose)
    if executor == "local" and pending:
        check_main_guard()
    if executor != "serial":
        workers = min(workers, max(1, len(pending)))
    if threads is None and executor != "ray":
        threads = threads_per_worker(workers)
    info = {"executor": executor, "workers": 1 if executor == "serial" else workers,
            "threads": threads}
    if verbose:
        where = "in this process" if executor == "serial" else \
            f"on {workers} {executor} worker(s)"
        print(f"{len(ids)} runs: {len(done)} already recorded, {len(pending)} to run {where}",
              file=sys.stderr)
    with _Driver(out, pending, done, info, save_models, verbose) as driver:
        driver.run(executor, workers, threads, ray_address)
    return [done[rid] for rid in ids]


def _check_options(executor: str | None, workers: int, threads: int | None) -> tuple[int, str]:
    workers = int(workers)
    if workers < 1:
        raise ValueError(f"workers: expected >= 1, found {workers}")
    if threads is not None and int(threads) < 1:
        raise ValueError(f"threads: expected >= 1, found {threads}")
    if executor is None:
        executor = "serial" if workers == 1 else "local"
    if executor not in EXECUTORS:
        raise ValueError(f"executor: expected one of {EXECUTORS}, found {executor!r}")
    return workers, executor


class _Driver:
    """One grid's driver: its claims, work queue and progress bar; writes each record."""

    def __init__(self, out: Path, pending: list[dict[str, Any]], done: dict[str, Record],
                 info: dict[str, Any], save_models: bool, verbose: int) -> None:
        from tqdm.auto import tqdm

        self.out, self.done, self.info = out, done, info
        self.save_models, self.verbose = save_models, verbose
        self.claims = Claims(out)
        self.queue = WorkQueue(pending, out, self.claims, save_models, self._elsewhere)
        self.bar = tqdm(total=len(pending), desc="runs", unit="run",
                        disable=verbose < 1 or not pending)
        self.n_pending, self.n_elsewhere = len(pending), 0
        self.attempts: dict[str, int] = {}

    def __enter__(self) -> _Driver:
        self._claims_ctx = self.claims.active()
        self._claims_ctx.__enter__()
        self.saved_threads = torch.get_num_threads()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.bar.close()
        self._claims_ctx.__exit__(exc_type, exc, tb)
        if torch.get_num_threads() != self.saved_threads:
            torch.set_num_threads(self.saved_threads)
        if exc_type is KeyboardInterrupt:
            print(f"\ninterrupted: {self.bar.n} of {self.n_pending} runs recorded in "
                  f"{self.out}; the same command resumes the grid", file=sys.stderr)
        elif self.n_elsewhere and self.verbose:
            print(f"{self.n_elsewhere} run(s) recorded by another driver on {self.out}",
                  file=sys.stderr)

    def lost(self, spec: dict[str, Any], key: str, exc: BaseException, where: str) -> None:
        """A run whose worker (or node) was lost: run it again, or record it as failed.

        Runs are tried at most ``MAX_ATTEMPTS[executor]`` times; an error raised by the run
        itself never comes here (it is recorded at once).
        """
        from tqdm.auto import tqdm

        rid = run_id(spec)
        attempt = self.attempts.get(rid, 1)
        limit = MAX_ATTEMPTS[self.info["executor"]]
        if attempt < limit:
            self.attempts[rid] = attempt + 1
            self.queue.retry(spec, key)
            tqdm.write(f"run {rid}: {where} lost ({type(exc).__name__}); running it again "
                       f"(attempt {attempt + 1} of {limit})", file=sys.stderr)
        else:
            self.finish(failed_record(spec, exc, where=where), None)

    def _elsewhere(self, record: Record) -> None:
        self.done[record["run_id"]] = record
        self.n_elsewhere += 1
        self.bar.update(1)

    def finish(self, record: Record, scores: Scores) -> None:
        """Write a finished run's files, release its claim, advance the bar."""
        from tqdm.auto import tqdm

        record["executor"] = dict(self.info)
        record["attempts"] = self.attempts.pop(record["run_id"], 1)
        save_record(self.out, record, scores)
        self.claims.release(record["run_id"])
        self.done[record["run_id"]] = record
        if record["status"] != "ok":
            tqdm.write(f"run {record['run_id']} failed: {record['error']}", file=sys.stderr)
        self.bar.update(1)

    def run(self, executor: str, workers: int, threads: int | None,
            ray_address: str | None) -> None:
        """Run the queue on ``executor``."""
        if executor == "serial":
            self._run_serial(threads)
        elif executor == "local":
            _run_local(self, workers, threads)
        else:
            _run_ray(self, workers, ray_address, threads)

    def _run_serial(self, threads: int | None) -> None:
        torch.set_num_threads(threads)
        while self.queue:
            taken = self.queue.take()
            if taken is None:
                self.queue.idle()
                continue
            spec = taken[0]
            self.bar.set_postfix_str(f"{spec['method']} {spec['sampler']} "
                                     f"{spec['normal_classes']} seed {spec['seed']}")
            self.finish(*run_one(spec, verbose=max(0, self.verbose - 1),
                                 save_model=self.save_models))


def check_main_guard() -> None:
    """Raise when the main script would run its grid again in every local worker.

    Local workers start by ``forkserver`` / ``spawn``, which import the main module again; a
    script that starts a grid at its top level, without ``if __name__ == "__main__":``, would
    start it again in each worker (which Python stops, and which looked like a killed worker).

    Raises
    ------
    RuntimeError
        Naming the script and the fix.
    """
    import ast

    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path or not str(path).endswith(".py") or not os.path.isfile(path):
        return
    try:
        tree = ast.parse(Path(path).read_text(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return
    for node in tree.body:
        if isinstance(node, ast.If) and "__name__" in ast.unparse(node.test) \
                and "__main__" in ast.unparse(node.test):
            return
    raise RuntimeError(
        f"{path} starts a grid on local worker processes but has no `if __name__ == "
        "\"__main__\":` guard: the workers import the main script again and would start the "
        "grid again themselves. Put the call under that guard (or use executor='serial').")


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


def _new_pool(threads: int, gpu: int | None = None) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=1, mp_context=_mp_context(),
                               initializer=_init_worker, initargs=(threads, os.getpid(), gpu))


def _slot_gpus(workers: int) -> list[int | None]:
    """The GPU each local worker slot sees alone (round robin), or None without CUDA."""
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return [slot % n if n else None for slot in range(workers)]


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


def _run_local(driver: _Driver, workers: int, threads: int) -> None:
    """Run the driver's queue on ``workers`` one-process pools, keeping sampling groups together.

    Each worker sees one GPU of its own (``CUDA_VISIBLE_DEVICES``) when there are GPUs; a run
    whose worker process died is tried again once in a fresh worker.
    """
    queue = driver.queue
    pools: list[ProcessPoolExecutor | None] = [None] * workers
    gpus = _slot_gpus(workers)
    current: list[str | None] = [None] * workers  # the group each worker has sampled last
    running: dict[Future, tuple[int, dict[str, Any], str]] = {}
    try:
        while queue or running:
            busy = {slot for slot, _, _ in running.values()}
            for slot in (s for s in range(workers) if s not in busy):
                others = {current[i] for i in range(workers) if i != slot}
                taken = queue.take(prefer=current[slot], avoid=others)
                if taken is None:
                    break
                spec, current[slot] = taken
                if pools[slot] is None:
                    pools[slot] = _new_pool(threads, gpus[slot])
                fut = pools[slot].submit(_run_in_worker, spec, 0, driver.save_models,
                                         gpus[slot] is not None)
                running[fut] = (slot, spec, current[slot])
            if not running:
                queue.idle()
                continue
            finished, _ = wait(list(running), timeout=5.0, return_when=FIRST_COMPLETED)
            for fut in finished:
                slot, spec, key = running.pop(fut)
                _local_result(driver, fut, spec, key)
                if pools[slot] is not None and fut.exception() is not None \
                        and isinstance(fut.exception(), BrokenProcessPool):
                    _stop_pool(pools[slot])
                    pools[slot], current[slot] = None, None
            queue.poll()
    finally:
        for pool in pools:
            if pool is not None:
                if running:
                    _stop_pool(pool)
                else:
                    pool.shutdown(wait=True)


def _local_result(driver: _Driver, fut: Future, spec: dict[str, Any], key: str) -> None:
    """Record a finished local run, or hand it out again when its worker process died."""
    try:
        record, scores = fut.result()
    except BrokenProcessPool as exc:
        exc = BrokenProcessPool("the worker process died during this run (killed by a signal "
                                f"or by the OS, e.g. out of host memory): {exc}")
        driver.lost(spec, key, exc, "local worker")
        return
    except Exception as exc:  # noqa: BLE001 - recorded, the grid goes on
        record, scores = failed_record(spec, exc, where="local worker"), None
    driver.finish(record, scores)


# -- Ray ----------------------------------------------------------------------------------------
def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ImportError(RAY_MISSING) from exc
    return ray


def _ray_threads(ray: Any, workers: int) -> int:
    """CPUs per task: the cluster's CPUs divided among ``workers``, capped by its largest node."""
    total = int(ray.cluster_resources().get("CPU", 1))
    largest = max((int(n.get("Resources", {}).get("CPU", 0)) for n in ray.nodes()
                   if n.get("Alive", True)), default=total) or total
    return max(1, min(total // workers, largest))


def ray_gpus_per_task(resources: dict[str, float], workers: int,
                      devices: set[str | None]) -> float:
    """The GPUs a task asks Ray for, from the *cluster's* resources, not the driver's.

    ``devices`` are the specs' devices. A task asks for ``min(1, cluster GPUs / workers)`` of a
    GPU when the cluster has GPUs and no spec asks for the CPU; none on a CPU-only cluster.

    Raises
    ------
    ValueError
        When a spec asks for ``cuda`` and the cluster has no GPU (its tasks could never run).
    """
    gpus = float(resources.get("GPU", 0.0))
    wants_cuda = sorted(d for d in devices if d is not None and d.startswith("cuda"))
    if wants_cuda and gpus <= 0:
        raise ValueError(f"device: {wants_cuda[0]!r} asked for, but the Ray cluster has no GPU "
                         f"(cluster resources: {dict(resources)}); use --device cpu or add GPU "
                         "nodes")
    if gpus <= 0 or devices == {"cpu"}:
        return 0.0
    return min(1.0, gpus / max(1, workers))


def _ray_init(ray: Any, ray_address: str | None) -> bool:
    """Join or start Ray with its own logs kept out of the driver's terminal; True if started."""
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                              "logging_level": logging.ERROR}
    if ray_address is None:
        kwargs["num_cpus"] = available_cpus()
    ray.init(address=ray_address, **kwargs)
    return True


def _ship_data(ray: Any, specs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Put each dataset of ``specs`` into the object store once; its reference per name."""
    from torch_ae_sad.dataset_loaders import load_source

    return {name: ray.put(load_source(name)) for name in sorted({s["dataset"] for s in specs})}


def _ray_lost(ray: Any, exc: BaseException) -> bool:
    """Whether a Ray error means the task's worker or node was lost (not the run's own error)."""
    if isinstance(exc, ray.exceptions.RayTaskError):
        return False
    return any(c.__name__ in RAY_LOST for c in type(exc).__mro__)


def _run_ray(driver: _Driver, workers: int, ray_address: str | None,
             threads: int | None) -> None:
    """One Ray task per run, at most ``workers`` in flight; results saved as they finish.

    Each dataset travels to the cluster once (object store); a task whose worker or node was
    lost is submitted again (:data:`MAX_ATTEMPTS`); GPUs come from the cluster's resources.
    Sets ``info["threads"]`` and ``info["gpus_per_task"]``.
    """
    ray = _import_ray()
    started = _ray_init(ray, ray_address)
    queue, info = driver.queue, driver.info
    try:
        threads = int(threads) if threads is not None else _ray_threads(ray, workers)
        specs = queue.all_specs()
        gpus = ray_gpus_per_task(ray.cluster_resources(), workers,
                                 {s.get("device") for s in specs})
        info.update(threads=threads, gpus_per_task=gpus)
        task = ray.remote(_ray_task).options(num_cpus=threads, num_gpus=gpus, max_retries=0)
        data = _ship_data(ray, specs)
        running: dict[Any, tuple[dict[str, Any], str]] = {}
        try:
            while queue or running:
                while len(running) < workers and (taken := queue.take()) is not None:
                    spec, key = taken
                    ref = task.remote(spec, threads, 0, driver.save_models, data[spec["dataset"]])
                    running[ref] = (spec, key)
                if not running:
                    queue.idle()
                    continue
                ready, _ = ray.wait(list(running), num_returns=1, timeout=5.0)
                for ref in ready:
                    _ray_result(driver, ray, ref, *running.pop(ref))
                queue.poll()
        finally:
            for ref in running:
                ray.cancel(ref, force=True)
    finally:
        if started:
            ray.shutdown()


def _ray_result(driver: _Driver, ray: Any, ref: Any, spec: dict[str, Any], key: str) -> None:
    """Record a finished Ray task, or submit it again when its worker or node was lost."""
    try:
        record, scores = ray.get(ref)
    except Exception as exc:  # noqa: BLE001 - RayError, worker crash, OOM
        if _ray_lost(ray, exc):
            driver.lost(spec, key, exc, "ray worker or node")
            return
        record, scores = failed_record(spec, exc, where="ray task"), None
    driver.finish(record, scores)
