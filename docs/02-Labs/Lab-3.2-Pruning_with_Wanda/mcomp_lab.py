"""mcomp_lab.py: the few helpers the Lab 3.2 notebooks share.

The notebooks drive the `mcomp` command line; this module only finds it, runs it, writes
pipeline files and reads what it writes (report.json, config.json, model.safetensors).
Nothing here compresses anything: every number comes from mcomp.

Conventions (shared with the other labs):
  - the repository root is found relative to this folder (docs/02-Labs/<lab>/);
  - the build folder comes from env MCOMP_BUILD_DIR (default <repo>/build/release);
  - the shared test material from env MCOMP_TEST_DATA (default <repo>/../shared);
  - outputs go to out/ inside this lab folder (git-ignored);
  - printed paths are relative to the repository, never absolute machine paths.
"""

import json
import os
import random
import subprocess
from pathlib import Path

import numpy as np

SEED = 0

LAB_DIR = Path(__file__).resolve().parent
REPO = LAB_DIR.parents[2]  # docs/02-Labs/<lab>/ -> the repository root
BUILD = Path(os.environ.get("MCOMP_BUILD_DIR") or REPO / "build" / "release").resolve()
DATA = Path(os.environ.get("MCOMP_TEST_DATA") or REPO.parent / "shared").resolve()
MCOMP = BUILD / "bin" / "mcomp"
OUT = LAB_DIR / "out"

MODEL_DIR = DATA / "models" / "TinyStories-656K"
CALIB_TEXT = DATA / "data" / "tinystories" / "ts_calib.txt"
DEV_TEXT = DATA / "data" / "tinystories" / "ts_dev.txt"
EVAL_SEQLEN = 512  # the model's context length; the protocol of bench/results/*-quality.md

# mcomp expands ${MCOMP_TEST_DATA} in pipeline paths from this variable.
ENV = dict(os.environ, MCOMP_TEST_DATA=str(DATA))
# mcomp's CPU forward runs on OpenMP (libgomp, through oneDNN). By default idle OpenMP
# threads spin; on a small machine shared with other work (a CI runner, a laptop compiling)
# they then take the cores from each other. Measured on the 2-core machine these notebooks
# were executed on, under load: the wanda-50 pipeline took 30-52 s with spinning threads and
# 7-9 s with OMP_WAIT_POLICY=passive. Set it yourself to override this default.
ENV.setdefault("OMP_WAIT_POLICY", "passive")

# Fix every source of randomness on the Python side. mcomp's own randomness (which
# calibration windows are drawn) is fixed by `seed` in the pipeline's [calibration] table.
random.seed(SEED)
np.random.seed(SEED)


def rel(path) -> str:
    """A path as the notebooks print it: relative to the repository, or to the shared data."""
    p = Path(path).resolve()
    for base, name in ((DATA, "${MCOMP_TEST_DATA}"), (REPO, ".")):
        try:
            tail = p.relative_to(base)
        except ValueError:
            continue
        return name if str(tail) == "." else f"{name}/{tail}"
    return p.name  # outside both: print the name only


def scrub(text: str) -> str:
    """Replace absolute machine paths in mcomp's output with repository-relative ones."""
    text = text.replace(str(DATA), "${MCOMP_TEST_DATA}")
    if not str(BUILD).startswith(str(REPO) + os.sep):
        text = text.replace(str(BUILD), "$MCOMP_BUILD_DIR")
    return text.replace(str(REPO) + os.sep, "./").replace(str(REPO), ".")


def mcomp(*args, check: bool = True) -> subprocess.CompletedProcess:
    """Run `mcomp ARGS...` in the lab folder; raise with mcomp's message when it fails."""
    proc = subprocess.run([str(MCOMP), *map(str, args)], capture_output=True, text=True,
                          env=ENV, cwd=LAB_DIR)
    if check and proc.returncode != 0:
        raise RuntimeError(f"mcomp {' '.join(map(str, args[:1]))} failed with exit status "
                           f"{proc.returncode}:\n{scrub(proc.stderr)}")
    return proc


def write_pipeline(name: str, stages, samples: int | None = 128, evaluate: bool = True,
                   true_sequential: bool = False, formats=("dense",)) -> Path:
    """Write out/pipelines/<name>.toml; its output folder is out/<name>.

    stages: a list of (technique, params dict). samples=None leaves out [calibration]
    (magnitude pruning needs no inputs). true_sequential=False is what the Wanda and
    SparseGPT reference scripts do: all seven linears of a block see the same inputs.
    """
    lines = [f"# {name}: written by the Lab 3.2 notebooks",
             "[model]", 'path = "${MCOMP_TEST_DATA}/models/TinyStories-656K"', ""]
    if samples is not None:
        lines += ["[calibration]", 'text = "${MCOMP_TEST_DATA}/data/tinystories/ts_calib.txt"',
                  f"samples = {samples}", "seqlen = 512", f"seed = {SEED}",
                  f"true_sequential = {str(true_sequential).lower()}", ""]
    for use, params in stages:
        values = ", ".join(f"{k} = {_toml_value(v)}" for k, v in params.items())
        lines += ["[[stage]]", f'use = "{use}"', f"params = {{ {values} }}", ""]
    # Relative output paths are relative to the pipeline file: out/pipelines/../<name>.
    lines += ["[output]", f'dir = "../{name}"',
              "formats = [" + ", ".join(f'"{f}"' for f in formats) + "]", ""]
    if evaluate:
        lines += ["[eval]", 'texts = ["${MCOMP_TEST_DATA}/data/tinystories/ts_dev.txt"]',
                  f"seqlen = {EVAL_SEQLEN}", ""]
    path = OUT / "pipelines" / f"{name}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


def supports_format(name: str) -> bool:
    """Whether this mcomp build writes the output format `name`: `mcomp validate` accepts a
    pipeline asking for it (an unknown format is a validation error, exit status 3)."""
    probe = write_pipeline("probe-format", [("magnitude", {"sparsity": 0.5})], samples=None,
                           evaluate=False, formats=(name,))
    ok = mcomp("validate", probe, check=False).returncode == 0
    probe.unlink()
    return ok


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value)


def run_pipeline(path: Path) -> dict:
    """`mcomp run PIPELINE --force --quiet --json`: returns report.json as a dict."""
    proc = mcomp("run", path, "--force", "--quiet", "--json")
    return json.loads(proc.stdout)


def ensure_run(name: str, stages, samples: int | None = 128, **kwargs) -> dict:
    """Write the pipeline and run it, unless out/<name> already holds the report of a run of
    exactly this pipeline text (then reuse it: the runs are deterministic, only the times
    would differ). Returns report.json as a dict."""
    path = write_pipeline(name, stages, samples=samples, **kwargs)
    report_file = OUT / name / "report.json"
    if report_file.is_file():
        report = json.loads(report_file.read_text())
        if report.get("pipeline", {}).get("text") == path.read_text():
            return report
    return run_pipeline(path)


def prune(name: str, stages, samples: int | None = 128, **kwargs) -> dict:
    """A pipeline without [eval] (no "perplexity before" each time), run as ensure_run does,
    then `mcomp eval` on the written model. Returns {"report", "ppl", "sparsity", "eval"}.
    The eval result is kept as out/<name>/eval.json next to the model it belongs to."""
    report = ensure_run(name, stages, samples=samples, evaluate=False, **kwargs)
    eval_file = OUT / name / "eval.json"
    result = None
    if eval_file.is_file():
        result = json.loads(eval_file.read_text())
        if result.get("pipeline_sha256") != report["pipeline"]["sha256"]:
            result = None
    if result is None:
        result = evaluate(OUT / name)
        result = {k: result[k] for k in ("ppl", "mean_nll", "tokens", "windows", "seqlen",
                                          "seconds", "tokens_per_s")}
        result["pipeline_sha256"] = report["pipeline"]["sha256"]
        eval_file.write_text(json.dumps(result, indent=2) + "\n")
    return {"report": report, "ppl": result["ppl"], "eval": result,
            "sparsity": report["outputs"][0].get("sparsity", 0.0)}


def evaluate(model_dir: Path, max_windows: int | None = None) -> dict:
    """`mcomp eval` on ts_dev.txt at seqlen 512: ppl, tokens/s, windows, seconds."""
    args = ["eval", "--model", model_dir, "--text", DEV_TEXT, "--seqlen", EVAL_SEQLEN, "--json"]
    if max_windows:
        args += ["--max-windows", max_windows]
    return json.loads(mcomp(*args).stdout)


def mcomp_record(model_dir: Path) -> dict:
    """The `mcomp` object of a written config.json (stages, sparsity per layer, ...)."""
    return json.loads((Path(model_dir) / "config.json").read_text())["mcomp"]


_DTYPES = {"F32": np.float32, "F16": np.float16, "I32": np.int32, "I64": np.int64}


def load_safetensors(path: Path) -> dict:
    """Read a .safetensors file with numpy only (8-byte header size, JSON header, data)."""
    raw = Path(path).read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + header_len])
    data = memoryview(raw)[8 + header_len:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        dtype = _DTYPES[info["dtype"]]  # this lab's models are fp32
        tensors[name] = np.frombuffer(data[begin:end], dtype=dtype).reshape(info["shape"])
    return tensors


LINEARS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]


def linear_names(num_layers: int = 2) -> list:
    """The layer names mcomp compresses: the seven linears of every decoder block."""
    return [f"model.layers.{i}.{n}" for i in range(num_layers) for n in LINEARS]


def md_table(df, floatfmt: str = "{:.4f}") -> str:
    """A pandas DataFrame as a Markdown table (no extra package needed)."""
    def cell(v):
        text = floatfmt.format(v) if isinstance(v, float) else str(v)
        return text.replace("|", "\\|")  # a literal | would end the cell
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "|".join(":---" for _ in df.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *rows])
