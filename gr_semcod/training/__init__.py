"""Training side: config registry, datasets, losses and the generic loop.

* :mod:`.registry`  :class:`TrainConfig`, :func:`register`, :func:`get_config` (configs in ``configs/``)
* :mod:`.data`      npz / CIFAR-10 / Fashion-MNIST arrays, on-the-fly photo crops
* :mod:`.losses`    MSE, SSIM, :class:`ReconstructionLoss`
* :mod:`.loop`      :func:`train`, :func:`evaluate`, checkpoints
* :mod:`.cli`       ``semcod train``
"""
from .registry import TrainConfig, get_config, list_configs, register

__all__ = ["TrainConfig", "get_config", "list_configs", "register"]
