"""gr-semcod: semantic image communication for GNU Radio.

Data flow, one sub-package per stage::

    image --semantic--> tokens --jscc--> symbols --phy--> samples
    samples --phy--> symbols --jscc--> tokens --receivers--> image / label

* ``gr_semcod.semantic``  tokenization (timm ViT), reorganization (ToMe), quantization  [torch]
* ``gr_semcod.jscc``      joint source-channel encoder/decoder, channels, Deep JSCC     [torch]
* ``gr_semcod.receivers`` detokenizer (human receiver) and classifier (machine receiver) [torch]
* ``gr_semcod.training``  config registry, data, training loops                         [torch]
* ``gr_semcod.export``    ONNX export of every model into a bundle                      [torch]
* ``gr_semcod.contract``  the wire contract: PDU keys, ports, tags, metadata checks   [numpy]
* ``gr_semcod.rates``     CBR parsing, symbol counts, per-rate role keys (both sides) [python]
* ``gr_semcod.pdu``       PMT <-> Python for the contract's PDUs                  [GNU Radio]
* ``gr_semcod.runtime``   bundle loading, ONNX Runtime, numpy channels and metrics    [numpy]
* ``gr_semcod.phy``       OFDM for analog symbols, channel models                  [GNU Radio]
* ``gr_semcod.blocks``    GNU Radio blocks that run the bundle                     [GNU Radio]

The radio side (runtime, phy, blocks) never imports torch.
"""

__version__ = "0.1.0"
