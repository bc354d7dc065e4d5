"""gptq_lab.py: the few helpers the Lab 3.1 notebooks share.

The notebooks drive the `mcomp` command line; this module only finds it, runs it, writes
pipeline files and reads what mcomp writes (report.json, config.json, model.safetensors).
Nothing here quantizes anything: every number the notebooks show comes from mcomp.

Conventions (the same in every lab, see scripts/run-notebooks.sh):
  - the repository root is found relative to this folder (docs/02-Labs/<lab>/);
  - the build folder comes from env MCOMP_BUILD_DIR (default <repo>/build/release);
  - the shared model and data from env MCOMP_TEST_DATA (default <repo>/../shared);
  - everything the lab writes goes to out/ inside this folder (git-ignored);
  - printed paths are relative to the repository (or ${MCOMP_TEST_DATA}/...), never absolute.
"""

import json
import os
import random
import subprocess
import threading
import time
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
EVAL_SEQLEN = 512  # the model's context; the protocol of bench/results/gptq-quality.md

# mcomp expands ${MCOMP_TEST_DATA} in pipeline paths from this variable.
ENV = dict(os.environ, MCOMP_TEST_DATA=str(DATA))
# mcomp's kernels use OpenMP. By default libgomp's idle threads spin, which on a machine whose
# cores are shared (a laptop running Jupyter, CI running tests in parallel) makes a run several
# times slower; passive waiting costs little when the cores are free. A value you set wins.
ENV.setdefault("OMP_WAIT_POLICY", "passive")

# The seven linears of a decoder block, in the order GPTQ's true-sequential mode visits them.
LINEARS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]


def set_seeds(seed: int = SEED) -> None:
    """Fix the Python-side randomness. mcomp's own randomness (which calibration windows are
    drawn) is fixed by `seed` in the pipeline's [calibration] table."""
    random.seed(seed)
    np.random.seed(seed)


set_seeds()


def rel(path) -> str:
    """A path as the notebooks print it: relative to the repository, or to the shared data."""
    p = Path(path).resolve()
    for base, name in ((DATA, "${MCOMP_TEST_DATA}"), (REPO, ".")):
        try:
            tail = p.relative_to(base)
        except ValueError:
            continue
        return name if str(tail) == "." else f"{name}/{tail}"
    return p.name  # outside both: the name only


def scrub(text: str) -> str:
    """mcomp's output with absolute machine paths replaced by the forms rel() prints."""
    text = text.replace(str(DATA), "${MCOMP_TEST_DATA}")
    if not str(BUILD).startswith(str(REPO) + os.sep):
        text = text.replace(str(BUILD), "$MCOMP_BUILD_DIR")
    return text.replace(str(REPO) + os.sep, "./").replace(str(REPO), ".")


class Result:
    """What one `mcomp` call gave: exit code, output (paths scrubbed), wall time, peak RSS."""

    def __init__(self, returncode, stdout, stderr, seconds, max_rss_mib):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.seconds = seconds
        self.max_rss_mib = max_rss_mib

    def json(self) -> dict:
        return json.loads(self.stdout)


def mcomp(*args, check: bool = True) -> Result:
    """Run `mcomp ARGS...` in the lab folder. The peak memory (RSS) of the process comes from
    wait4(2); with check, a non-zero exit raises with mcomp's own message."""
    start = time.perf_counter()
    proc = subprocess.Popen([str(MCOMP), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV, cwd=LAB_DIR)
    stdout, stderr, returncode, max_rss_kib = _collect(proc)
    seconds = time.perf_counter() - start
    result = Result(returncode, scrub(stdout), scrub(stderr), seconds, max_rss_kib / 1024)
    if check and returncode != 0:
        raise RuntimeError(f"mcomp {args[0]} failed with exit status {returncode}:\n"
                           f"{result.stderr}")
    return result


def _collect(proc: subprocess.Popen):
    """Both pipes read to the end, then the child reaped with os.wait4 for its rusage
    (Popen.communicate would reap it itself and lose the peak RSS)."""
    chunks = {}

    def drain(stream, key):
        chunks[key] = stream.read()

    threads = [threading.Thread(target=drain, args=(proc.stdout, "out")),
               threading.Thread(target=drain, args=(proc.stderr, "err"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # so Popen does not wait again
    return chunks["out"], chunks["err"], proc.returncode, usage.ru_maxrss


def toml_value(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def pipeline_text(name: str, use: str, params: dict, samples: int = 128,
                  formats=("gptq",), evaluate: bool = True) -> str:
    """The TOML of a one-stage pipeline on TinyStories-656K; its output folder is out/<name>.

    The pipeline file itself goes to out/pipelines/<name>.toml, and relative paths in a
    pipeline are relative to its file, hence dir = "../<name>"."""
    values = ", ".join(f"{k} = {toml_value(v)}" for k, v in params.items())
    lines = [f"# {name}: written by the Lab 3.1 notebooks",
             "[model]", 'path = "${MCOMP_TEST_DATA}/models/TinyStories-656K"', ""]
    if samples:
        lines += ["[calibration]", 'text = "${MCOMP_TEST_DATA}/data/tinystories/ts_calib.txt"',
                  f"samples = {samples}", "seqlen = 512", f"seed = {SEED}", ""]
    lines += ["[[stage]]", f'use = "{use}"', f"params = {{ {values} }}", "",
              "[output]", f'dir = "../{name}"',
              "formats = [" + ", ".join(f'"{f}"' for f in formats) + "]", ""]
    if evaluate:
        lines += ["[eval]", 'texts = ["${MCOMP_TEST_DATA}/data/tinystories/ts_dev.txt"]',
                  f"seqlen = {EVAL_SEQLEN}", ""]
    return "\n".join(lines)


def write_pipeline(name: str, text: str) -> Path:
    """Write out/pipelines/<name>.toml and return its path."""
    path = OUT / "pipelines" / f"{name}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def run_pipeline(path: Path, *extra) -> dict:
    """`mcomp run PIPELINE --force --quiet --json [extra...]`: report.json as a dict, plus
    the wall time and peak RSS of the whole process under "_wall_seconds"/"_max_rss_mib"."""
    result = mcomp("run", path, "--force", "--quiet", "--json", *extra)
    report = result.json()
    report["_wall_seconds"] = result.seconds
    report["_max_rss_mib"] = result.max_rss_mib
    return report


def report_row(report: dict) -> dict:
    """The numbers of one run the notebooks tabulate: ppl before/after, size, times."""
    ev = report["eval"][0]
    out = report["outputs"][0]
    phases = {p["name"]: p["seconds"] for p in report["phases"]}
    return {
        "ppl_before": ev["before"]["ppl"],
        "ppl_after": ev["after"][0]["ppl"],
        "windows": ev["windows"],
        "bits_per_weight": out["bits_per_weight"],
        "weight_file_bytes": out["weight_file_bytes"],
        "compress_s": phases.get("compress", float("nan")),
        "total_s": report["total_seconds"],
    }


def evaluate(model_dir: Path, max_windows: int | None = None) -> dict:
    """`mcomp eval` on ts_dev.txt at seqlen 512 (--json), plus wall time and peak RSS."""
    args = ["eval", "--model", model_dir, "--text", DEV_TEXT, "--seqlen", EVAL_SEQLEN, "--json"]
    if max_windows:
        args += ["--max-windows", max_windows]
    result = mcomp(*args)
    out = result.json()
    out["model"] = rel(model_dir)
    out["text"] = rel(DEV_TEXT)
    out["wall_seconds"] = result.seconds
    out["max_rss_mib"] = result.max_rss_mib
    return out


def generate(model_dir: Path, prompt: str, max_new_tokens: int = 48) -> dict:
    """`mcomp generate` (greedy) with --json: prompt/new token ids, text, speed."""
    result = mcomp("generate", "--model", model_dir, "--prompt", prompt,
                   "--max-new-tokens", max_new_tokens, "--json")
    out = result.json()
    out["model"] = rel(model_dir)
    out["wall_seconds"] = result.seconds
    out["max_rss_mib"] = result.max_rss_mib
    return out


_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "I32": np.int32,
           "I64": np.int64, "U8": np.uint8, "I8": np.int8}


def safetensors_header(path: Path) -> dict:
    """name -> {dtype, shape, nbytes} from a .safetensors header (8-byte size, then JSON)."""
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(size))
    header.pop("__metadata__", None)
    return {name: {"dtype": info["dtype"], "shape": info["shape"],
                   "nbytes": info["data_offsets"][1] - info["data_offsets"][0]}
            for name, info in header.items()}


def load_tensor(path: Path, name: str) -> np.ndarray:
    """One tensor of a .safetensors file, read with numpy only."""
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(size))
        info = header[name]
        begin, end = info["data_offsets"]
        f.seek(8 + size + begin)
        raw = f.read(end - begin)
    return np.frombuffer(raw, dtype=_DTYPES[info["dtype"]]).reshape(info["shape"])


def dir_bytes(path: Path) -> int:
    """Bytes of every file in a folder (not recursive)."""
    return sum(p.stat().st_size for p in Path(path).iterdir() if p.is_file())


def md_table(rows, columns=None, floatfmt: str = "{:.4f}") -> str:
    """A list of dicts (or a DataFrame) as a Markdown table, no extra package needed."""
    if hasattr(rows, "to_dict"):
        columns = list(rows.columns)
        rows = rows.to_dict("records")
    columns = columns or list(rows[0].keys())

    def cell(v):
        return floatfmt.format(v) if isinstance(v, float) else str(v)

    head = "| " + " | ".join(columns) + " |"
    rule = "|" + "|".join(":---" for _ in columns) + "|"
    body = ["| " + " | ".join(cell(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body])
