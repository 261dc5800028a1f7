"""Radio-side runtime: model bundles on ONNX Runtime, numpy channels, metrics, image I/O.

numpy, scipy, Pillow and onnxruntime only -- this package never imports torch (a test checks
it), so GNU Radio blocks can use it on a machine without the training stack.

* :mod:`.bundle`    :class:`Bundle` (``manifest.json`` + ONNX files, sha256-verified)
* :mod:`.channels`  AWGN, block Rayleigh fading + ZF/MMSE, power normalisation, I/Q helpers
* :mod:`.metrics`   PSNR, SSIM, MS-SSIM, accuracy
* :mod:`.images`    image files: decode, resize / pad, PNG, grids
* :mod:`.datasets`  :func:`load_images` (npz, folders/globs, CIFAR-10 binary, Fashion-MNIST)
"""
from .bundle import (
    FORMAT,
    MANIFEST,
    VERSION,
    Bundle,
    BundleError,
    check_inputs,
    denormalize_images,
    io_specs_from_onnx,
    load_bundle,
    normalize_images,
    role_key,
    select_providers,
    sha256_file,
    validate_manifest,
    write_manifest,
)
from .channels import (
    average_power,
    awgn,
    complex_noise,
    complex_to_iq,
    equalize,
    fade,
    iq_to_complex,
    measured_snr_db,
    noise_variance,
    num_symbols,
    parse_cbr,
    power_normalize,
    rayleigh,
    rayleigh_gains,
    snr_db_from_noise_variance,
)
from .datasets import (
    CIFAR10_CLASSES,
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIR,
    detect_format,
    load_cifar10,
    load_idx_images,
    load_images,
    load_npz,
    load_prepared,
    read_idx,
)
from .images import (
    ImageLoadError,
    ImageSet,
    fit_image,
    image_grid,
    load_image_files,
    pad_or_resize,
    read_image,
    resize_images,
    save_png,
    to_uint8,
)
from .tiles import fill_lost, grid_of, pad_photo, stitch, stitch_u8, tile_photo, tile_photo_u8
from .metrics import (
    MS_SSIM_WEIGHTS,
    MetricError,
    accuracy,
    ms_ssim,
    ms_ssim_fits,
    ms_ssim_min_size,
    ms_ssim_per_image,
    mse_per_image,
    psnr,
    psnr_per_image,
    ssim,
    ssim_per_image,
)

__all__ = [name for name in dir() if not name.startswith("_")]
