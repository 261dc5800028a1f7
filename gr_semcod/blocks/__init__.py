"""GNU Radio blocks of gr-semcod (numpy + onnxruntime + GNU Radio; never torch).

One block per module, named as in GRC (``semcod_<name>``):

=====================  =====================================================================
``onnx_model``         generic: any bundle role on PDUs (PDU in -> PDU out)
``semantic_encoder``   image PDU -> tokens PDU (``tokenizer``)
``jscc_encoder``       tokens PDU -> c32 symbols PDU (``jscc_encoder@<cbr>``)
``jscc_decoder``       c32 symbols PDU (+ PHY snr_db / noise_var / erasures) -> tokens PDU
``detokenizer``        tokens PDU -> image PDU
``classifier``         tokens PDU -> logits PDU with ``label_pred``
``image_classifier``   image PDU -> logits PDU with ``label_pred`` (Deep JSCC's machine receiver)
``deepjscc_encoder``   image PDU -> c32 symbols PDU (Deep JSCC baseline)
``deepjscc_decoder``   c32 symbols PDU -> image PDU (Deep JSCC baseline)
``semantic2_encoder``  photo PDU (any size) -> one c32 symbols PDU (semantic codec v2, side info inside)
``semantic2_decoder``  c32 symbols PDU of a photo -> photo image PDU (side info decoded first)
``digital_encoder``    image / photo PDU -> QAM c32 symbols PDU (codec + CRC-32 + 802.16e LDPC)
``digital_decoder``    c32 symbols PDU (+ PHY mode / symbol_noise_var) -> image PDU, drop on CRC failure
``image_source``       images from a file / folder / glob / .npz as image PDUs
``image_sink``         PNGs, PSNR/SSIM against the source by id, metrics messages, CSV
``photo_tiler``        photo PDU of any size -> batch PDU of tiles of the bundle's size
``photo_stitcher``     decoded tiles PDU -> the photo (cropped; lost tiles: mean colour, counted)
``semcod_tx``          hier: photo PDU -> symbols PDU (tiler + encoders)
``semcod_rx``          hier: symbols PDU -> photo PDU + label PDU (decoders + stitcher)
``burst_guard``        hier: zeros before/after every burst of the OFDM TX (tagged stream mux)
``image_display``      Qt widget showing the received image and its PSNR/SSIM
``zmq_sample_sink``    hier: samples -> ZMQ PUSH (fc32 or sc16 on the wire)
``zmq_sample_source``  hier: ZMQ PULL -> samples
``zmq_msg_sink``       messages -> ZMQ PUSH (the receiver's link reports to the transmitter's process,
                       where ``digital_encoder`` binds ``report_address`` and pulls them)
``zmq_model_client``   a bundle role run by ``semcod serve`` in another process (ZMQ REQ)
=====================  =====================================================================

Every model block also takes a ``semcod serve`` address (``tcp://host:port``) as its bundle.

PDU formats, metadata keys and drop reports: ``docs/pdu.md`` and :mod:`gr_semcod.contract`;
the message-block base (drop port, guarded handlers, deferred ``done``, bundle cache):
:mod:`gr_semcod.blocks.base`.
"""
from .onnx_model import onnx_model
from .semantic_encoder import semantic_encoder
from .jscc_encoder import jscc_encoder
from .jscc_decoder import jscc_decoder
from .detokenizer import detokenizer
from .classifier import classifier
from .image_classifier import image_classifier
from .deepjscc_encoder import deepjscc_encoder
from .deepjscc_decoder import deepjscc_decoder
from .semantic2_encoder import semantic2_encoder
from .semantic2_decoder import semantic2_decoder
from .digital_encoder import digital_encoder
from .digital_decoder import digital_decoder
from .image_source import image_source
from .image_sink import image_sink
from .photo_tiler import photo_tiler
from .photo_stitcher import photo_stitcher
from .semcod_tx import semcod_tx
from .semcod_rx import semcod_rx
from .burst_guard import burst_guard
from .zmq_sample_sink import zmq_sample_sink
from .zmq_sample_source import zmq_sample_source
from .zmq_msg_sink import zmq_msg_sink
from .zmq_model_client import zmq_model_client

__all__ = ["onnx_model", "semantic_encoder", "jscc_encoder", "jscc_decoder", "detokenizer", "classifier", "image_classifier",
           "deepjscc_encoder", "deepjscc_decoder", "semantic2_encoder", "semantic2_decoder", "digital_encoder",
           "digital_decoder", "image_source", "image_sink", "photo_tiler", "photo_stitcher", "semcod_tx", "semcod_rx",
           "burst_guard", "zmq_sample_sink", "zmq_sample_source", "zmq_msg_sink", "zmq_model_client"]
