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
    return failed_record(spec, f"{where}: {type(exc).__name__}: {exc}", tb)


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
    return ids, done, order_by_group(list(todo.values()))


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

    def _elsewhere(self, record: Record) -> None:
        self.done[record["run_id"]] = record
        self.n_elsewhere += 1
        self.bar.update(1)

    def finish(self, record: Record, scores: Scores) -> None:
        """Write a finished run's files, release its claim, advance the bar."""
        from tqdm.auto import tqdm

        record["executor"] = dict(self.info)
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
            _run_local(self.queue, workers, threads, self.finish, self.save_models)
        else:
            _run_ray(self.queue, workers, ray_address, threads, self.finish, self.info,
                     self.save_models)

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


def _run_local(queue: WorkQueue, workers: int, threads: int,
               finish: Callable[[Record, Scores], None], save_models: bool = False) -> None:
    """Run ``queue`` on ``workers`` one-process pools, keeping sampling groups together."""
    pools: list[ProcessPoolExecutor | None] = [None] * workers
    current: list[str | None] = [None] * workers  # the group each worker has sampled last
    running: dict[Future, tuple[int, dict[str, Any]]] = {}
    try:
        while queue or running:
            busy = {slot for slot, _ in running.values()}
            for slot in (s for s in range(workers) if s not in busy):
                others = {current[i] for i in range(workers) if i != slot}
                taken = queue.take(prefer=current[slot], avoid=others)
                if taken is None:
                    break
                spec, current[slot] = taken
                if pools[slot] is None:
                    pools[slot] = _new_pool(threads)
                running[pools[slot].submit(_run_in_worker, spec, 0, save_models)] = (slot, spec)
            if not running:
                queue.idle()
                continue
            finished, _ = wait(list(running), timeout=5.0, return_when=FIRST_COMPLETED)
            for fut in finished:
                slot, spec = running.pop(fut)
                record, scores, broken = _local_result(fut, spec)
                if broken:
                    _stop_pool(pools[slot])
                    pools[slot], current[slot] = None, None
                finish(record, scores)
            queue.poll()
    finally:
        for pool in pools:
            if pool is not None:
                if running:
                    _stop_pool(pool)
                else:
                    pool.shutdown(wait=True)


def _local_result(fut: Future, spec: dict[str, Any]) -> tuple[Record, Scores, bool]:
    """``(record, scores, worker_died)`` of a finished local run."""
    try:
        record, scores = fut.result()
    except BrokenProcessPool as exc:
        exc = BrokenProcessPool("the worker process died during this run (killed by a signal "
                                f"or by the OS, e.g. out of host memory): {exc}")
        return _failed(spec, exc, "local worker"), None, True
    except Exception as exc:  # noqa: BLE001 - recorded, the grid goes on
        return _failed(spec, exc, "local worker"), None, False
    return record, scores, False


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


def _run_ray(queue: WorkQueue, workers: int, ray_address: str | None,
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
        running: dict[Any, dict[str, Any]] = {}
        try:
            while queue or running:
                while len(running) < workers and (taken := queue.take()) is not None:
                    running[task.remote(taken[0], threads, 0, save_models)] = taken[0]
                if not running:
                    queue.idle()
                    continue
                ready, _ = ray.wait(list(running), num_returns=1, timeout=5.0)
                for ref in ready:
                    spec = running.pop(ref)
                    try:
                        record, scores = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - RayError, worker crash, OOM
                        record, scores = _failed(spec, exc, "ray task"), None
                    finish(record, scores)
                queue.poll()
        finally:
            for ref in running:
                ray.cancel(ref, force=True)
    finally:
        if started:
            ray.shutdown()
