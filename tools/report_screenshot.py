"""Write docs/report.png: the HTML report of the bundled example, as headless Chromium renders it.

    python tools/report_screenshot.py                 # docs/report.png
    python tools/report_screenshot.py -o /tmp/r.png --keep /tmp/r.html

Converts examples/faceseg.py for an iOS13 NeuralNetwork without Clip, Max and Sub, so the page shows
every kind of node a conversion makes: native layers, a lowering rule (the half-pixel Resize as
MatMuls) and custom layers with bundled kernels (HardTanh, which nothing left can lower). Needs
Chromium (Debian: apt-get install chromium). ``screenshot`` is what tests/driver/test_report_html.py
renders with.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PNG = ROOT / "docs" / "report.png"
# the conversion the screenshot shows (after the model path)
ARGS = ["--input", "x:1x3x256x256", "--target", "iOS13", "--format", "neuralnetwork"]
ARGS += ["--avoid-op", "Clip", "--avoid-op", "Max", "--avoid-op", "Sub"]
PACKAGE = "chromium"  # the Debian package that provides the browser


def chromium() -> str | None:
    """The headless browser's command, or None when it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def render(html: Path, *, png: Path | None = None, size: tuple[int, int] = (1400, 1000)) -> str:
    """Render ``html`` in headless Chromium: a screenshot of the window's ``size`` into ``png``, or
    (without ``png``) the DOM after parsing, which is returned. Chromium's own chatter is dropped."""
    browser = chromium()
    if browser is None:
        raise SystemExit(f"report_screenshot: needs Chromium (apt-get install {PACKAGE})")
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    command += ["--force-device-scale-factor=1", f"--window-size={size[0]},{size[1]}"]
    command += [f"--screenshot={png}"] if png is not None else ["--dump-dom"]
    with tempfile.TemporaryDirectory() as profile:  # never the user's profile, never a lock on it
        done = subprocess.run(
            [*command, f"--user-data-dir={profile}", html.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
        )
    if done.returncode != 0 or (png is not None and not png.exists()):
        raise RuntimeError(f"chromium failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=PNG)
    parser.add_argument("--keep", type=Path, help="also keep the HTML report here")
    parser.add_argument("--height", type=int, default=1150, help="window height in pixels")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from bridgec.driver.cli import main as bridgec
    from examples import faceseg

    output, keep, here = args.output.resolve(), args.keep and args.keep.resolve(), Path.cwd()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        faceseg.save(work / "faceseg.pt")
        html = work / "faceseg.html"
        os.chdir(work)  # the report's command line reads as a user's: bridgec faceseg.pt ...
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # the table and lines the command prints
                code = bridgec(["faceseg.pt", *ARGS, "-o", "faceseg.mlmodel", "--report-out", html.name])
        finally:
            os.chdir(here)
        if code != 0:
            return code
        if keep:
            shutil.copyfile(html, keep)
        shot = work / "shot.png"
        render(html, png=shot, size=(1400, args.height))
        from PIL import Image

        Image.open(shot).convert("RGB").save(output, optimize=True)
    print(f"wrote {output} ({output.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
