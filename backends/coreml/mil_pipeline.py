"""coremltools' MIL pass pipelines, run for bridgec's ``ct.convert`` at a fraction of the cost.

``ct.convert`` runs three pipelines (frontend, main, backend) through
``PassPipelineManager.apply_pipeline``, which validates the whole program after every pass (over
a hundred times per model) and formats the whole program into two debug strings per pipeline
whether or not anyone logs them. Most passes are pattern rewrites that walk every op looking for
op types the program may not hold at all (``reduce_transposes`` re-infers every op's type even
when there is no transpose: a fifth of a ResNet's conversion).

``applied()`` swaps in ``apply_pipeline`` below for the calls of the thread that entered it: the
same passes in the same order with the same options, the program validated once at the end of
each pipeline, and a pass skipped when it would leave the program as it is: the program holds no
op it can rewrite (``PRECONDITIONS``), or, for ``const_deduplication``, no constant it compares
was made since its last run. A skipped pass leaves coremltools' process-wide state as running it
would have: it runs on an empty program, which builds its pattern programs (their op-name
counters, symbols and random numbers), and ``reduce_transposes``'s temporary output ops are
counted. Blocks skip refreshing their vars' non-replaceable sets while the program never held a
constexpr op (``_propagate``). ``reduce_transposes`` on a program whose transposes cancel nowhere
stops after its analysis (``_apply_transform``): a vision transformer's head transposes feed
matmuls, and re-inferring every op of a static program changes nothing. A transpose's value is
laid out as it reads (``_transposed``: coremltools copies the views its fused linear weights are for
every deduplication run and again to write them), and weights are written without the flattened
copy coremltools makes of each (``_write_weight``). ``topological_reorder`` looks up two ops'
positions in the block's op list for every value read twice (``_move_to_the_end``): a scan of the
list each, the square of the program's size (most of a 100k-op residual program's conversion),
where only the casts and transposes it moves need a position looked up. The program after is
the one coremltools' own loop gives
(``tests/backends/coreml/test_mil_pipeline.py`` compares the saved packages byte for byte, and
coremltools' counters).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bridgec.core import layout

# The coremltools whose pass loop, pass sources and process-wide state all of this was read from.
# Another version may add a pass, change what one rewrites or how its loop validates: there
# ``applied()`` leaves coremltools' own loop in place rather than guess.
COREMLTOOLS_VERSION = "9.0"

# pass -> the op types it rewrites, in groups: it can change the program only when each group has
# an op in it, so with a group absent running it changes nothing (read from each pass's source in
# coremltools 9.0: the op types its matcher starts from or requires in the pattern). A pass not
# here always runs: those that rewrite the function's inputs and outputs, names, casts and constants.
PRECONDITIONS: dict[str, tuple[tuple[str, ...], ...]] = {
    # cleanup
    "common::expand_dynamic_linear": (("linear",),),
    "common::fuse_reduce_mean": (("reduce_sum",),),  # reduce_sum -> mul / real_div
    "common::loop_invariant_elimination": (("while_loop",),),
    "common::noop_elimination": (
        (
            "identity",
            "add",
            "mul",
            "floor_div",
            "pow",
            "real_div",
            "sub",
            "reshape",
            "split",
            "slice_by_index",
            "slice_by_size",
            "pad",
            "tile",
            "transpose",
            "upsample_nearest_neighbor",
            "upsample_bilinear",
            "resize_bilinear",
            "crop",
            "linear_activation",
        ),
    ),
    "common::remove_symbolic_reshape": (("reshape",),),
    # optimize_activation
    "common::fuse_gelu_exact": (("erf",),),  # mul / real_div -> erf -> add -> mul
    "common::fuse_gelu_tanh_approximation": (("pow",), ("tanh",)),
    "common::fuse_leaky_relu": (("mul",), ("maximum",)),
    "common::fuse_prelu": (("relu",), ("mul",), ("add",)),  # both patterns: relu(-x) * alpha + relu(x)
    "common::prelu_to_lrelu": (("prelu",),),
    # optimize_conv
    "common::add_conv_transpose_output_shape": (("conv_transpose",),),
    "common::compose_conv1d": (("expand_dims",), ("conv",)),  # expand_dims -> conv -> squeeze
    "common::fuse_conv_batchnorm": (("conv", "conv_transpose"), ("batch_norm",)),
    "common::fuse_conv_bias": (("conv", "conv_transpose"), ("add", "sub")),
    "common::fuse_conv_scale": (("conv", "conv_transpose"), ("mul", "real_div")),
    "common::fuse_dilated_conv": (("space_to_batch",), ("batch_to_space",)),
    "common::fuse_pad_conv": (("pad",), ("transpose",)),  # pad -> transpose -> conv
    # optimize_elementwise_binary
    "common::divide_to_multiply": (("real_div",),),
    "common::fuse_elementwise_to_batchnorm": (("mul",), ("add",)),
    "common::rank0_expand_dims_swap": (("add", "sub", "mul", "real_div", "floor_div"), ("expand_dims",)),
    "common::select_optimization": (("select",),),
    # optimize_linear
    "common::fuse_linear_bias": (("linear",), ("add", "sub")),
    "common::fuse_matmul_weight_bias": (("matmul",), ("add", "sub")),
    "common::fuse_transpose_matmul": (("matmul",), ("transpose",)),
    # optimize_normalization
    "common::fuse_layernorm_or_instancenorm": (("reduce_mean", "reduce_sum"),),
    # optimize_quantization
    "common::canonicalize_quantized_lut_pattern": (
        ("constexpr_lut_to_dense",),
        ("constexpr_blockwise_shift_scale",),
    ),
    "common::dequantize_quantize_pair_elimination": (("dequantize",), ("quantize",)),
    "common::dequantize_to_constexpr": (("dequantize",),),
    "common::distributive_quantized_binary_op_scale_normalization": (("dequantize",), ("quantize",)),
    "common::int_op_canonicalization": (("dequantize",), ("reshape",), ("quantize",)),
    "common::merge_affine_dequantize_with_consecutive_ops": (("constexpr_affine_dequantize",),),
    "common::nullify_redundant_quantization_zero_point": (("quantize", "dequantize"),),
    # optimize_repeat_ops
    "common::cast_optimization": (("cast",),),
    "common::merge_consecutive_paddings": (("pad",),),
    "common::merge_consecutive_relus": (("relu",),),
    "common::merge_consecutive_reshapes": (("reshape",),),
    "common::merge_consecutive_transposes": (("transpose",),),
    "common::reduce_transposes": (("transpose",),),
    # optimize_state
    "common::canonicalize_inplace_pattern": (("coreml_update_state",),),
    "common::prefer_state_in_downstream": (("coreml_update_state",),),
    # optimize_tensor_operation
    "common::concat_to_pixel_shuffle": (("concat",),),
    "common::detect_concat_interleave": (("concat",), ("reshape",)),
    "common::expand_high_rank_reshape_and_transpose": (("reshape",), ("transpose",)),
    "common::fuse_onehot_matmul_to_gather": (("one_hot",), ("matmul",)),
    "common::fuse_squeeze_expand_dims": (("squeeze",), ("expand_dims",)),
    "common::fuse_stack_split": (("stack",),),
    "common::guard_negative_gather_indices": (("gather", "gather_nd"),),
    "common::replace_stack_reshape": (("stack",),),
    "common::use_reflection_padding": (("concat",), ("slice_by_index",)),
    # the ML Program backend's own
    "mil_backend::fuse_activation_silu": (("sigmoid",), ("mul",)),
    "mil_backend::fuse_pow2_sqrt": (("pow",), ("sqrt",)),
}

# Passes whose run changes the program even when they rewrite nothing: reduce_transposes re-infers
# every op's type, which is the identity only when every shape is static (a data-dependent shape
# would get fresh symbols).
_REINFERS_TYPES = frozenset({"common::reduce_transposes"})

# const_deduplication hashes every weight each of its four runs (the transposed weights of the
# linears coremltools fuses are copied to be hashed): after a run, it is idle until a new constant.
_DEDUPLICATION = "common::const_deduplication"
_deduplicated: weakref.WeakKeyDictionary[Any, frozenset[Any] | None] = weakref.WeakKeyDictionary()


@dataclass
class Stats:
    """What ``apply_pipeline`` did in this thread since ``applied()`` was entered."""

    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


_local = threading.local()
_lock = threading.Lock()
_saved: dict[str, Any] = {}  # coremltools' own, as the classes held them
_users = 0  # threads inside applied(): the last one out puts coremltools' back
# programs that held an op which makes vars non-replaceable (or a dequantize, which a pass turns
# into one): their blocks refresh that property on exit as coremltools does
_tainted: weakref.WeakSet[Any] = weakref.WeakSet()


@contextlib.contextmanager
def applied() -> Iterator[Stats]:
    """Within it, this thread's ``ct.convert`` runs its pipelines through ``apply_pipeline``; other
    threads and every call after it get coremltools' own. Yields what was run and skipped (an
    inner ``applied()`` adds to the outer one's). Under a coremltools other than
    ``COREMLTOOLS_VERSION`` it installs nothing: its own loop runs, and the stats stay empty."""
    global _users
    import coremltools

    if coremltools.__version__ != COREMLTOOLS_VERSION:
        yield Stats()
        return
    from coremltools.converters.mil.backend.mil import helper
    from coremltools.converters.mil.mil import Block
    from coremltools.converters.mil.mil.ops.defs.iOS15.tensor_transformation import transpose
    from coremltools.converters.mil.mil.passes.defs.cleanup import topological_reorder
    from coremltools.converters.mil.mil.passes.defs.optimize_repeat_ops import _TransposeOptimization
    from coremltools.converters.mil.mil.passes.pass_pipeline import PassPipelineManager

    outer = getattr(_local, "stats", None)
    stats = outer if outer is not None else Stats()
    with _lock:
        if _users == 0:
            _saved["apply_pipeline"] = PassPipelineManager.__dict__["apply_pipeline"]
            _saved["propagate"] = Block.__dict__["_propagate_nonreplaceable_vars"]
            _saved["apply_transform"] = _TransposeOptimization.__dict__["apply_transform"]
            _saved["write_weight"] = helper._get_offset_by_writing_data
            _saved["transposed"] = transpose.__dict__["value_inference"]
            _saved["move_to_the_end"] = topological_reorder.__dict__["_move_operations_to_the_end_block"]
            transpose.value_inference = _transposed
            topological_reorder._move_operations_to_the_end_block = staticmethod(_move_to_the_end)
            PassPipelineManager.apply_pipeline = staticmethod(_dispatch)
            Block._propagate_nonreplaceable_vars = _propagate
            _TransposeOptimization.apply_transform = _apply_transform
            helper._get_offset_by_writing_data = _write_weight
        _users += 1
    _local.stats = stats
    try:
        yield stats
    finally:
        _local.stats = outer
        with _lock:
            _users -= 1
            if _users == 0:
                PassPipelineManager.apply_pipeline = _saved["apply_pipeline"]
                Block._propagate_nonreplaceable_vars = _saved["propagate"]
                _TransposeOptimization.apply_transform = _saved["apply_transform"]
                helper._get_offset_by_writing_data = _saved["write_weight"]
                transpose.value_inference = _saved["transposed"]
                topological_reorder._move_operations_to_the_end_block = _saved["move_to_the_end"]


def _dispatch(prog: Any, pass_pipeline: Any) -> None:
    stats = getattr(_local, "stats", None)
    if stats is None:  # another thread's conversion, or a caller that kept the attribute
        original = _saved["apply_pipeline"]
        return getattr(original, "__func__", original)(prog, pass_pipeline)
    return apply_pipeline(prog, pass_pipeline, stats)


def _propagate(block: Any) -> None:
    """``Block._propagate_nonreplaceable_vars``, run when a pass leaves a block: it recomputes, for
    every var, the set of constexpr outputs upstream of it. In a program that never held a
    constexpr op every such set is empty, and recomputing them is a walk over every op's inputs
    that changes nothing (a tenth of the pipelines' time)."""
    if getattr(_local, "plain", False) and not _holds_constexpr(block):
        return
    _saved["propagate"](block)


def _apply_transform(opt: Any) -> None:
    """``_TransposeOptimization.apply_transform`` (``reduce_transposes``, after its walk has found
    which transposes could cancel): when none can and every shape is static, it would remove the
    output sinks it added and then re-infer every op's type, which changes nothing there. That
    re-inference (and two debug strings of the whole block, made even when not logged) is most of
    the pass's time on a program whose transposes all stay."""
    if not getattr(_local, "static", False):
        return _saved["apply_transform"](opt)
    opt._verify_cancellable_transposes()
    if opt.transpose_op_to_cancel_ops:
        # the transform itself, on what was just verified (verifying again would re-add the
        # transposes it dropped: it is not idempotent)
        opt._verify_cancellable_transposes = lambda: None
        return _saved["apply_transform"](opt)
    opt.block.set_outputs([sink.x for sink in opt.output_sink_ops])
    opt.block.remove_ops(list(opt.output_sink_ops))
    # but a const whose value its inference made (an int list as an int32 array) gets it made again:
    # fuse_transpose_matmul rewrites a transpose's perm in place, in that made copy
    for op in opt.block.operations:
        if op.op_type == "const" and op.outputs[0].sym_val is not op.val.sym_val:
            op.type_value_inference(overwrite_output=True)
    return None


def _write_weight(var: Any, blob_writer: Any) -> int:
    """``helper._get_offset_by_writing_data`` for the fp32 and fp16 weights bridgec writes: the same
    bytes, from the array itself when it is contiguous where coremltools flattens a copy of every
    weight first (a third of writing a vision transformer's 330 MB)."""
    val = var.val
    if isinstance(val, np.ndarray) and val.dtype in (np.float32, np.float16):
        flat = np.ascontiguousarray(val).reshape(-1)
        if val.dtype == np.float32:
            return blob_writer.write_float_data(flat)
        return blob_writer.write_fp16_data(flat.view(np.uint16))
    return _saved["write_weight"](var, blob_writer)


def _transposed(op: Any) -> Any:
    """A transpose's value, laid out as it reads: the linear weights fuse_matmul_weight_bias makes
    are transposes of constants, which coremltools otherwise keeps as views and copies whole for
    each const_deduplication run (to hash their first elements) and again to write them. Laid out
    once here, by torch's kernel when a PyTorch source has loaded it (``layout.contiguous``)."""
    value = _saved["transposed"](op)
    if isinstance(value, np.ndarray):
        return layout.contiguous(value)
    return value


def _move_to_the_end(block: Any, op_type_to_move: Any) -> set[Any]:
    """``topological_reorder._move_operations_to_the_end_block``, giving the same program: walking
    the block backwards, it moves each op of ``op_type_to_move`` (a copy, just before the first op
    that reads it, or to the end) and records each value's first reader. A value's first reader so
    far is replaced when the op now walked lies before it, which coremltools decides by two
    ``list.index`` scans for every value read more than once. An op that stays where it is always
    lies before every recorded reader: those were walked already (they come after it) or are copies
    put before one of them or at the end. Only a moved copy needs its position compared."""
    from coremltools.converters.mil.mil import Builder as mb
    from coremltools.converters.mil.mil.passes.defs.cleanup import topological_reorder
    from coremltools.converters.mil.mil.utils import CacheDoublyLinkedList

    with block:  # as coremltools' block_context_manager does around the whole walk
        block.operations = list(block.operations)
        first_use: dict[Any, Any] = {}  # var -> the first op reading it
        ops_to_remove = []
        for op in reversed(block.operations):
            current_op = op
            moved = op.op_type in op_type_to_move
            if moved:
                ops_to_remove.append(op)
                first_consumers = [first_use[v] for v in op.outputs if v in first_use]
                before_op = None  # the end of the block
                if first_consumers:
                    before_op = min(first_consumers, key=block.operations.index)
                new_var = getattr(mb, op.op_type)(**op.inputs, before_op=before_op)
                if not isinstance(new_var, list | tuple):
                    new_var = [new_var]
                for new, old in zip(new_var, op.outputs, strict=False):
                    new.name = old.name
                current_op = new_var[0].op
                for old, new in zip(op.outputs, new_var, strict=False):
                    block.replace_uses_of_var_after_op(anchor_op=op, old_var=old, new_var=new)
            relevant_inputs: set[Any] = set()
            for inner in current_op.blocks:
                relevant_inputs |= topological_reorder._move_operations_to_the_end_block(
                    inner, op_type_to_move
                )
            for v in current_op.inputs.values():
                if isinstance(v, tuple | list):
                    relevant_inputs |= set(v)
                else:
                    relevant_inputs.add(v)
            for v in relevant_inputs:
                if (
                    v not in first_use
                    or not moved
                    or block.operations.index(first_use[v]) > block.operations.index(current_op)
                ):
                    first_use[v] = current_op
        block.operations = CacheDoublyLinkedList(block.operations)
        block.remove_ops(ops_to_remove)
        consumed = set(first_use)
        consumed.update(block.outputs)
        return consumed


def _holds_constexpr(block: Any) -> bool:
    return any(
        op.op_type.startswith("constexpr_") or any(_holds_constexpr(inner) for inner in op.blocks)
        for op in block.operations
    )


def apply_pipeline(prog: Any, pass_pipeline: Any, stats: Stats | None = None) -> None:
    """coremltools' ``PassPipelineManager.apply_pipeline`` (same passes, order and options; an
    invalid program raises the same errors, after the pipeline instead of after the pass that made
    it), validating once and skipping the passes that would leave the program as it is."""
    from coremltools import _logger as logger
    from coremltools.converters.mil.mil import Program
    from coremltools.converters.mil.mil.passes.pass_registry import PASS_REGISTRY

    if pass_pipeline is None:
        raise ValueError("The pass_pipeline cannot be None.")
    pass_pipeline.validate()
    debug = logger.isEnabledFor(logging.DEBUG)
    if debug:
        logger.debug(f"Program before {pass_pipeline} pipeline:\n{prog}")
    outer_plain = getattr(_local, "plain", False)
    present = _census(prog)  # the op types in the program, after the last pass that ran
    try:
        for pass_name in pass_pipeline.passes:
            options = pass_pipeline.get_options(pass_name)
            if pass_name.startswith("experimental::"):
                logger.warning(
                    f"The graph pass {pass_name} is under experimental development, "
                    f"and the API could be changed in the future."
                )
            graph_pass = PASS_REGISTRY[pass_name]
            graph_pass.set_options(options)
            if options is None and not prog.skip_all_passes and _idle(pass_name, prog, present):
                graph_pass(Program())  # its process-wide effects: pattern programs, counters
                if pass_name == "common::reduce_transposes":
                    _count_output_sinks(prog)
                if stats is not None:
                    stats.skipped.append(pass_name)
                continue
            if debug:
                logger.debug(f'Performing pass: "{pass_name}"')
            # what _apply_transform may rely on: re-inferring types changes nothing
            _local.static = (
                pass_name == "common::reduce_transposes"
                and options is None
                and prog not in _tainted
                and _all_static(prog)
            )
            try:
                graph_pass(prog)
            except Exception:
                logger.error(f"\n\nERROR - '{pass_name}' graph pass produces the following error:\n")
                raise
            finally:
                _local.static = False
            present = _census(prog)
            if pass_name == _DEDUPLICATION:
                _deduplicated[prog] = _constants(prog)
            if stats is not None:
                stats.ran.append(pass_name)
    finally:
        _local.plain = outer_plain
    # coremltools checks for missing essential scopes after each dead_code_elimination
    prog.validate(check_essential_scope="common::dead_code_elimination" in pass_pipeline.passes)
    if debug:
        logger.debug(f"Program after {pass_pipeline} pipeline:\n{prog}")


def _census(prog: Any) -> frozenset[str]:
    """``op_types(prog)``; marks ``prog`` for good when it holds what makes vars non-replaceable."""
    present = op_types(prog)
    if "dequantize" in present or any(kind.startswith("constexpr_") for kind in present):
        _tainted.add(prog)
    _local.plain = prog not in _tainted
    return present


def _idle(pass_name: str, prog: Any, present: frozenset[str]) -> bool:
    """Whether running ``pass_name`` now would leave ``prog`` as it is."""
    # constexpr ops make some vars non-replaceable, a property each pass's block refreshes on exit
    if prog in _tainted:
        return False
    if pass_name == _DEDUPLICATION:
        # its last run left no two constants alike (but those it may not touch, block outputs);
        # with no constant it compares made since, it would find none
        seen, now = _deduplicated.get(prog), _constants(prog)
        if seen is None or now is None:
            return False
        from coremltools.converters.mil.mil import ListVar
        from coremltools.converters.mil.mil.passes.pass_registry import PASS_REGISTRY

        compares = PASS_REGISTRY[pass_name].should_be_deduplicated
        return not any(
            not isinstance(op.outputs[0], ListVar) and compares(op.outputs[0].val) for op in now - seen
        )
    groups = PRECONDITIONS.get(pass_name)
    if groups is None or not any(present.isdisjoint(group) for group in groups):
        return False
    return pass_name not in _REINFERS_TYPES or _all_static(prog)


def _constants(prog: Any) -> frozenset[Any] | None:
    """The const ops of ``prog``; None if one of them is a block's output (const_deduplication
    leaves such a duplicate, so whether it is one can change with the outputs)."""
    found: set[Any] = set()

    def walk(block: Any) -> bool:
        outputs = set(map(id, block.outputs))
        for op in block.operations:
            if op.op_type == "const":
                if id(op.outputs[0]) in outputs:
                    return False
                found.add(op)
            if not all(walk(inner) for inner in op.blocks):
                return False
        return True

    return frozenset(found) if all(walk(f) for f in prog.functions.values()) else None


def op_types(prog: Any) -> frozenset[str]:
    """Every op type in ``prog``, nested blocks included."""
    found: set[str] = set()

    def walk(block: Any) -> None:
        for op in block.operations:
            found.add(op.op_type)
            for inner in op.blocks:
                walk(inner)

    for function in prog.functions.values():
        walk(function)
    return frozenset(found)


def _all_static(prog: Any) -> bool:
    """Whether every value in ``prog`` has a known shape (no symbolic dimension or scalar, no list)."""
    from coremltools.converters.mil.mil import types
    from coremltools.converters.mil.mil.types.symbolic import is_symbolic

    def static(var: Any) -> bool:
        kind = var.sym_type
        if types.is_state(kind):
            kind = kind.wrapped_type()
        if types.is_tensor(kind):
            return all(isinstance(d, int | np.integer) for d in kind.get_shape())
        return types.is_scalar(kind) and not is_symbolic(var.sym_val)

    def walk(block: Any) -> bool:
        for op in block.operations:
            if not all(static(var) for var in op.outputs):
                return False
            if not all(walk(inner) for inner in op.blocks):
                return False
        return True

    return all(
        all(static(var) for var in function.inputs.values()) and walk(function)
        for function in prog.functions.values()
    )


def _count_output_sinks(prog: Any) -> None:
    """The names ``reduce_transposes`` takes even when it finds no transpose: it adds (then removes)
    one auto-named identity op per distinct output of each function without nested blocks."""
    from coremltools.converters.mil.mil import Builder

    for function in prog.functions.values():
        if any(op.blocks for op in function.operations):
            continue
        sinks = len(dict.fromkeys(function.outputs))
        if sinks:
            Builder.name_count["identity"] += sinks


__all__ = ["COREMLTOOLS_VERSION", "PRECONDITIONS", "Stats", "applied", "apply_pipeline", "op_types"]
