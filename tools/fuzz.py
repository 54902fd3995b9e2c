"""Fuzz the ``bridgec`` command line with damaged model files.

    python tools/fuzz.py [--cases 1000] [--seed 0] [--timeout 60] [--formats onnx,pt,pt2] [--jobs 1]
                         [--failures DIR] [--replay DIR]

Seeds are small valid models made here (a conv + ReLU6 + conv net as ``.onnx``, TorchScript ``.pt``
and ``torch.export`` ``.pt2``). Each case truncates, bit-flips or splices a seed (or one member of a
seed's zip archive, or one field of an ONNX model) and runs ``bridgec CASE -o out.mlmodel`` in a
subprocess, in a fresh temporary folder, with a per-case timeout. A case is a finding when

- ``traceback``: stderr holds a Python traceback or an ``internal error`` line,
- ``hang``: the run outlived ``--timeout``,
- ``exit``: the exit status is not 0, 1 or 2,
- ``noise``: stderr holds a line that is not ``bridgec: ...`` (the one-line error contract),
- ``leftover``: the folder holds anything but the case file and, after a successful run, a complete
  ``out.mlmodel`` (and ``out_kernels/``).

Findings are copied to ``--failures`` (the case file plus ``NAME.txt`` with the command, exit status
and stderr) and ``--replay DIR`` runs them again. Exit status: 0 without findings, 1 with some.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORMATS = ("onnx", "pt", "pt2")
KINDS = ("traceback", "hang", "exit", "noise", "leftover")
INPUT = "x:1x3x8x8"


# --- seeds -------------------------------------------------------------------------------------------


def make_seeds(folder: Path, formats: tuple[str, ...] = FORMATS) -> dict[str, bytes]:
    """Small valid models, one per format, made (and cached) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {fmt: folder / f"seed.{fmt}" for fmt in formats}
    missing = [fmt for fmt, path in paths.items() if not path.exists()]
    if missing:
        code = (
            "import sys, torch\n"
            "from pathlib import Path\n"
            "torch.manual_seed(0)\n"
            "net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU6(),\n"
            "    torch.nn.Conv2d(4, 2, 1), torch.nn.Hardtanh(-2, 2)).eval()\n"
            "x = torch.randn(1, 3, 8, 8)\n"
            "folder = Path(sys.argv[1])\n"
            "for fmt in sys.argv[2:]:\n"
            "    out = folder / f'seed.{fmt}'\n"
            "    if fmt == 'pt':\n"
            "        torch.jit.save(torch.jit.trace(net, x), str(out))\n"
            "    elif fmt == 'pt2':\n"
            "        torch.export.save(torch.export.export(net, (x,)), str(out))\n"
            "    else:\n"
            "        torch.onnx.export(net, (x,), str(out), dynamo=False, opset_version=17,\n"
            "            input_names=['x'], output_names=['y'])\n"
        )
        subprocess.run(
            [sys.executable, "-c", code, str(folder), *missing], check=True, capture_output=True, cwd=ROOT
        )
    return {fmt: paths[fmt].read_bytes() for fmt in formats}


# --- mutations -----------------------------------------------------------------------------------------


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(0, max(1, len(data)))]


def bit_flip(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 4, 16, 64))):
        if out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def byte_set(data: bytes, rng: random.Random) -> bytes:
    """Overwrite a few bytes with values parsers treat specially (0, 0xff, 0x7f, 0x80)."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if out:
            out[rng.randrange(len(out))] = rng.choice((0x00, 0xFF, 0x7F, 0x80, 0x01))
    return bytes(out)


def splice(data: bytes, other: bytes, rng: random.Random) -> bytes:
    """The head of one file and the tail of another (or a chunk of it inserted in the middle)."""
    if rng.random() < 0.5:
        return data[: rng.randrange(len(data) + 1)] + other[rng.randrange(len(other) + 1) :]
    at = rng.randrange(len(data) + 1)
    start = rng.randrange(len(other) + 1)
    return data[:at] + other[start : start + rng.randint(1, 4096)] + data[at:]


def byte_mutation(data: bytes, other: bytes, rng: random.Random) -> tuple[str, bytes]:
    choice = rng.choice(("truncate", "bit_flip", "byte_set", "splice"))
    if choice == "truncate":
        return choice, truncate(data, rng)
    if choice == "bit_flip":
        return choice, bit_flip(data, rng)
    if choice == "byte_set":
        return choice, byte_set(data, rng)
    return choice, splice(data, other, rng)


def zip_member(data: bytes, other: bytes, rng: random.Random) -> tuple[str, bytes]:
    """Damage one member of a zip archive and write a well-formed archive around it, so the damage
    reaches torch's readers instead of stopping at the zip layer."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = [(info, archive.read(info)) for info in archive.infolist()]
    index = rng.randrange(len(members))
    name = members[index][0].filename
    how, damaged = byte_mutation(members[index][1], other, rng)
    if rng.random() < 0.1:
        how, damaged = "drop", None
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for i, (info, content) in enumerate(members):
            if i != index:
                archive.writestr(info, content)
            elif damaged is not None:
                archive.writestr(info, damaged)
    return f"zip_member:{how}:{Path(name).name}", buffer.getvalue()


def onnx_field(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """Change one field of a parsed ONNX model: a dimension, an attribute, an op, an edge, a weight."""
    import onnx

    model = onnx.load_from_string(data)
    graph = model.graph
    choice = rng.choice(("dim", "attr", "op", "edge", "weight", "opset", "external"))
    if choice == "dim":
        values = [v for v in (*graph.input, *graph.output) if v.type.tensor_type.shape.dim]
        dims = rng.choice(values).type.tensor_type.shape.dim
        dims[rng.randrange(len(dims))].dim_value = rng.choice((0, 1, 7, 1 << 20, 1 << 40, (1 << 63) - 1))
    elif choice == "attr":
        attrs = [a for node in graph.node for a in node.attribute]
        if attrs:
            attr = rng.choice(attrs)
            if attr.ints:
                attr.ints[rng.randrange(len(attr.ints))] = rng.choice((-1, 0, 3, 1 << 31, -(1 << 40)))
            elif attr.HasField("f"):
                attr.f = rng.choice((float("nan"), float("inf"), -1e30, 0.0))
            elif attr.HasField("i"):
                attr.i = rng.choice((-1, 0, 1 << 40))
    elif choice == "op":
        node = rng.choice(graph.node)
        node.op_type = rng.choice(("Relu", "Clip", "Conv", "Reshape", "Loop", "NoSuchOp", "Gemm", ""))
    elif choice == "edge":
        node = rng.choice(graph.node)
        names = [n for other in graph.node for n in other.output] + [i.name for i in graph.input] + [""]
        if node.input and rng.random() < 0.7:
            node.input[rng.randrange(len(node.input))] = rng.choice(names)
        else:
            node.output[0] = rng.choice(names)
    elif choice == "weight" and graph.initializer:
        tensor = rng.choice(graph.initializer)
        action = rng.random()
        if action < 0.4:
            tensor.dims[rng.randrange(len(tensor.dims))] = rng.choice((0, 1 << 20, 1 << 40))
        elif action < 0.7:
            tensor.raw_data = tensor.raw_data[: rng.randrange(len(tensor.raw_data) + 1)]
        else:
            tensor.data_type = rng.randrange(0, 24)
    elif choice == "opset":
        model.opset_import[0].version = rng.choice((1, 6, 9, 12, 25, 1 << 40))
    elif choice == "external" and graph.initializer:
        tensor = rng.choice(graph.initializer)
        tensor.ClearField("raw_data")
        tensor.data_location = onnx.TensorProto.EXTERNAL
        for key, value in (
            ("location", rng.choice(("w.bin", "../../etc/passwd", "/etc/passwd", "", "sub/../w.bin"))),
            ("offset", rng.choice(("0", "-1", "99999999999", "x"))),
            ("length", rng.choice(("16", str(10 << 30), "-5", ""))),
        ):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
    return f"onnx_field:{choice}", model.SerializeToString()


def mutate(fmt: str, seeds: dict[str, bytes], rng: random.Random) -> tuple[str, bytes]:
    data = seeds[fmt]
    other = seeds[rng.choice(sorted(seeds))]
    roll = rng.random()
    if fmt in ("pt", "pt2") and roll < 0.6:
        return zip_member(data, other, rng)
    if fmt == "onnx" and roll < 0.5:
        return onnx_field(data, rng)
    return byte_mutation(data, other, rng)


# --- running a case ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    name: str
    mutation: str
    returncode: int | None
    seconds: float
    stderr: str
    findings: list[str] = field(default_factory=list)
    slow: bool = False  # timed out once, finished on the retry


def command(case: Path, fmt: str) -> list[str]:
    args = [sys.executable, "-m", "bridgec", case.name, "-q", "-o", "out.mlmodel"]
    if fmt == "pt":  # TorchScript records no shapes
        args += ["--input", INPUT]
    return args


def _complete_model(path: Path) -> bool:
    try:
        from bridgec.backends.coreml import load_spec

        return len(load_spec(path).neuralNetwork.layers) > 0
    except Exception:  # noqa: BLE001 - anything unreadable is not complete
        return False


def run_case(name: str, fmt: str, mutation: str, data: bytes, timeout: float) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="bridgec-fuzz-") as tmp:
        folder = Path(tmp)
        case = folder / f"case.{fmt}"
        case.write_bytes(data)
        if mutation.startswith("onnx_field:external"):
            (folder / "w.bin").write_bytes(bytes(64))
        expected = {case.name, "w.bin"}
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONHASHSEED="0")
        start = time.monotonic()
        slow = False
        for limit in (timeout, timeout * 4):  # a timeout is retried once with 4x the time: a busy
            try:  # machine makes a slow case (an export that succeeds) look like a hang
                done = subprocess.run(
                    command(case, fmt),
                    cwd=folder,
                    capture_output=True,
                    text=True,
                    errors="replace",
                    timeout=limit,
                    env=env,
                )
                returncode, stderr = done.returncode, done.stderr
                break
            except subprocess.TimeoutExpired as exc:
                returncode = None
                stderr = (
                    exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
                )
                slow = True
                for leftover in folder.iterdir():  # what the killed run left is not the retry's doing
                    if leftover.name not in expected:
                        shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
        outcome = Outcome(name, mutation, returncode, time.monotonic() - start, stderr, slow=slow)
        if returncode is None:
            outcome.findings.append("hang")
        elif returncode not in (0, 1, 2):
            outcome.findings.append("exit")
        if "Traceback" in stderr or "internal error" in stderr:
            outcome.findings.append("traceback")
        if any(line.strip() and not line.startswith("bridgec: ") for line in stderr.splitlines()):
            outcome.findings.append("noise")
        left = sorted(p.name for p in folder.iterdir() if p.name not in expected)
        if returncode == 0:
            if "out.mlmodel" in left and _complete_model(folder / "out.mlmodel"):
                left.remove("out.mlmodel")
            if "out_kernels" in left and (folder / "out_kernels" / ".bridgec-kernels").exists():
                left.remove("out_kernels")
        if left and returncode is not None:
            outcome.findings.append("leftover")
            outcome.stderr += f"\n[fuzz] left behind: {', '.join(left)}"
        return outcome


def save_failure(folder: Path, outcome: Outcome, fmt: str, data: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{outcome.name}.{fmt}").write_bytes(data)
    (folder / f"{outcome.name}.txt").write_text(
        f"findings: {', '.join(outcome.findings)}\nmutation: {outcome.mutation}\n"
        f"command: {' '.join(command(Path(f'case.{fmt}'), fmt)[1:])}\n"
        f"exit status: {outcome.returncode}\nseconds: {outcome.seconds:.1f}\n--- stderr ---\n{outcome.stderr}"
    )


# --- driver --------------------------------------------------------------------------------------------


@dataclass
class Summary:
    cases: int = 0
    seconds: float = 0.0
    findings: Counter = field(default_factory=Counter)
    exit_codes: Counter = field(default_factory=Counter)
    mutations: Counter = field(default_factory=Counter)
    failed: list[str] = field(default_factory=list)
    slow: int = 0

    def add(self, outcome: Outcome) -> None:
        self.cases += 1
        self.slow += outcome.slow and outcome.returncode is not None
        self.exit_codes["timeout" if outcome.returncode is None else str(outcome.returncode)] += 1
        self.mutations[outcome.mutation.split(":")[0]] += 1
        for kind in outcome.findings:
            self.findings[kind] += 1
        if outcome.findings:
            self.failed.append(outcome.name)

    def render(self) -> str:
        lines = [
            f"{self.cases} cases in {self.seconds:.0f} s",
            "findings: " + ", ".join(f"{kind} {self.findings[kind]}" for kind in KINDS),
            f"slow (finished only on the retry with 4x --timeout): {self.slow}",
            "exit status: " + ", ".join(f"{k}: {v}" for k, v in sorted(self.exit_codes.items())),
            "mutations: " + ", ".join(f"{k} {v}" for k, v in sorted(self.mutations.items())),
        ]
        if self.failed:
            lines.append(
                f"failing cases: {', '.join(self.failed[:20])}{' ...' if len(self.failed) > 20 else ''}"
            )
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {
            "cases": self.cases,
            "seconds": round(self.seconds, 1),
            "findings": {kind: self.findings[kind] for kind in KINDS},
            "slow": self.slow,
            "exit_codes": dict(sorted(self.exit_codes.items())),
            "mutations": dict(sorted(self.mutations.items())),
            "failed": self.failed,
        }


def generate(count: int, seed: int, formats: tuple[str, ...], seeds: dict[str, bytes]):
    """``count`` cases (name, format, mutation, bytes), the same for the same seed."""
    rng = random.Random(seed)
    for index in range(count):
        fmt = formats[index % len(formats)]
        mutation, data = mutate(fmt, seeds, rng)
        yield f"case{seed}-{index:06d}", fmt, mutation, data


def fuzz(
    cases: int,
    seed: int = 0,
    timeout: float = 60.0,
    formats: tuple[str, ...] = FORMATS,
    jobs: int = 1,
    failures: Path | None = None,
    seed_dir: Path | None = None,
    progress=None,
) -> Summary:
    from bridgec.backends.coreml import load_spec  # noqa: F401 - imported here, not in the threads

    seeds = make_seeds(seed_dir or Path(tempfile.gettempdir()) / "bridgec-fuzz-seeds", formats)
    summary = Summary()
    start = time.monotonic()

    def one(case):
        name, fmt, mutation, data = case
        return fmt, data, run_case(name, fmt, mutation, data, timeout)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for fmt, data, outcome in pool.map(one, generate(cases, seed, formats, seeds)):
            summary.add(outcome)
            if outcome.findings and failures is not None:
                save_failure(failures, outcome, fmt, data)
            if progress is not None:
                progress(summary, outcome)
    summary.seconds = time.monotonic() - start
    return summary


def replay(folder: Path, timeout: float) -> Summary:
    summary = Summary()
    start = time.monotonic()
    for case in sorted(p for p in folder.iterdir() if p.suffix.lstrip(".") in FORMATS):
        info = case.with_suffix(".txt")
        mutation = "replay"
        if info.exists():
            for line in info.read_text().splitlines():
                if line.startswith("mutation: "):
                    mutation = line.removeprefix("mutation: ")
        outcome = run_case(case.stem, case.suffix.lstrip("."), mutation, case.read_bytes(), timeout)
        summary.add(outcome)
        status = ", ".join(outcome.findings) or "ok"
        last = outcome.stderr.strip().splitlines()[-1:] or [""]
        print(f"{case.name}: {status} (exit {outcome.returncode}) {last[0][:200]}")
    summary.seconds = time.monotonic() - start
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000, help="number of cases (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed: same seed, same cases (default 0)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per case (default 60)")
    parser.add_argument(
        "--formats", default=",".join(FORMATS), help=f"comma-separated subset of {','.join(FORMATS)}"
    )
    parser.add_argument("--jobs", type=int, default=1, help="cases run at once (default 1)")
    parser.add_argument(
        "--failures", type=Path, default=Path("fuzz-failures"), help="folder for failing cases"
    )
    parser.add_argument("--replay", type=Path, metavar="DIR", help="run the cases saved in DIR again")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the summary as JSON")
    parser.add_argument("--every", type=int, default=100, help="print progress every N cases")
    args = parser.parse_args(argv)
    if args.replay:
        summary = replay(args.replay, args.timeout)
    else:
        formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
        unknown = [f for f in formats if f not in FORMATS]
        if unknown or not formats:
            parser.error(f"--formats: choose from {', '.join(FORMATS)}")

        def progress(summary: Summary, outcome: Outcome) -> None:
            if outcome.findings:
                print(f"{outcome.name} ({outcome.mutation}): {', '.join(outcome.findings)}", flush=True)
            if summary.cases % args.every == 0:
                found = sum(summary.findings.values())
                print(f"[{summary.cases}/{args.cases}] findings so far: {found}", flush=True)

        summary = fuzz(
            args.cases, args.seed, args.timeout, formats, args.jobs, args.failures, progress=progress
        )
    print(summary.render())
    if args.json:
        args.json.write_text(json.dumps(summary.as_dict(), indent=2) + "\n")
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
