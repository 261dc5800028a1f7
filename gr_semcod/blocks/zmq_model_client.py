#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``zmq_model_client``: a bundle role run by ``semcod serve`` in another process (PDU in -> PDU out).

Same PDU rules as :mod:`~gr_semcod.blocks.onnx_model` (it *is* that block with a
:class:`~gr_semcod.serve.RemoteBundle`): the flowgraph keeps the radio, a server -- possibly on
a GPU host -- runs the network.  Every named model block accepts an address as its ``bundle``
too (``semcod_tx(bundle="tcp://gpu:5557")``); this block is the explicit, generic form.

A server that does not answer within ``timeout`` seconds, or answers with an error, makes the
PDU a drop (logged, counted, ``drop`` port); the block reconnects for the next PDU.
``security`` / ``secret_key`` / ``peer_key`` (the server's public key): CurveZMQ, on by default
for a non-loopback address (see :mod:`gr_semcod.runtime.zmq_security`).
"""
from __future__ import annotations

from ..serve import DEFAULT_ADDRESS, RemoteBundle, is_remote
from . import base
from .onnx_model import onnx_model


class zmq_model_client(onnx_model):
    """Args: address (of ``semcod serve``), role, in_type, out_type, timeout (s), security,
    secret_key, peer_key."""

    NAME = "semcod_zmq_model_client"

    def __init__(self, address=DEFAULT_ADDRESS, role="tokenizer", in_type="f32", out_type="f32", timeout=10.0,
                 security="auto", secret_key="", peer_key=""):
        if not is_remote(str(address)):
            raise ValueError(f"address must be a ZMQ endpoint (tcp://, ipc://), got {address!r}")
        if secret_key or peer_key or security != "auto":  # a client of its own, with these keys
            key = (str(address), -1)
            with base._BUNDLES_LOCK:
                base._BUNDLES[key] = RemoteBundle(str(address), timeout=float(timeout), security=security,
                                                  secret_key=secret_key, peer_key=peer_key)
        else:
            base.get_bundle(str(address), timeout=float(timeout))  # a client with this timeout, cached
        onnx_model.__init__(self, str(address), role, in_type, out_type, 0)
