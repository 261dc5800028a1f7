"""``semcod bench reorg``: the two reorganizers side by side — bipartite soft matching (ToMe)
and k-means consolidation — at the same token budget.

For each: ONNX Runtime images/s, and two quality measures on real images (``--data``):

* ``group_psnr``: replace every patch by the mean of the patches merged with it (from the
  source map) and compare with the image — how well the groups follow the content;
* ``feature_cos``: cosine similarity of the class token with and without merging — how much
  the merge perturbs the network (ToMe's concern).
"""
from __future__ import annotations

import os
import tempfile


def add_arguments(p):
    p.add_argument("--model", default="vit_base_patch16_224")
    p.add_argument("--checkpoint", help="local weights (.safetensors/.pth/.npz); random init if omitted")
    p.add_argument("--target-tokens", type=int, default=30)
    p.add_argument("--data", help="images (.npz or folder); default: crops64_val.npz in $SEMCOD_DATA or ../shared/data")
    p.add_argument("--limit", type=int, default=64)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--seconds", type=float, default=6.0)


def group_mean_images(images, source, patch: int):
    """images (B,3,H,W); source (B,N,1+P) 0/1 incl. the class token -> patch-group-mean images."""
    import torch

    b, c, h, w = images.shape
    gh, gw = h // patch, w // patch
    patches = images.reshape(b, c, gh, patch, gw, patch).permute(0, 2, 4, 1, 3, 5).reshape(b, gh * gw, -1)
    src = source[:, :, 1:]  # drop the class token column
    means = (src @ patches) / src.sum(-1, keepdim=True).clamp_min(1)  # (B, N, c*p*p)
    owner = src.argmax(dim=1)  # (B, P): the token covering each patch
    rebuilt = means.gather(1, owner[..., None].expand(-1, -1, patches.shape[-1]))
    return rebuilt.reshape(b, gh, gw, c, patch, patch).permute(0, 3, 1, 4, 2, 5).reshape(b, c, h, w)


def run(args) -> int:
    import numpy as np
    import torch

    from gr_semcod.evaluation.cli import default_data
    from gr_semcod.export import export_onnx
    from gr_semcod.runtime.datasets import load_images
    from gr_semcod.runtime.metrics import psnr_per_image
    from gr_semcod.semantic import SemanticEncoder, create_vit

    from .common import ort_images_per_s

    torch.manual_seed(0)
    vit = create_vit(args.model, checkpoint=args.checkpoint).eval()
    size = vit.patch_embed.img_size
    patch = vit.patch_embed.patch_size[0]
    data = args.data or default_data(64)
    imgs = load_images(data, size=size, limit=args.limit).images
    x = torch.from_numpy(imgs.astype(np.float32) / 255.0).permute(0, 3, 1, 2).contiguous()
    xn = (x - 0.5) / 0.5  # timm's ViT normalisation

    with torch.no_grad():
        ref_cls = SemanticEncoder(vit)(xn)[0][:, 0]
    workdir = tempfile.mkdtemp(prefix="semcod-reorg-")
    base_path = export_onnx(SemanticEncoder(vit), [xn[:1]], os.path.join(workdir, "r0.onnx"), ["images"], ["tokens", "sizes"])
    batch = xn[: args.batch].numpy()
    base = ort_images_per_s(base_path, batch, args.threads, args.seconds)
    print(f"model {args.model} ({'random init' if not args.checkpoint else args.checkpoint}), {len(imgs)} images from {data}")
    print(f"unmerged: {base:.2f} img/s")
    print(f"{'reorganizer':12s} {'tokens':>6s} {'img/s':>8s} {'speedup':>8s} {'group_psnr':>10s} {'feature_cos':>11s}")
    results = {}
    for reorg in ("bipartite", "kmeans"):
        enc = SemanticEncoder(vit, reorganizer=reorg).eval()
        enc.set_schedule(target=args.target_tokens)
        with torch.no_grad():
            tokens, sizes, source = enc.forward_with_source(xn)
        rebuilt = group_mean_images(x, source, patch)
        gpsnr = float(psnr_per_image(imgs, rebuilt.permute(0, 2, 3, 1).clamp(0, 1).numpy()).mean())
        cos = float(torch.nn.functional.cosine_similarity(tokens[:, 0], ref_cls, dim=-1).mean())
        path = export_onnx(enc, [xn[:1]], os.path.join(workdir, f"{reorg}.onnx"), ["images"], ["tokens", "sizes"])
        ips = ort_images_per_s(path, batch, args.threads, args.seconds)
        results[reorg] = (ips, gpsnr, cos)
        print(f"{reorg:12s} {enc.num_tokens:6d} {ips:8.2f} {ips / base:8.3f} {gpsnr:10.2f} {cos:11.4f}")
    b, k = results["bipartite"], results["kmeans"]
    print(f"kmeans_vs_bipartite_speed={k[0] / b[0]:.3f} group_psnr_delta_db={k[1] - b[1]:.2f}")
    return 0
