"""``semcod bench tome``: ONNX Runtime (CPU) speed-up of ToMe token merging in a ViT.

Exports the encoder twice — unmerged and with the requested schedule (random init; speed does
not depend on the weights) — times both in ONNX Runtime and compares the measured ratio with
the FLOP-count bound of :func:`gr_semcod.semantic.flop_ratio`. Last line: ``speedup=<ratio>``.
"""
from __future__ import annotations

import os
import tempfile


def add_arguments(p):
    p.add_argument("--model", default="vit_base_patch16_224", help="ViT config name (gr_semcod.semantic.VIT_CONFIGS or timm)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--r", type=int, help="tokens merged per layer")
    g.add_argument("--target-tokens", type=int, help="merge down to this many tokens at the output")
    p.add_argument("--reorganizer", default="bipartite", choices=["bipartite", "kmeans"])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--threads", type=int, default=0, help="ORT intra-op threads (0 = all cores)")
    p.add_argument("--seconds", type=float, default=6.0, help="timing window per model")
    p.add_argument("--workdir", default=None, help="where to write the ONNX files (default: a temp dir)")


class _TimmFeatures:
    """``vit.forward_features`` as a module (built lazily so that importing needs no torch)."""

    def __new__(cls, vit):
        import torch

        class Features(torch.nn.Module):
            def __init__(self, vit):
                super().__init__()
                self.vit = vit

            def forward(self, images):
                return self.vit.forward_features(images)

        return Features(vit)


def run(args) -> int:
    import numpy as np
    import torch

    from gr_semcod.export import export_onnx
    from gr_semcod.semantic import SemanticEncoder, create_vit, flop_ratio

    from .common import ort_images_per_s

    torch.manual_seed(0)
    vit = create_vit(args.model)
    enc = SemanticEncoder(vit, reorganizer=args.reorganizer).eval()
    img = vit.patch_embed.img_size
    x = torch.rand(args.batch, 3, *img)
    workdir = args.workdir or tempfile.mkdtemp(prefix="semcod-bench-")
    os.makedirs(workdir, exist_ok=True)

    # the baseline is timm's own forward_features, not our encoder with r = 0
    base_path = export_onnx(_TimmFeatures(vit), [x[:1]], os.path.join(workdir, f"{args.model}_timm.onnx"), ["images"], ["tokens"])
    if args.target_tokens is not None:
        schedule = enc.set_schedule(target=args.target_tokens)
        tag = f"t{args.target_tokens}"
    else:
        schedule = enc.set_schedule(r=8 if args.r is None else args.r)
        tag = f"r{args.r}"
    counts = enc.token_counts()
    merged_path = export_onnx(enc, [x[:1]], os.path.join(workdir, f"{args.model}_{tag}_{args.reorganizer}.onnx"), ["images"], ["tokens", "sizes"])

    batch = x.numpy().astype(np.float32)
    base = ort_images_per_s(base_path, batch, args.threads, args.seconds)
    merged = ort_images_per_s(merged_path, batch, args.threads, args.seconds)
    bound = flop_ratio(counts[0], schedule, vit.embed_dim, mlp_ratio=vit.blocks[0].mlp.fc1.out_features / vit.embed_dim)
    ratio = merged / base
    import onnxruntime as ort

    print(f"model            {args.model} ({len(schedule)} blocks, dim {vit.embed_dim}, input {img[0]}x{img[1]})")
    print(f"runtime          onnxruntime {ort.__version__} CPU, threads={args.threads or os.cpu_count()}, batch={args.batch}")
    print(f"reorganizer      {args.reorganizer}")
    print(f"schedule r/layer {schedule}")
    print(f"tokens/layer     {counts}")
    print(f"unmerged (timm) {base:8.2f} img/s")
    print(f"merged           {merged:8.2f} img/s")
    print(f"flop_bound       {bound:.3f}x")
    print(f"measured/bound   {ratio / bound:.3f}")
    print(f"speedup={ratio:.3f}")
    return 0
