"""The ``semcod`` command line.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; modules are imported only when their subcommand runs so that
the radio side never pays for (or needs) torch.
"""
from __future__ import annotations

import argparse
import importlib
import sys

#: subcommand -> (module, help)
COMMANDS = {
    "train": ("gr_semcod.training.cli", "train a model from a named config"),
    "export": ("gr_semcod.export.cli", "export trained models to an ONNX bundle"),
    "eval": ("gr_semcod.evaluation.cli", "evaluate a bundle against the baselines"),
    "demo": ("gr_semcod.demo", "run the loopback flowgraph on a few images"),
    "serve": ("gr_semcod.serve", "serve a bundle over ZMQ for a remote radio flowgraph"),
    "keys": ("gr_semcod.runtime.zmq_security", "make CurveZMQ key pairs for the ZMQ links"),
}

#: ``semcod bench <target>`` -> (module, help)
BENCHES = {
    "tome": ("gr_semcod.bench.tome", "ONNX Runtime speed-up of token merging"),
    "reorg": ("gr_semcod.bench.reorg", "bipartite matching vs k-means consolidation"),
    "phy": ("gr_semcod.bench.phy", "OFDM loopback throughput, ours vs stock"),
    "e2e": ("gr_semcod.bench.e2e", "images/s through the full loopback flowgraph"),
    "soak": ("gr_semcod.bench.soak", "long loopback run: images/s, losses and RSS every minute"),
    "sideinfo": ("gr_semcod.bench.sideinfo", "bit error rate of the side-information codes"),
    "erasures": ("gr_semcod.bench.erasures", "PSNR a lost PHY fragment costs semantic v2, zeros vs filled latent"),
    "floor": ("gr_semcod.bench.floor", "semantic v2 mode auto: its floor decision against other rules"),
    "deepjscc-whole": ("gr_semcod.bench.deepjscc_whole", "Deep JSCC per tile vs fully convolutional on the whole photo"),
    "metrics": ("gr_semcod.bench.metrics", "numpy PSNR/SSIM vs scikit-image (values, time)"),
    "codecs": ("gr_semcod.bench.codecs", "PSNR of the digital baseline's source codecs at equal payload budgets"),
    "mcs": ("gr_semcod.bench.mcs", "SNR thresholds of the digital link's MCS table (--write regenerates it)"),
}


def _lazy(sub, name, module, help_):
    """Add a subparser whose arguments come from ``module`` (imported on demand)."""
    p = sub.add_parser(name, help=help_)
    p.set_defaults(_module=module)
    # Arguments are added only for the command actually invoked (see main()).
    return p


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="semcod", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    parsers = {}
    for name, (module, help_) in COMMANDS.items():
        parsers[name] = _lazy(sub, name, module, help_)
    bench = sub.add_parser("bench", help="benchmarks (speed, memory, throughput)")
    bsub = bench.add_subparsers(dest="target", required=True)
    bparsers = {}
    for name, (module, help_) in BENCHES.items():
        bparsers[name] = _lazy(bsub, name, module, help_)

    # Import and populate only the parser that will be used.
    if argv and argv[0] in parsers:
        mod = importlib.import_module(COMMANDS[argv[0]][0])
        mod.add_arguments(parsers[argv[0]])
    elif len(argv) > 1 and argv[0] == "bench" and argv[1] in bparsers:
        mod = importlib.import_module(BENCHES[argv[1]][0])
        mod.add_arguments(bparsers[argv[1]])
    args = parser.parse_args(argv)
    mod = importlib.import_module(args._module)
    return int(mod.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
