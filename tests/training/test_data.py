"""Datasets (npz, Fashion-MNIST idx.gz, CIFAR-10 binary, photo folders) and losses."""
import gzip
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from gr_semcod.training.data import ArrayDataset, PhotoCropDataset, make_dataset
from gr_semcod.training.losses import ReconstructionLoss, psnr_per_image, ssim


def test_npz_dataset_and_flip(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)
    np.savez(tmp_path / "a.npz", images=x, labels=np.arange(10))
    ds = make_dataset(tmp_path / "a.npz", 32, train=False)
    img, lab = ds[3]
    assert img.shape == (3, 32, 32) and img.dtype == torch.float32 and int(lab) == 3
    torch.testing.assert_close(img, torch.from_numpy(x[3]).permute(2, 0, 1).float() / 255)
    tr = make_dataset(tmp_path / "a.npz", 32, train=True)
    assert tr.flip and not ds.flip
    torch.manual_seed(0)
    xb, yb = tr.get_batch(torch.arange(10))
    ref = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255
    flipped = [bool(torch.equal(xb[i], ref[i].flip(-1))) for i in range(10)]
    same = [bool(torch.equal(xb[i], ref[i])) for i in range(10)]
    assert all(f or s for f, s in zip(flipped, same)) and any(flipped) and any(same)
    assert yb.tolist() == list(range(10))
    for spec in (tmp_path / "a.npz", f"{tmp_path / 'a.npz'}:train[2:8]"):  # flip=False: training data as stored
        fixed = make_dataset(spec, 32, train=True, flip=False)
        xb, _ = fixed.get_batch(torch.arange(len(fixed)))
        assert not fixed.flip and torch.equal(xb, ref[2:8] if ":" in str(spec) else ref)


def _write_idx(path, arr):
    header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_fashion_mnist_idx_padded_to_rgb32(tmp_path):
    imgs = np.random.default_rng(1).integers(1, 256, (7, 28, 28), dtype=np.uint8)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", imgs)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(7) % 10)
    ds = make_dataset(f"{tmp_path}:train", 32, train=False)
    assert len(ds) == 7
    x, y = ds[2]
    assert x.shape == (3, 32, 32) and int(y) == 2
    assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])  # grey -> RGB
    assert float(x[:, :2].abs().sum()) == 0.0  # 2-pixel zero border
    torch.testing.assert_close(x[0, 2:30, 2:30], torch.from_numpy(imgs[2]).float() / 255)


def test_cifar10_binary_batches(tmp_path):
    rng = np.random.default_rng(2)
    rec = np.concatenate([np.array([[3], [7]], np.uint8), rng.integers(0, 256, (2, 3072), dtype=np.uint8)], 1)
    rec.tofile(tmp_path / "data_batch_1.bin")
    ds = make_dataset(tmp_path, 32, train=True)
    assert len(ds) == 2 and ds.labels.tolist() == [3, 7]
    x, _ = ArrayDataset(ds.images.permute(0, 2, 3, 1).numpy())[1]
    # CIFAR stores R, G, B planes
    torch.testing.assert_close(x[1], torch.from_numpy(rec[1, 1 + 1024:1 + 2048].reshape(32, 32)).float() / 255)


def test_photo_folder_random_crops(tmp_path):
    for i in range(3):
        a = np.random.default_rng(i).integers(0, 256, (90 + 10 * i, 140, 3), dtype=np.uint8)
        Image.fromarray(a).save(tmp_path / f"p{i}.png")
    ds = make_dataset(tmp_path, 32, train=True, limit=50)
    assert isinstance(ds, PhotoCropDataset) and len(ds) == 50
    torch.manual_seed(0)
    xs = torch.stack([ds[i][0] for i in range(8)])
    assert xs.shape == (8, 3, 32, 32) and 0 <= float(xs.min()) and float(xs.max()) <= 1
    assert float((xs[0] - xs[1]).abs().max()) > 0  # different crops
    val = make_dataset(tmp_path, 32, train=False)  # centre crops, resized
    assert isinstance(val, ArrayDataset) and len(val) == 3 and val.image_size == (32, 32)


def test_ssim_and_losses():
    torch.manual_seed(0)
    x = torch.rand(4, 3, 32, 32)
    torch.testing.assert_close(ssim(x, x), torch.ones(4))
    noisy = (x + 0.1 * torch.randn_like(x)).clamp(0, 1)
    s = ssim(noisy, x)
    assert torch.all(s < 0.95) and torch.all(s > 0)
    p = psnr_per_image(noisy, x)
    assert torch.all((p > 19) & (p < 22))  # sigma 0.1 (clipped) -> about 20.5 dB
    crit = ReconstructionLoss(mse=1.0, ssim=0.5, ce=0.1)
    logits = torch.randn(4, 10)
    labels = torch.tensor([1, -1, 3, 4])
    total, parts = crit({"recon": noisy, "logits": logits}, x, labels)
    ce = torch.nn.functional.cross_entropy(logits[[0, 2, 3]], labels[[0, 2, 3]])
    expect = parts["mse"] + 0.5 * (1 - float(s.mean())) + 0.1 * float(ce)
    assert float(total) == pytest.approx(expect, rel=1e-5)
