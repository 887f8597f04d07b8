"""latex/build.sh: both documents build from a copy of latex/, with or without generated files.

The builds need latexmk and TeX Live (``./install_requirements.sh --latex``) and are skipped
without them; the argument checks of build.sh run everywhere (they come before any TeX or
Python is called).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LATEX = REPO / "latex"
DOCS = ("thesys", "presentation")
MISSING = "latex/generated: missing "

needs_tex = pytest.mark.skipif(shutil.which("latexmk") is None,
                               reason="latexmk not installed (./install_requirements.sh --latex)")


def copy_latex(tmp_path: Path) -> Path:
    """latex/ copied into ``tmp_path`` without its generated material and build outputs."""
    dest = tmp_path / "latex"
    shutil.copytree(LATEX, dest, ignore=shutil.ignore_patterns(
        "generated", "build", "*.aux", "*.log", "*.fls", "*.fdb_latexmk", "*.pdf"))
    return dest


def run_build(latex: Path, *args: str, env: dict[str, str] | None = None,
              timeout: float = 300) -> subprocess.CompletedProcess[str]:
    # from another directory, to check that build.sh finds its own folder
    return subprocess.run(["bash", str(latex / "build.sh"), *args], cwd=latex.parent,
                          capture_output=True, text=True, timeout=timeout, env=env)


def check_built(latex: Path, result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """Assert both PDFs exist and their logs are clean; return ``{doc: log text}``."""
    assert result.returncode == 0, result.stdout + result.stderr
    logs = {}
    for doc in DOCS:
        pdf = latex / "build" / f"{doc}.pdf"
        assert pdf.is_file() and pdf.stat().st_size > 10_000, pdf
        assert str(pdf) in result.stdout  # the paths are printed at the end
        log = (latex / "build" / f"{doc}.log").read_text(errors="replace")
        assert not re.search(r"undefined references|Reference `[^']*' on page \d+ undefined"
                             r"|Citation `[^']*' on page \d+ undefined", log), doc
        assert not re.search(r"^! ", log, flags=re.M), doc
        # no layout disasters: nothing sticks out more than a few points
        overfull = [float(w) for w in re.findall(r"Overfull \\[hv]box \(([\d.]+)pt", log)]
        assert all(w < 5.0 for w in overfull), (doc, overfull)
        logs[doc] = log
    return logs


@needs_tex
def test_builds_without_generated_material(tmp_path: Path) -> None:
    latex = copy_latex(tmp_path)
    assert not (latex / "generated").exists()
    logs = check_built(latex, run_build(latex))
    # every include printed its "not generated" note
    assert f"{MISSING}samplers/auroc_by_sampler" in logs["thesys"]
    assert f"{MISSING}samplers/tables/roc_auc.tex" in logs["thesys"]
    assert f"{MISSING}toll_dynamics/toll_dynamics" in logs["presentation"]


def write_fake_figure(path: Path) -> None:
    """A small matplotlib figure as ``path.pdf`` and ``path.png``."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(["none", "random", "nearmiss1"], [0.9, 0.85, 0.8])
    for ext in ("pdf", "png"):
        fig.savefig(path.with_suffix(f".{ext}"))
    plt.close(fig)


def write_fake_table(path: Path, n_columns: int = 11) -> None:
    """A complete booktabs table float, one column per sampler (wider than a page)."""
    columns = [f"sampler\\_{i}" for i in range(n_columns)]
    rows = [f"one\\_vs\\_all, normal {c}" for c in range(4)]
    lines = [r"\begin{table}[htbp]", r"\centering", r"\small",
             r"\caption{AUROC (mean $\pm$ std over seeds)}", r"\label{tab:roc-auc}",
             r"\begin{tabular}{l" + "r" * n_columns + "}", r"\toprule",
             " & ".join(["scenario", *columns]) + r" \\", r"\midrule"]
    for row in rows:
        lines.append(" & ".join([row] + [r"\textbf{0.912 $\pm$ 0.004}"] * n_columns) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


@needs_tex
def test_builds_with_generated_figure_and_table(tmp_path: Path) -> None:
    latex = copy_latex(tmp_path)
    # built once without the material first: the rebuild must notice the new files
    assert run_build(latex).returncode == 0
    write_fake_figure(latex / "generated" / "samplers" / "auroc_by_sampler")
    write_fake_table(latex / "generated" / "samplers" / "tables" / "roc_auc.tex")
    result = run_build(latex)
    logs = check_built(latex, result)
    for doc in DOCS:
        # the generated files were included, the others still show their note
        assert f"{MISSING}samplers/auroc_by_sampler\n" not in logs[doc]
        assert f"{MISSING}samplers/tables/roc_auc.tex\n" not in logs[doc]
        assert f"{MISSING}samplers/pareto\n" in logs[doc]
        assert "generated/samplers/auroc_by_sampler.pdf" in logs[doc]  # pdfTeX read it
    assert "building from the material already in" in result.stdout


def test_missing_records_dir_is_named(tmp_path: Path) -> None:
    records = tmp_path / "no_such_records"
    result = run_build(LATEX, str(records))
    assert result.returncode != 0
    assert str(records) in result.stderr
    assert "torch_ae_sad.model.report_trainer --out" in result.stderr  # how to make records
    assert result.returncode == 2


def test_too_many_arguments(tmp_path: Path) -> None:
    result = run_build(LATEX, str(tmp_path), str(tmp_path))
    assert result.returncode == 2
    assert "at most one argument" in result.stderr


def test_missing_latexmk_says_how_to_install(tmp_path: Path) -> None:
    # a PATH with the few tools build.sh needs before it looks for latexmk, and no latexmk
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    env = {**os.environ, "PATH": str(bin_dir)}
    result = run_build(LATEX, str(tmp_path), env=env)
    assert result.returncode != 0
    assert "./install_requirements.sh --latex" in result.stderr


# ----------------------------------------------------------------------------- sections
INCLUDE = re.compile(r"\\gen(?:image|figure|table)(?:\[[^\]]*\])?\{([^}#]+)\}")


def latex_includes() -> set[str]:
    """Every generated path the thesis and the slides include."""
    sources = [*(LATEX / "thesys").rglob("*.tex"), LATEX / "presentation" / "main.tex"]
    return {m for path in sources for m in INCLUDE.findall(path.read_text())}


def test_sections_list_every_generated_file_the_documents_include() -> None:
    studies = pytest.importorskip("torch_ae_sad.model.analysis.studies")
    report_trainer = pytest.importorskip("torch_ae_sad.model.report_trainer")
    listed = {f"{study}/{name}" for study, section in studies.SECTIONS.items()
              for name in section.files}
    assert listed == latex_includes()
    # every study with records is one of report_trainer's, and each can be detected
    assert set(studies.SECTIONS) - set(studies.NO_RECORDS) == set(report_trainer.STUDIES)
    assert set(studies.DETECTORS) == set(report_trainer.STUDIES)


def fake_latexmk(tmp_path: Path) -> dict[str, str]:
    """An environment whose latexmk does nothing, and whose report runs this interpreter."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "latexmk").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "latexmk").chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "PYTHON": sys.executable, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}


def test_build_from_the_main_jobs_records_lists_the_empty_sections(tmp_path: Path) -> None:
    """latex/build.sh on a sampler grid (the main job's folder) fills the sampler section."""
    sys.path.insert(0, str(Path(__file__).parent))
    from test_analysis import SCENARIOS, write_records

    latex = copy_latex(tmp_path)
    records = write_records(tmp_path / "json_metrics" / "staged", SCENARIOS[:1])
    env = fake_latexmk(tmp_path)
    result = run_build(latex, str(records), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    generated = latex / "generated"
    for path in sorted(p for p in latex_includes() if p.startswith("samplers/")):
        found = [generated / path] if path.endswith(".tex") else \
            [generated / f"{path}.pdf", generated / f"{path}.png"]
        assert all(p.is_file() for p in found), path
    assert (generated / "toll_dynamics" / "toll_dynamics.pdf").is_file()
    assert "  filled   samplers:" in result.stdout
    for study in ("grid_search", "toll_beta", "noise", "activations"):
        assert f"EMPTY    {study}: " in result.stdout
        assert (f"python -m torch_ae_sad.model.report_trainer --out {records} --studies "
                f"{study}") in result.stdout
    # without RECORDS_DIR: the sections of what generated/ holds
    again = run_build(latex, env=env)
    assert again.returncode == 0, again.stderr
    assert "  filled   samplers:" in again.stdout and "EMPTY    noise" in again.stdout
