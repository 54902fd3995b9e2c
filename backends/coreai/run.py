"""Apple's runtime as the check: run a saved ``.aimodel`` in ``coreai-core``'s CPU interpreter.

The runtime aborts the whole process on a corrupted model (``std::bad_cast``, exit 134), so it
always runs in a child process: ``python -m bridgec.backends.coreai.run MODEL.aimodel IN.npz OUT.npz``.
``run_model`` starts it and turns a crash or an error into one line (``CoreAIRunError``); ``run_batch``
runs many small models through one child (``--batch MANIFEST``), restarting it after a model that aborts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from bridgec.core.errors import BridgecError

TIMEOUT = 600.0  # seconds; the interpreter does about 2.7 GFLOP/s on one core


class CoreAIRunError(BridgecError):
    """Apple's runtime could not run the model (one line: why)."""


def run_model(model: Path, feeds: dict[str, np.ndarray], timeout: float = TIMEOUT) -> dict[str, np.ndarray]:
    """The outputs of ``model`` (an ``.aimodel`` directory) on ``feeds``, by Apple's runtime in a child process."""
    with tempfile.TemporaryDirectory(prefix="bridgec-coreai-") as tmp:
        inputs, outputs = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(inputs, **{name: np.ascontiguousarray(value) for name, value in feeds.items()})
        command = [sys.executable, "-m", "bridgec.backends.coreai.run", str(model), str(inputs), str(outputs)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise CoreAIRunError(
                f"Apple's Core AI runtime did not finish {model.name} in {timeout:.0f} s"
            ) from None
        if done.returncode != 0:
            raise CoreAIRunError(_failure(model, done.returncode, done.stderr))
        with np.load(outputs) as saved:
            return {name: saved[name] for name in saved.files}


BATCH_TIMEOUT = 120.0  # seconds per model of a batch (small models: node tests, emitter cases)


def run_batch(
    jobs: Sequence[tuple[Path, dict[str, np.ndarray]]], timeout: float = BATCH_TIMEOUT
) -> list[dict[str, np.ndarray] | CoreAIRunError]:
    """The outputs of each (model, feeds) job, or why Apple's runtime could not run it, by as few child
    processes as the jobs allow: one runs them in order (``--batch``) and says after each whether it
    ran; a model that aborts the child (or hangs) is that job's one-line error, and a new child goes
    on from the next job. Each child costs about 1 s of imports, a model a few milliseconds."""
    results: list[dict[str, np.ndarray] | CoreAIRunError] = []
    with tempfile.TemporaryDirectory(prefix="bridgec-coreai-batch-") as tmp:
        lines, outs = [], []
        for index, (model, feeds) in enumerate(jobs):
            inputs, outputs = Path(tmp) / f"{index}.in.npz", Path(tmp) / f"{index}.out.npz"
            np.savez(inputs, **{name: np.ascontiguousarray(value) for name, value in feeds.items()})
            lines.append(f"{model}\t{inputs}\t{outputs}")
            outs.append(outputs)
        while len(results) < len(jobs):
            start = len(results)
            manifest = Path(tmp) / f"batch{start}.txt"
            manifest.write_text("\n".join(lines[start:]) + "\n")
            for status, message in _child_statuses(manifest, len(jobs) - start, timeout):
                model = jobs[len(results)][0]
                if status == "ok":
                    with np.load(outs[len(results)]) as saved:
                        results.append({name: saved[name] for name in saved.files})
                elif status == "error":
                    results.append(
                        CoreAIRunError(f"Apple's Core AI runtime failed on {model.name}: {message}")
                    )
                elif status == "hang":
                    results.append(
                        CoreAIRunError(
                            f"Apple's Core AI runtime did not finish {model.name} in {timeout:.0f} s"
                        )
                    )
                else:  # the child died on this job (an abort): its stderr says why
                    results.append(CoreAIRunError(_failure(model, int(status), message)))
    return results


def _child_statuses(manifest: Path, count: int, timeout: float) -> Iterator[tuple[str, str]]:
    """Run ``manifest``'s ``count`` jobs in one child; yield ("ok" | "error", message) per job, and last,
    if the child stops early, ("hang", "") or (its exit status, its stderr) for the job it stopped on."""
    import selectors

    command = [sys.executable, "-m", "bridgec.backends.coreai.run", "--batch", str(manifest)]
    errors = manifest.with_suffix(".err")  # a file: the runtime logs every load, more than a pipe holds
    with errors.open("w") as sink:
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=sink)
    pending = b""
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(child.stdout, selectors.EVENT_READ)
            for _ in range(count):
                while b"\n" not in pending:
                    if not selector.select(timeout):
                        yield "hang", ""
                        return
                    data = os.read(child.stdout.fileno(), 65536)
                    if not data:
                        yield str(child.wait()), errors.read_text(errors="replace")
                        return
                    pending += data
                line, pending = pending.split(b"\n", 1)
                status, _, message = line.decode(errors="replace").partition(" ")
                yield status, message
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stdout.close()


def _batch(manifest: Path) -> int:
    """The child's side of ``run_batch``: one line per job on stdout, flushed before the next starts."""
    for entry in manifest.read_text().splitlines():
        model, inputs, outputs = (Path(part) for part in entry.split("\t"))
        try:
            with np.load(inputs) as saved:
                results = _run_here(model, {name: saved[name] for name in saved.files})
            np.savez(outputs, **results)
        except Exception as error:  # noqa: BLE001 - reported to the parent as one line
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            print(f"error {type(error).__name__}: {first}", flush=True)
            continue
        print("ok", flush=True)
    return 0


def _failure(model: Path, code: int, stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and "ODIE" not in line]
    if code in (134, -signal.SIGABRT):
        why = next((line for line in lines if "failed" in line.lower()), lines[-1] if lines else "")
        return f"Apple's Core AI runtime crashed (abort) on {model.name}" + (f": {why}" if why else "")
    if code < 0:  # killed by a signal (SIGILL seen, on rank-0 inputs): the runtime crashed
        why = f": {lines[-1]}" if lines else ""
        return f"Apple's Core AI runtime crashed ({signal.Signals(-code).name}) on {model.name}{why}"
    last = lines[-1] if lines else f"exit status {code}"
    return f"Apple's Core AI runtime failed on {model.name}: {last}"


def _run_here(model: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """In this process (the child's side): the async runtime API, outputs copied out of DLPack views."""
    import asyncio

    from coreai.authoring import AIModelAsset
    from coreai.runtime import NDArray

    async def go() -> dict[str, np.ndarray]:
        async with AIModelAsset.load(model).executable() as loaded:
            function = loaded.load_function("main")
            results = await function({k: NDArray(np.ascontiguousarray(v)) for k, v in feeds.items()})
            return {k: np.array(v.numpy()) for k, v in results.items()}

    return asyncio.run(go())


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--batch":
        return _batch(Path(argv[1]))
    if len(argv) != 3:
        print("usage: python -m bridgec.backends.coreai.run MODEL.aimodel IN.npz OUT.npz", file=sys.stderr)
        return 2
    model, inputs, outputs = (Path(a) for a in argv)
    with np.load(inputs) as saved:
        feeds = {name: saved[name] for name in saved.files}
    try:
        results = _run_here(model, feeds)
    except Exception as error:  # noqa: BLE001 - reported to the parent as one line
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        print(f"{type(error).__name__}: {first}", file=sys.stderr)
        return 1
    np.savez(outputs, **results)
    return 0


if __name__ == "__main__":
    sys.stdout.flush()
    os._exit(main(sys.argv[1:]))  # no interpreter teardown: the runtime's threads may still be winding down
