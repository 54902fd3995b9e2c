"""Core ML state (iOS 18): the ``MLState`` an app passes to each prediction, and the state ops.

From Apple's documentation:

- ``MLModel.makeState()`` / ``newState``: "Core ML framework will allocate the state buffers declared
  in the model. The allocated state buffers are initialized to zeros. To initialize with different
  values, use ``.withMultiArray(for:)``" (developer.apple.com/documentation/coreml/mlmodel/makestate()).
- ``MLState``: "A stateful model maintains a state from one prediction to another by storing the
  information in the state buffers" (developer.apple.com/documentation/coreml/mlstate).
- The model description lists each state (``Model.proto`` ``ModelDescription.state``) as a
  ``StateFeatureType`` wrapping an ``ArrayFeatureType``: its shape and element type.
- MIL ``read_state(input: state<ST>) -> ST``: "Read a state, copy its content into a new variable,
  and return the variable" (MIL op reference, iOS18 ``states``).
- MIL ``coreml_update_state(state, value) -> ST``: "Copy the content of a variable into a state and
  return the copy of the variable"; a saved program holds it as ``write_state(input, data)`` (no
  output) followed, when the copy is used, by a ``read_state`` (coremltools' ML Program writer).

So a ``State`` here is a dict state name -> array, zeros of the declared shape and dtype when made by
``new_state``; the program reads and writes it in place, and it carries over to the next call.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import numpy as np

from bridgec.backends.coreml.executor.errors import InputError
from bridgec.backends.coreml.executor.mlprogram._op import Op

# FeatureTypes.proto ArrayDataType of a state's wrapped array -> numpy
_STATE_DTYPES = {65552: np.float16, 65568: np.float32, 131104: np.int32}

State = MutableMapping[str, np.ndarray]


def declared_states(spec: Any) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """State name -> (shape, dtype) as the model description declares them."""
    found = {}
    for feature in spec.description.state:
        array = feature.type.stateType.arrayType
        found[feature.name] = (tuple(int(d) for d in array.shape), np.dtype(_STATE_DTYPES[array.dataType]))
    return found


def new_state(spec: Any) -> dict[str, np.ndarray]:
    """A fresh state for the model, as ``MLModel.makeState()`` makes it: every buffer zeros."""
    return {name: np.zeros(shape, dtype) for name, (shape, dtype) in declared_states(spec).items()}


class StateCell:
    """One state buffer as the program sees it: a handle on the caller's ``State`` entry."""

    def __init__(self, store: State, name: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.store, self.name, self.shape, self.dtype = store, name, shape, dtype

    def read(self) -> np.ndarray:
        return np.array(self.store[self.name], dtype=self.dtype)

    def write(self, value: np.ndarray) -> None:
        value = np.asarray(value)
        if value.shape != self.shape:
            raise ValueError(f"writes shape {value.shape} to state {self.name!r} of shape {self.shape}")
        self.store[self.name] = value.astype(self.dtype)


def bind(spec: Any, state: State | None) -> dict[str, StateCell]:
    """The program's state inputs bound to ``state``, which must hold every declared state at its
    shape (an app cannot predict a stateful model without one: ``prediction(from:using:)``)."""
    declared = declared_states(spec)
    if not declared:
        return {}
    if state is None:
        raise InputError(
            f"the model has state {', '.join(declared)}: run it with one (state=new_state(model)), as an app "
            "passes an MLState to each prediction"
        )
    cells = {}
    for name, (shape, dtype) in declared.items():
        if name not in state:
            raise InputError(f"the state given lacks {name!r} (the model's states: {', '.join(declared)})")
        if np.shape(state[name]) != shape:
            raise InputError(f"state {name!r} has shape {np.shape(state[name])}, the model declares {shape}")
        cells[name] = StateCell(state, name, shape, dtype)
    return cells


def _read_state(op: Op) -> np.ndarray:
    return op["input"].read()


def _write_state(op: Op) -> tuple:
    op["input"].write(op["data"])
    return ()


def _coreml_update_state(op: Op) -> np.ndarray:
    op["state"].write(op["value"])
    return np.array(op["value"])


OPS = {"read_state": _read_state, "write_state": _write_state, "coreml_update_state": _coreml_update_state}

__all__ = ["OPS", "State", "StateCell", "bind", "declared_states", "new_state"]
