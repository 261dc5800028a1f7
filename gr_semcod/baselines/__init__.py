"""Digital baselines (numpy + Pillow + scikit-commpy; no torch).

* :mod:`.separation`  the separation bound: JPEG/WebP at the capacity budget ``k log2(1 + SNR)``
* :mod:`.digital`     an actual chain: JPEG/WebP + LDPC + QAM over AWGN, mean image on failure
"""
