"""The parsed command line as a ``ConversionRequest`` (and the options ``bridgec verify`` and
``bridgec report`` share with it): every argument that is wrong on its own fails here, before
anything is loaded."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bridgec.core.errors import UsageError


def _flexible_inputs(args: argparse.Namespace) -> dict:
    from bridgec.frontends.shapes import parse_flexible_specs

    flexible = parse_flexible_specs(args.input)
    if flexible and args.image_input:
        raise UsageError("flexible --input shapes with --image-input are not supported yet; give one shape")
    return flexible


# far beyond any class list (ImageNet-21k's is under 1 MB), and read whole into the model
_MAX_LABELS_BYTES = 64 << 20


def _app_options(args: argparse.Namespace) -> dict:
    """--image-input/--scale/--bias/--color-layout, --image-output and --labels as convert()'s image,
    image_outputs and labels."""
    from bridgec.backends.coreml.image import ImageInput, ImageOutput

    options: dict = {}
    if args.image_input:
        try:
            bias = tuple(float(b) for b in args.bias.split(","))
        except ValueError:
            raise UsageError(f"--bias {args.bias!r}: expected numbers such as -0.485,-0.456,-0.406") from None
        options["image"] = ImageInput(args.image_input, args.scale, bias, args.color_layout)
    elif args.scale != 1.0 or args.bias != "0":
        raise UsageError("--scale and --bias describe an image input: add --image-input NAME")
    elif args.color_layout != "RGB" and not args.image_output:
        raise UsageError("--color-layout describes an image input or output: add --image-input NAME")
    if args.image_output:
        if len(set(args.image_output)) != len(args.image_output):
            raise UsageError("--image-output: name each output once")
        options["image_outputs"] = tuple(ImageOutput(name, args.color_layout) for name in args.image_output)
    if args.labels:
        from bridgec.core.input_files import read_bytes, shown

        label = f"--labels {shown(args.labels)}"
        try:
            text = read_bytes(args.labels, label, limit=_MAX_LABELS_BYTES).decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"{label}: not UTF-8 text (one label a line)") from None
        labels = [line.strip() for line in text.splitlines() if line.strip()]
        if not labels:
            raise UsageError(f"--labels {args.labels}: no labels in it (one a line)")
        options["labels"] = labels
    if args.labels_output:
        options["labels_output"] = args.labels_output
    return options


def _frontend_options(args: argparse.Namespace, progress):
    from bridgec.frontends import LoadOptions

    if args.arch_args is not None and not args.arch:
        raise UsageError("--arch-args without --arch: they are the constructor arguments of --arch's class")
    if args.arch is not None:
        from bridgec.frontends.pytorch_load import check_arch_spec

        check_arch_spec(args.arch)
    return LoadOptions(
        exporter=args.exporter,
        trust_pickle=args.trust_pickle,
        imports=tuple(args.imports),
        paths=tuple(args.paths),
        arch=args.arch,
        arch_args=args.arch_args,
        notify=progress.warn,  # warnings and exporter fallbacks: shown even with -q, or piped
    )


def _run_options(args: argparse.Namespace):
    from bridgec.driver.pipeline import RunOptions
    from bridgec.passes._plugins import load_entry_points, load_file

    load_entry_points()
    for path in args.load_passes:
        load_file(path)
    passes = [p.strip() for p in args.passes.split(",") if p.strip()] if args.passes is not None else None
    if passes == []:  # '' or ',' would otherwise run the -O pipeline as if --passes were not given
        raise UsageError(f"--passes {args.passes!r}: no pass ids in it; give A,B,C (see bridgec passes)")
    if args.dump_dir is not None and args.dump_dir.exists() and not args.dump_dir.is_dir():
        raise UsageError(f"--dump-dir {args.dump_dir}: is a file; name a folder (bridgec creates it)")
    return RunOptions(
        passes=passes,
        disable=tuple(args.disable_pass),
        check_each=args.check_each,
        verify_each=args.verify_each,
        dump_dir=args.dump_dir,
        dump_graphml=args.dump_graphml,
        print_after=tuple(args.print_after),
        allow_missing_kernels=args.allow_missing_kernels,
    )


def check_report_out(args: argparse.Namespace) -> None:
    """A --report-out whose format cannot be told fails before the slow part."""
    if args.report_out:
        from bridgec.driver.report_formats import format_for

        format_for(args.report_out, args.report_format)


def user_files(args: argparse.Namespace, outputs: dict[str, str], inputs: dict[str, str]) -> list:
    """The paths a command reads and writes besides the model and ``-o`` (flag -> argparse dest), as
    ``files.Claim``: no output may write over an input or another output."""
    from bridgec.driver.files import Claim

    claims = []
    for flag, dest in outputs.items():
        if getattr(args, dest, None):
            kind = "dump" if flag == "--dump-dir" else "file"
            claims.append(Claim(f"{flag} {getattr(args, dest)}", Path(getattr(args, dest)), kind))
    for flag, dest in inputs.items():
        values = getattr(args, dest, None) or []
        for value in values if isinstance(values, list) else [values]:
            path = str(value)
            if flag == "--check-input":  # NAME=FILE.npy, or FILE.npy alone
                path = path.partition("=")[2] or path
            claims.append(Claim(f"{flag} {path}", Path(path), "input"))
    return claims


def _metadata(args: argparse.Namespace):
    from bridgec.backends.coreml.metadata import Metadata

    def pairs(values: list[str], flag: str) -> dict[str, str]:
        found = {}
        for value in values:
            name, sep, text = value.partition("=")
            if not sep or not name.strip():
                raise UsageError(f"{flag} {value!r}: expected NAME=TEXT")
            found[name.strip()] = text
        return found

    given = _metadata_file(args.metadata) if args.metadata else {}
    return Metadata(
        short_description=args.description or given.get("description", ""),
        author=args.author or given.get("author", ""),
        license=args.license or given.get("license", ""),
        version=args.model_version or given.get("version", ""),
        input_descriptions={
            **given.get("inputs", {}),
            **pairs(args.input_description, "--input-description"),
        },
        output_descriptions={
            **given.get("outputs", {}),
            **pairs(args.output_description, "--output-description"),
        },
    )


# --metadata's keys: the texts, and the per-feature descriptions by name
_METADATA_TEXTS = ("author", "license", "version", "description")
_METADATA_FEATURES = ("inputs", "outputs")
_MAX_METADATA_BYTES = 1 << 20  # descriptions shown in Xcode: far below this


def _metadata_file(path: Path) -> dict:
    """--metadata FILE.json as a dict of the known keys, every value checked; one line for anything else."""
    import json

    from bridgec.core.input_files import read_bytes, shown

    label = f"--metadata {shown(path)}"
    try:
        given = json.loads(read_bytes(path, label, limit=_MAX_METADATA_BYTES).decode("utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"{label}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{label}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(given, dict):
        raise UsageError(f'{label}: expected a JSON object such as {{"author": "...", "inputs": {{...}}}}')
    known = (*_METADATA_TEXTS, *_METADATA_FEATURES)
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise UsageError(f"{label}: unknown key {unknown[0]!r}; the keys are {', '.join(known)}")
    for key in _METADATA_TEXTS:
        if key in given and not isinstance(given[key], str):
            raise UsageError(f"{label}: {key!r} must be a string")
    for key in _METADATA_FEATURES:
        if key in given and not (
            isinstance(given[key], dict) and all(isinstance(v, str) for v in given[key].values())
        ):
            raise UsageError(f"{label}: {key!r} must be an object of NAME: TEXT (strings)")
    return given


def _progress(args: argparse.Namespace):
    """The command's stage progress (``bridgec.driver.progress``); the command closes it when done."""
    from bridgec.driver.progress import Progress, mode_for

    # --debug lets library warnings through and --print-after prints graphs: a live line would garble them
    plain = args.debug or bool(args.print_after)
    return Progress(mode_for(sys.stderr, args.quiet, args.progress, plain))


def model_options(args: argparse.Namespace) -> dict:
    """The arguments convert, verify and report share: what to read and how to run the passes. Its
    ``progress`` is a ``Progress`` the command closes (``with``) when it is done."""
    from bridgec.backends.coreml.targets import Target
    from bridgec.frontends import parse_input_specs

    if getattr(args, "format", None) == "coreai":
        from bridgec.backends.coreai.targets import Target as CoreAITarget

        CoreAITarget.parse(args.target)  # iOS27 / macOS27 only: a lower one fails now, in one line
    else:
        Target.parse(args.target)  # a wrong --target fails now, not after loading the model
    empty = [op for op in args.avoid_op if not op.strip()]
    if empty:
        raise UsageError("--avoid-op '': give an ONNX op type, e.g. --avoid-op Clip")
    progress = _progress(args)
    return {
        "inputs": parse_input_specs(args.input),
        "pipeline": args.pipeline,
        "target": args.target,
        "avoid_ops": tuple(args.avoid_op),
        "format": args.format,
        "precision": args.precision,
        "progress": progress,
        "options": _run_options(args),
        "frontend": _frontend_options(args, progress),
    }


def conversion_request(args: argparse.Namespace):
    """The ``ConversionRequest`` of a ``bridgec MODEL ...`` command line."""
    from bridgec.driver.check_inputs import parse_check_inputs
    from bridgec.driver.request import ConversionRequest

    check_report_out(args)
    return ConversionRequest.of(
        args.model,
        output=args.output,
        check=args.check,
        check_inputs=parse_check_inputs(args.check_input),
        strict=args.strict,
        tolerance=args.tolerance,
        **model_options(args),
        metadata=_metadata(args),
        flexible=_flexible_inputs(args),
        compress=args.compress,
        report=args.report_out,
        report_format=args.report_format,
        report_json=args.report_json,
        # what the run reads and writes besides the model, -o and the reports (which the request names)
        protect=user_files(
            args,
            {"--dump-dir": "dump_dir"},
            {"--check-input": "check_input", "--labels": "labels", "--load-passes": "load_passes"},
        ),
        **_app_options(args),
    )
