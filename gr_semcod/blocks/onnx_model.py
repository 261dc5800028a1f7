#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``onnx_model``: run one role of a model bundle on every PDU (PDU in -> PDU out).

Generic rules (the named blocks -- ``semantic_encoder``, ``jscc_encoder``, ... -- are this
block with fixed roles, types and metadata handling):

* The PDU vector is the model's **first input**.  ``in_type`` says how to read it:

  - ``"f32"``: float32, reshaped to ``(B, *dims)`` of the first input;
  - ``"c32"``: complex64 symbols, ``(B*k,)`` -> I/Q ``(B, k, 2)``;
  - ``"u8"``:  an image PDU (``B*H*W*C`` bytes, HWC) -> float32 NCHW normalised with the
    bundle's ``image.mean``/``image.std``.

  ``B`` (the batch) is ``len / item size``; a length that is not a positive multiple of the
  item size, or that disagrees with a ``batch`` metadata entry, drops the PDU.
* Every **other input** comes from the metadata entry of the same name (``input_keys`` maps
  an input to another key), broadcast to ``(B, *dims)``: a scalar ``snr_db`` feeds a whole
  batch, a vector gives one value per image.
* The **first output** becomes the output vector (``out_type`` ``f32``, ``c32`` from I/Q, or
  ``u8`` image via the bundle's de-normalisation); other outputs are added to the metadata
  under their names (float32 vectors).
* Metadata not owned by the block (``image_id``, ``label``, ``tx_time`` ...) is passed through.
* Dynamic batching: when PDUs queue up behind the one being handled (a burst of images, a slow
  model), up to ``max_batch`` items go through ONNX Runtime in one call; each still gets its
  own output PDU, in order, and a bad PDU is dropped alone.
* A PDU of many items (the tiles of a photo) goes through ONNX Runtime in calls of at most
  ``max_run_batch`` items (bounded activation memory), its output joined into one PDU.

Message ports: ``in`` -> ``out``; ``drop`` publishes a dict for every dropped PDU (see
``docs/pdu.md``).  A handler never raises into the scheduler: wrong PDUs and
inference errors are logged, counted (:meth:`n_dropped`) and dropped.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np
import pmt

from ..contract import (MAX_RX_SYMBOL_ABS, PORT_IN, PORT_OUT, KEY_BATCH, PDUError, check_batch, check_image,
                        check_n_symbols, check_symbols, image_ids, meta_float)
from ..pdu import make_pdu, split_pdu
from ..rates import cbr_text, role_key
from ..runtime.limits import MAX_PDU_BATCH, MAX_RUN_BATCH
from .base import get_bundle, message_block

#: PDU vector types: name -> numpy dtype
VECTOR_TYPES = {"u8": np.uint8, "f32": np.float32, "c32": np.complex64}


class onnx_model(message_block):
    """Run bundle role ``role`` on each PDU.

    Args:
        bundle: path of a bundle directory (``manifest.json`` + ONNX files), or a ``semcod
            serve`` address.
        role: manifest role, e.g. ``"tokenizer"`` or ``"jscc_encoder@1/12"``.
        in_type, out_type: ``"u8"``, ``"f32"`` or ``"c32"`` (see the module docstring).
        threads: ONNX Runtime intra-op threads per model (0 = all cores).
        input_keys: optional ``{model input: metadata key}`` for the non-vector inputs.
        max_batch: dynamic batching -- PDUs already queued are run together, up to this many
            items per ONNX Runtime call (1 = one call per PDU).  Outputs stay one PDU per input.
        cbr: for a per-rate role, the rate: the role becomes ``role@cbr``.
        max_pdu_batch: items (images) one PDU may hold (0 = :data:`~gr_semcod.runtime.limits.MAX_PDU_BATCH`);
            a bigger PDU is refused before its vector is converted (so its size -- ``max_pdu_batch``
            images or symbol blocks -- bounds memory).
        max_run_batch: items per ONNX Runtime call (0 = :data:`~gr_semcod.runtime.limits.MAX_RUN_BATCH`);
            a PDU holding more is run in chunks.

    A named model block only declares its class attributes -- ``ROLE``, ``IN_TYPE``,
    ``OUT_TYPE``, ``NAME`` (and ``INPUT_KEYS``) -- and, where it owns metadata, :meth:`prepare`
    / :meth:`finish`.
    """

    ROLE = "tokenizer"
    IN_TYPE = "f32"
    OUT_TYPE = "f32"
    NAME = "semcod_onnx_model"
    INPUT_KEYS: Dict[str, str] = {}

    def __init__(self, bundle: str = "models/semcod_32", role: Optional[str] = None, in_type: Optional[str] = None,
                 out_type: Optional[str] = None, threads: int = 1, input_keys: Optional[Dict[str, str]] = None,
                 name: Optional[str] = None, max_batch: int = 16, cbr=None, max_pdu_batch: int = 0,
                 max_run_batch: int = 0):
        role = self.ROLE if role is None else str(role)
        in_type = self.IN_TYPE if in_type is None else in_type
        out_type = self.OUT_TYPE if out_type is None else out_type
        name = self.NAME if name is None else name
        message_block.__init__(self, name, {PORT_IN: self.handle}, [PORT_OUT])
        if in_type not in VECTOR_TYPES or out_type not in VECTOR_TYPES:
            raise ValueError(f"in_type/out_type must be one of {list(VECTOR_TYPES)}, got {in_type!r}/{out_type!r}")
        self.cbr = None if cbr is None else cbr_text(cbr)
        self.bundle_path = str(bundle)
        self.role = role_key(role, self.cbr)
        self.in_type, self.out_type = in_type, out_type
        self.bundle = get_bundle(bundle, threads)
        self.bundle.model(self.role)  # unknown role -> BundleError at construction, not per PDU
        self.bundle.session(self.role)  # load now: the first PDU should not pay for it
        self.in_specs = self.bundle.input_specs(self.role)
        self.out_specs = self.bundle.output_specs(self.role)
        if not self.in_specs or not self.out_specs:
            raise ValueError(f"{self.role}: the manifest must declare inputs and outputs")
        self.input_keys = dict(self.INPUT_KEYS if input_keys is None else input_keys)
        self.max_batch = max(1, int(max_batch))
        self.max_pdu_batch = int(max_pdu_batch) if int(max_pdu_batch) > 0 else MAX_PDU_BATCH
        self.max_run_batch = int(max_run_batch) if int(max_run_batch) > 0 else MAX_RUN_BATCH
        names = list(self.in_specs)
        self.vector_input = names[0]
        self.meta_inputs = names[1:]
        self.output_names = list(self.out_specs)
        self.item_dims = tuple(self._fixed_dims(self.in_specs[self.vector_input]["shape"], self.vector_input))
        self._check_types()

    # ------------------------------------------------------------------ shapes
    def _fixed_dims(self, shape, name):
        dims = list(shape[1:])
        if not all(isinstance(d, int) for d in dims):
            raise ValueError(f"{self.role}: input {name!r} must have fixed dims after the batch, got {shape}")
        return dims

    def _check_types(self) -> None:
        d = self.item_dims
        if self.in_type == "c32" and (len(d) != 2 or d[1] != 2):
            raise ValueError(f"{self.role}: in_type c32 needs a (batch, k, 2) input, got {d}")
        if self.in_type == "u8" and len(d) != 3:
            raise ValueError(f"{self.role}: in_type u8 needs an image input (batch, C, H, W), got {d}")
        od = list(self.out_specs[self.output_names[0]]["shape"][1:])
        if self.out_type == "c32" and (len(od) != 2 or od[1] != 2):
            raise ValueError(f"{self.role}: out_type c32 needs a (batch, k, 2) output, got {od}")
        if self.out_type == "u8" and len(od) != 3:
            raise ValueError(f"{self.role}: out_type u8 needs an image output (batch, C, H, W), got {od}")

    @property
    def item_size(self) -> int:
        """Vector elements per batch item (pixels*channels for u8, k for c32, prod(dims) for f32)."""
        n = int(np.prod(self.item_dims))
        return n // 2 if self.in_type == "c32" else n

    # ------------------------------------------------------------------ hooks
    def batch_of(self, meta: Dict[str, Any], vec: np.ndarray) -> int:
        """Images in the PDU; the vector must match the metadata (image size, symbol count, ids)."""
        if self.in_type == "u8":
            c, h, w = self.item_dims
            b = check_image(meta, vec.size, (h, w, c), self.role)
        else:
            b = check_batch(meta, vec.size, self.item_size, self.role,
                            f" (input {self.vector_input!r} {['batch', *self.item_dims]})")
        if self.in_type == "c32":
            check_symbols(vec, f"{self.role}: received symbols", MAX_RX_SYMBOL_ABS)
            check_n_symbols(meta, vec.size, b)
        image_ids(meta, b)  # an id that is not an int (or one int per image) is refused here
        return b

    def vector_to_input(self, meta: Dict[str, Any], vec: np.ndarray, b: int) -> np.ndarray:
        if self.in_type == "u8":
            c, h, w = self.item_dims
            return self.bundle.normalize(vec.reshape(b, h, w, c))
        if self.in_type == "c32":
            x = np.empty((b, vec.size // b, 2), np.float32)
            z = vec.reshape(b, -1)
            x[..., 0], x[..., 1] = z.real, z.imag
            return x
        return np.ascontiguousarray(vec.reshape(b, *self.item_dims), np.float32)

    def meta_input(self, name: str, meta: Dict[str, Any], b: int) -> np.ndarray:
        key = self.input_keys.get(name, name)
        dims = self._fixed_dims(self.in_specs[name]["shape"], name)
        v = meta_float(meta, key)
        if v is None:
            raise PDUError(f"{self.role}: metadata {key!r} (model input {name!r}) is missing")
        per = int(np.prod(dims)) if dims else 1
        if v.size == per:
            a = np.broadcast_to(v.reshape(dims), (b, *dims))
        elif v.size == b * per:
            a = v.reshape(b, *dims)
        else:
            raise PDUError(f"{self.role}: metadata {key!r} has {v.size} values, expected {per} or {b * per}")
        return np.ascontiguousarray(a, np.float32)

    def prepare(self, meta: Dict[str, Any], vec: np.ndarray, b: int) -> Dict[str, np.ndarray]:
        """Model inputs of one PDU."""
        inputs = {self.vector_input: self.vector_to_input(meta, vec, b)}
        for name in self.meta_inputs:
            inputs[name] = self.meta_input(name, meta, b)
        return inputs

    def output_vector(self, y: np.ndarray) -> np.ndarray:
        if self.out_type == "u8":
            return self.bundle.denormalize(y)  # (B, H, W, C) uint8
        if self.out_type == "c32":
            return (y[..., 0] + 1j * y[..., 1]).astype(np.complex64)
        return np.asarray(y, np.float32)

    def finish(self, meta: Dict[str, Any], outputs: Dict[str, np.ndarray], b: int) -> Tuple[Dict[str, Any], np.ndarray]:
        """(metadata, vector) of the output PDU."""
        first = self.output_names[0]
        for name in self.output_names[1:]:
            meta[name] = np.asarray(outputs[name], np.float32).ravel()
        return meta, self.output_vector(outputs[first])

    # ------------------------------------------------------------------ handler
    def run(self, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """The model on ``inputs`` (batch first), in ONNX Runtime calls of at most ``max_run_batch`` items."""
        n = len(next(iter(inputs.values())))
        if n <= self.max_run_batch:
            return self.bundle.run(self.role, **inputs)
        parts = [self.bundle.run(self.role, **{k: v[a:a + self.max_run_batch] for k, v in inputs.items()})
                 for a in range(0, n, self.max_run_batch)]
        return {k: np.concatenate([p[k] for p in parts], axis=0) for k in parts[0]}

    def _prepare_msg(self, msg):
        meta, vec = split_pdu(msg, VECTOR_TYPES[self.in_type], max_items=self.item_size * self.max_pdu_batch)
        b = self.batch_of(meta, vec)
        return meta, b, self.prepare(meta, vec, b)

    def _publish(self, meta, outputs, b) -> None:
        for name, y in outputs.items():
            if not np.all(np.isfinite(y)):
                raise PDUError(f"{self.role}: model output {name!r} is not finite")
        meta, out = self.finish(meta, outputs, b)
        if b > 1 or KEY_BATCH in meta:
            meta[KEY_BATCH] = b
        self.message_port_pub(pmt.intern(PORT_OUT), make_pdu(meta, out))
        self._n_out += 1

    def handle(self, msg) -> None:
        """One PDU, plus -- dynamic batching -- the PDUs already queued behind it (up to
        ``max_batch`` items, never waiting): one ONNX Runtime call for all, one output PDU each."""
        items = [(msg,) + self._prepare_msg(msg)]
        port = pmt.intern(PORT_IN)
        while self.max_batch > 1 and sum(it[2] for it in items) < self.max_batch:
            m = self.delete_head_nowait(port)
            if m is None:
                break
            self._n_in += 1
            try:
                items.append((m,) + self._prepare_msg(m))
            except Exception as e:  # noqa: BLE001 - a bad PDU in the queue is dropped alone
                self._drop_exception(e, m)
        if len(items) == 1:
            _, meta, b, inputs = items[0]
            self._publish(meta, self.run(inputs), b)
            return
        try:
            joined = {k: np.concatenate([it[3][k] for it in items], axis=0) for k in items[0][3]}
            outputs = self.run(joined)
        except Exception:  # noqa: BLE001 - fall back to one call per PDU, so one bad PDU drops alone
            outputs = None
        start = 0
        for m, meta, b, inputs in items:
            try:
                if outputs is None:
                    out = self.run(inputs)
                else:
                    out = {k: v[start:start + b] for k, v in outputs.items()}
                self._publish(meta, out, b)
            except Exception as e:  # noqa: BLE001
                self._drop_exception(e, m)
            start += b
