"""The second adapter of the Metal kernels: Core AI's ``coreai.metal4_kernel`` (Metal 4 tensors).

``Metal/<name>.metal`` holds one source per kernel: its helpers and parameter struct, and a kernel
function written for Core ML's custom-layer GPU convention (``texture2d_array<half>`` in and out,
one texel = four channels). A ``coreai.metal4_kernel`` instead binds **Metal 4 tensors**
(``tensor<device T, dextents<int, R>, tensor_handle>``) and rank-0 inputs as ``constant T&``
(docs/coreai-groundwork.md §4, and ``coreai.authoring.metal.CustomMetalKernel.template_kernel_src``).

This module writes that second adapter from the same file, so the math exists once: the helpers
are copied as they are, and the Core ML kernel's body is reused with only its texture I/O replaced:

- the bounds guard on the texture -> a guard on the tensor's length;
- ``input.read(gid.xy, gid.z)`` -> four consecutive elements of the flat input tensor, as ``half4``
  (lanes past the end are 0 and never written back, like the padding lanes of a texel);
- ``output.write(y, gid.xy, gid.z);`` -> those four elements of the flat output tensor;
- ``params`` (a ``constant <Name>Params&`` at buffer(0)) -> the same struct built from one rank-0
  input per parameter, in the struct's field order (``generate_layers._metal_block``).

The kernel computes in ``half`` as the Core ML GPU kernel does: float32 tensors are rounded to
float16 on the way in and widened on the way out. Every step that does not match the expected
text raises ``Metal4AdapterError`` naming the file, so a kernel edited out of the pattern cannot
produce a wrong adapter silently. tests/runtime_kernels/test_metal4.py compiles every generated
source as C++ (tools/metal_linux) and compares it with the numpy reference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bridgec.runtime_kernels.catalog import ROOT, KernelSpec
from bridgec.runtime_kernels.generate_layers import _metal_block

# What Apple's CustomMetalKernel puts before every kernel it writes (coreai/authoring/metal.py).
PRELUDE = (
    "#include <metal_stdlib>\n"
    "#include <MetalPerformancePrimitives/MetalPerformancePrimitives.h>\n"
    "using namespace metal;\n"
    "using namespace mpp::tensor_ops;\n"
)
# Elements per thread: one texel's worth, so the body's half4 math is used unchanged.
LANES = 4
# Metal element type of a Core AI tensor dtype (the subset the adapter binds).
METAL_TYPES = {"float32": "float", "float16": "half"}

_GUARD = re.compile(
    r"if \(gid\.x >= output\.get_width\(\) \|\| gid\.y >= output\.get_height\(\) \|\| "
    r"gid\.z >= output\.get_array_size\(\)\) \{\s*return;\s*\}\n?"
)
_READ = "input.read(gid.xy, gid.z)"
_WRITE = re.compile(r"output\.write\((.*?), gid\.xy, gid\.z\);", re.S)


class Metal4AdapterError(ValueError):
    """A Metal kernel's source is not in the shape the Metal 4 adapter is written from."""


@dataclass(frozen=True)
class Metal4Kernel:
    """One generated ``coreai.metal4_kernel``: its name, MSL source and the rank-0 inputs it takes."""

    name: str  # the [[kernel]] function, deterministic (Apple's helper would add a random suffix)
    source: str
    # (catalog parameter, Metal scalar type) per rank-0 input, bound after the input tensor
    scalars: tuple[tuple[str, str], ...]
    element: str  # Metal type of the input and output tensor elements

    @property
    def lanes(self) -> int:
        return LANES


def function_for(spec: KernelSpec, params: dict) -> str:
    """The Metal function the Core ML adapter would encode for these parameters (the i-th choice of
    a string parameter picks the i-th function, as generate_layers writes it)."""
    for name, choices in spec.choices.items():
        return spec.metal_functions[choices.index(params[name])]
    return spec.metal_functions[0]


def _kernel_body(text: str, function: str, where: str) -> tuple[str, str | None]:
    """(body between the braces, parameter struct type or None) of ``kernel void function(...)``."""
    head = re.search(rf"^kernel\s+void\s+{function}\s*\((.*?)\)\s*\{{", text, flags=re.M | re.S)
    if head is None:
        raise Metal4AdapterError(f"{where}: no kernel function {function}")
    struct = re.search(r"constant (\w+)& params \[\[buffer\(0\)\]\]", head.group(1))
    depth, i = 1, head.end()
    while depth:
        if i >= len(text):
            raise Metal4AdapterError(f"{where}: kernel {function} has unbalanced braces")
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    return text[head.end() : i - 1], struct.group(1) if struct else None


def _once(pattern, replacement, text: str, what: str, where: str) -> str:
    new, count = (pattern.subn if isinstance(pattern, re.Pattern) else _subn_literal(pattern))(
        replacement, text
    )
    if count != 1:
        raise Metal4AdapterError(f"{where}: expected one {what} in the kernel body, found {count}")
    return new


def _subn_literal(literal: str):
    return lambda replacement, text: (text.replace(literal, replacement), text.count(literal))


def _helpers(text: str) -> str:
    """The file without its leading comment block and its kernel functions: structs and helpers."""
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.strip() and not line.startswith("//"))
    rest = "".join(lines[start:])
    first_kernel = re.search(r"^kernel\s+void\s", rest, flags=re.M)
    return rest[: first_kernel.start()] if first_kernel else rest


def metal4_kernel(spec: KernelSpec, function: str, dtype: str = "float32") -> Metal4Kernel:
    """The Metal 4 tensor kernel of Metal function ``function`` of ``spec`` for ``dtype`` tensors."""
    if function not in spec.metal_functions:
        raise Metal4AdapterError(f"{spec.class_name}: no Metal function {function}")
    if dtype not in METAL_TYPES:
        raise Metal4AdapterError(
            f"{spec.class_name}: the Metal 4 adapter binds {sorted(METAL_TYPES)}, not {dtype}"
        )
    (rel,) = spec.gpu_sources
    where = f"runtime_kernels/{rel}"
    text = (ROOT / rel).read_text(encoding="utf-8")
    body, struct = _kernel_body(text, function, where)
    block = _metal_block(spec, ROOT)
    if (struct is None) != (block is None) or (struct and struct != f"{spec.class_name}Params"):
        raise Metal4AdapterError(f"{where}: kernel {function} binds {struct}, the catalog expects {block}")
    element = METAL_TYPES[dtype]
    body = _once(_GUARD, "", body, "texture bounds guard", where)
    body = _once(_READ, "bridgec_in", body, _READ, where)
    write = _WRITE.search(body)
    if write is None or body[write.end() :].strip():
        raise Metal4AdapterError(
            f"{where}: kernel {function} must end with output.write(..., gid.xy, gid.z);"
        )
    body = _once(_WRITE, r"const half4 bridgec_out = \1;", body, "output.write(..., gid.xy, gid.z)", where)
    left = re.findall(r"\b(gid|input|output)\b", body)
    if left:
        raise Metal4AdapterError(
            f"{where}: kernel {function} still uses {sorted(set(left))} after adaptation"
        )
    scalars: tuple[tuple[str, str], ...] = ()
    setup = ""
    if block is not None:
        kind, fields = block
        doubles = [p for p, k in spec.parameters.items() if k == "double"]
        scalars = tuple((p, kind) for p in doubles)
        setup = f"    const {struct} params = {{{', '.join('bridgec_' + p for p in doubles)}}};  // {', '.join(fields)}\n"
    name = f"bridgec_{function}_{element}"
    args = [f"tensor<device {element}, metal::dextents<int, 1>, tensor_handle> bridgec_x [[buffer(0)]]"]
    args += [f"constant {kind}& bridgec_{p} [[buffer({i + 1})]]" for i, (p, kind) in enumerate(scalars)]
    args += [
        f"tensor<device {element}, metal::dextents<int, 1>, tensor_handle> bridgec_y [[buffer({len(scalars) + 1})]]",
        "uint tid [[thread_position_in_grid]]",
    ]
    joined = ",\n    ".join(args)
    source = (
        f"{PRELUDE}\n"
        f"// GENERATED by bridgec (runtime_kernels/metal4.py) from {where}, kernel {function}:\n"
        f"// the same math as the Core ML custom layer's GPU kernel, on Metal 4 tensors, {LANES} elements per thread.\n"
        f"{_helpers(text)}"
        f"[[kernel]] void {name}(\n    {joined})\n{{\n"
        f"    const int bridgec_n = bridgec_x.get_extent(0);\n"
        f"    const int bridgec_first = int(tid) * {LANES};\n"
        f"    if (bridgec_first >= bridgec_n) {{\n        return;\n    }}\n"
        f"{setup}"
        f"    half4 bridgec_in = half4(0.0f);\n"
        f"    for (int k = 0; k < {LANES} && bridgec_first + k < bridgec_n; ++k) {{\n"
        f"        bridgec_in[k] = half(bridgec_x[bridgec_first + k]);\n    }}\n"
        f"{body.rstrip()}\n"
        f"    for (int k = 0; k < {LANES} && bridgec_first + k < bridgec_n; ++k) {{\n"
        f"        bridgec_y[bridgec_first + k] = {element}(bridgec_out[k]);\n    }}\n}}\n"
    )
    return Metal4Kernel(name, source, scalars, element)
