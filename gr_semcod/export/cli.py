"""``semcod export``: trained runs -> an ONNX bundle in ``models/<name>/``.

    semcod export --semantic semcod_32 --deepjscc deepjscc_32_cbr1-48 deepjscc_32_cbr1-24 \\
                  deepjscc_32_cbr1-12 deepjscc_32_cbr1-6 --runs runs --out models/semcod_32 \\
                  --classifier semcod_32_cls --image-classifier deepjscc_32_cls

Each run is rebuilt from its registered config and loaded from ``<runs>/<name>/best.pt``
(``weights_only``); the training summary of every run goes into the manifest's ``meta``.

``--classifier RUN`` takes the token classifier head of a :class:`~gr_semcod.training.classify.CodecTokenClassifier`
run (role ``classifier``), ``--image-classifier RUN`` the CNN of a
:class:`~gr_semcod.training.classify.ReconImageClassifier` run (role ``image_classifier``).  Both
runs carry a copy of the frozen codec weights they were trained on; the export refuses them
when those differ from the exported semantic codec / Deep JSCC models.

``--semantic2 RUN --into models/semcod_32`` adds the semantic codec v2 (roles ``semantic2_*``,
:mod:`gr_semcod.export.hybrid`) to an existing bundle, with its training record in the manifest's
``meta.runs``; the bundle's other models are left as they are (their runs need not be here).

``--semantic2-decoder RUN[@CBR] ... --into models/semcod_32`` adds a receiver per CBR (role
``semantic2_decoder@<cbr>``) from receiver-only runs (``semcod2_32_rx48``, ``semcod2_32_rx12``:
``freeze_transmitter``, ``init_from`` the bundle); the CBR is the run's only training rate unless
given; refused when the run's transmitter is not the bundle's
(:func:`gr_semcod.export.hybrid.check_transmitter`).

``--semantic2-transmitter RUN[@CBR] ... --into models/semcod_32`` adds a whole v2 codec trained at one
rate (``semcod2_32_tx48lo``) as the transmitter of its own at that CBR (roles ``semantic2_encoder@<cbr>``,
``semantic2_merger@<cbr>`` and its matched ``semantic2_decoder@<cbr>``,
:func:`gr_semcod.export.hybrid.export_semantic2_transmitter`); both ends then code that rate with it
(:func:`gr_semcod.runtime.semantic2.codec_set`).  A machine receiver at that rate must be trained on it.

``--semantic2-classifier RUN --into models/semcod_32`` adds the machine receiver of the v2 codec
(role ``semantic2_classifier``: the head of a
:class:`~gr_semcod.training.classify.Semantic2LatentClassifier` run; inputs ``latent``, ``levels``,
``snr_db`` as ``semantic2_decoder``'s, and ``images``, that decoder's output, for a
:class:`~gr_semcod.receivers.LatentReconClassifier`; output ``logits``), refused when the run was trained on
another v2 transmitter than the bundle's (``codec_digest``).  ``RUN@CBR`` adds a head for crops sent
at that rate (role ``semantic2_classifier@<cbr>``, e.g. ``semcod2_32_cls12@1/12``), which the run
must have been trained at; the evaluation uses it at that rate and the shared head elsewhere
(:func:`gr_semcod.evaluation.semantic2_crops.classifier_role`).

``--refresh-descriptions --into models/semcod_32`` rewrites the ``description`` of every run in the
manifest's ``meta.runs`` from its registered config (``config``, else the run's name), leaving
weights, digests and training records as they are: a config whose wording was corrected reaches
the model card without its run (``runs/`` is not in the repository).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--semantic", help="run name of the semantic codec (a registered config)")
    p.add_argument("--deepjscc", nargs="*", default=[], help="run names of Deep JSCC baselines (one per CBR)")
    p.add_argument("--runs", default="runs", help="where the runs live (<runs>/<name>/best.pt)")
    p.add_argument("--out", help="bundle directory, e.g. models/semcod_32")
    p.add_argument("--semantic2", help="run name of a semantic codec v2 (semcod2_* config)")
    p.add_argument("--into", help="add --semantic2 to this existing bundle instead of writing a new one")
    p.add_argument("--name", help="bundle name (default: the out directory's name)")
    p.add_argument("--checkpoint", default="best.pt", help="checkpoint file inside each run")
    p.add_argument("--tol", type=float, default=1e-4, help="max ONNX-vs-torch abs error")
    p.add_argument("--classifier", help="run name of a token classifier on the frozen semantic codec (e.g. semcod_32_cls)")
    p.add_argument("--semantic2-decoder", nargs="+", default=[], metavar="RUN[@CBR]",
                   help="receiver-only v2 runs to add as per-CBR receivers (role semantic2_decoder@<cbr>); "
                        "with --into")
    p.add_argument("--semantic2-transmitter", nargs="+", default=[], metavar="RUN[@CBR]",
                   help="v2 runs trained at one CBR to add as that rate's transmitter of its own (roles "
                        "semantic2_encoder/merger/decoder@<cbr>, e.g. semcod2_32_tx48lo); with --into")
    p.add_argument("--semantic2-classifier", nargs="+", default=[], metavar="RUN[@CBR]",
                   help="classifier runs on the received latent of the bundle's semantic codec v2: RUN the head "
                        "for every rate (role semantic2_classifier, e.g. semcod2_32_cls), RUN@CBR the head for "
                        "that rate (role semantic2_classifier@<cbr>, e.g. semcod2_32_cls12@1/12); with --into")
    p.add_argument("--image-classifier", help="run name of an image classifier on Deep JSCC reconstructions (e.g. deepjscc_32_cls)")
    p.add_argument("--classes", default="fashion_mnist",
                   help="class names for manifest['classes'] when a classifier is exported: a preset "
                        "(fashion_mnist, cifar10), comma-separated names, or 'none'")
    p.add_argument("--refresh-descriptions", action="store_true",
                   help="with --into: rewrite each run's description in the manifest from its registered config "
                        "(weights, digests and training records unchanged)")


#: model arguments that say where a run's weights started and what stayed fixed while it trained;
#: the checkpoint holds every weight, so a rebuild for export leaves them out
TRAINING_ONLY_KWARGS = ("init_from", "freeze_transmitter")


def load_run(runs: Path, name: str, checkpoint: str = "best.pt", model_kwargs=None):
    """Rebuild a run's model from its config (the ``model_kwargs`` it trained with, from its
    ``config.json``, but :data:`TRAINING_ONLY_KWARGS`) and load its weights; returns (model, info).
    ``model_kwargs`` overrides entries of those ``model_kwargs``."""
    from gr_semcod.training.loop import load_weights
    from gr_semcod.training.registry import get_config

    run = runs / name
    ckpt = run / checkpoint
    if not ckpt.is_file():
        raise SystemExit(f"semcod export: {ckpt} not found (train it with: semcod train --config {name})")
    cfg = get_config(name)
    saved = run / "config.json"
    if saved.is_file():  # the run's own model arguments (its --model-arg overrides), not the registry's defaults
        trained = json.loads(saved.read_text()).get("model_kwargs")
        if isinstance(trained, dict):
            cfg.model_kwargs = {k: v for k, v in trained.items() if k not in TRAINING_ONLY_KWARGS}
    if model_kwargs:
        cfg.model_kwargs = {**cfg.model_kwargs, **model_kwargs}
    model = load_weights(cfg.build_model(cfg), ckpt).eval()
    info = {"config": name, "description": cfg.description}
    summary = run / "summary.json"
    if summary.is_file():
        info["training"] = training_record(run, json.loads(summary.read_text()))
    return model, info


def training_record(run: Path, summary: dict) -> dict:
    """The run's summary with its ``stages`` (reconstructed from ``config.json`` for runs that
    predate ``stages.json``) and, for a warm start from another run, that run's budget."""
    from gr_semcod.training.loop import stage_args

    summary = dict(summary)
    if not summary.get("stages") and (run / "config.json").is_file():
        cfg = json.loads((run / "config.json").read_text())
        summary["stages"] = [{"args": stage_args(cfg, False), "start_step": 0, "start_minutes": 0.0,
                              "end_step": summary.get("steps"), "end_minutes": summary.get("minutes")}]
    for stage in summary.get("stages") or []:
        init_from = stage["args"].partition("init_from=")[2].split(" ")[0]
        parent = Path(init_from).parent if init_from else None
        if parent is not None and (parent / "summary.json").is_file():
            p = json.loads((parent / "summary.json").read_text())
            summary["init_from_run"] = {"name": parent.name, "minutes": p.get("minutes"), "steps": p.get("steps")}
            if (parent / "config.json").is_file():  # the parent's own command, under its run name
                pcfg = {**json.loads((parent / "config.json").read_text()), "name": parent.name}
                summary["init_from_run"]["args"] = stage_args(pcfg, False)
    return summary


def check_frozen(trained_on, exported, what: str, target: str) -> None:
    """Refuse a classifier whose frozen copy of a codec differs from the codec being exported."""
    import torch

    a, b = trained_on.state_dict(), exported.state_dict()
    bad = [k for k in a if k in b and not torch.equal(a[k], b[k])] + [k for k in b if k not in a]
    if bad:
        raise SystemExit(f"semcod export: {what} was trained on different weights than {target} "
                         f"({len(bad)} tensors differ, e.g. {bad[0]}); retrain the classifier on the final weights")


def add_semantic2(runs: Path, name: str, bundle: Path, checkpoint: str = "best.pt", tol: float = 1e-4) -> dict:
    """Export run ``name`` (a v2 codec) into the existing ``bundle``; returns the parity errors."""
    from gr_semcod.export.hybrid import export_semantic2
    from gr_semcod.runtime.bundle import MANIFEST, write_manifest

    codec, info = load_run(runs, name, checkpoint)
    before = json.loads((bundle / MANIFEST).read_text())
    stale = [d.get("run") for d in ((before.get("semantic2") or {}).get("decoders") or {}).values()]
    parity = export_semantic2(str(bundle), codec, tol=tol, meta={"run": name})
    manifest = json.loads((bundle / MANIFEST).read_text())
    for old in stale:  # per-CBR receivers of the replaced transmitter are gone (export_semantic2)
        if old and old != name and old != (manifest.get("semantic2_classifier") or {}).get("run"):
            manifest.get("meta", {}).get("runs", {}).pop(old, None)
            print(f"removed the receiver {old}: it was trained on the replaced v2 transmitter")
    manifest.setdefault("meta", {}).setdefault("runs", {})[name] = info
    write_manifest(bundle, manifest)
    return parity


def _served_cbr(codec, name: str, cbr: str, flag: str) -> str:
    """The CBR a v2 run is exported for: ``cbr`` (from ``RUN@CBR``) or the run's only training rate."""
    from gr_semcod.rates import cbr_text

    if not cbr:
        if len(codec.cbr_choices) != 1:
            raise SystemExit(f"semcod export: {name} trained at CBRs {', '.join(codec.cbr_choices)}; "
                             f"say which one it serves: {flag} {name}@<cbr>")
        cbr = codec.cbr_choices[0]
    return cbr_text(cbr)


def add_semantic2_decoder(runs: Path, spec: str, bundle: Path, checkpoint: str = "best.pt",
                          tol: float = 1e-4) -> dict:
    """Export the receiver of run ``spec`` (``NAME`` or ``NAME@CBR``) into ``bundle`` as role
    ``semantic2_decoder@<cbr>``; returns the parity error."""
    from gr_semcod.export.hybrid import export_semantic2_decoder
    from gr_semcod.runtime.bundle import MANIFEST, write_manifest

    name, _, cbr = spec.partition("@")
    codec, info = load_run(runs, name, checkpoint, {"init_from_bundle": str(bundle)})
    cbr = _served_cbr(codec, name, cbr, "--semantic2-decoder")
    if cbr not in codec.cbr_choices:
        print(f"warning: {name} trained at CBR {', '.join(codec.cbr_choices)}, exported as the receiver of {cbr}")
    manifest = json.loads((bundle / MANIFEST).read_text())
    replaced = ((manifest.get("semantic2") or {}).get("decoders") or {}).get(cbr, {}).get("run")
    try:
        parity = export_semantic2_decoder(str(bundle), codec, cbr, tol=tol, meta={"run": name})
    except ValueError as e:
        raise SystemExit(f"semcod export: {name}: {e}") from None
    manifest = json.loads((bundle / MANIFEST).read_text())
    runs_meta = manifest.setdefault("meta", {}).setdefault("runs", {})
    still = {d.get("run") for d in manifest["semantic2"].get("decoders", {}).values()} | {manifest["semantic2"].get("run")}
    if replaced and replaced != name and replaced not in still:  # the card lists the runs the bundle holds
        runs_meta.pop(replaced, None)
    runs_meta[name] = info
    write_manifest(bundle, manifest)
    return parity


def add_semantic2_transmitter(runs: Path, spec: str, bundle: Path, checkpoint: str = "best.pt",
                              tol: float = 1e-4) -> dict:
    """Export run ``spec`` (``NAME`` or ``NAME@CBR``, a v2 codec) into ``bundle`` as the transmitter of
    its own at that CBR (the run's only training rate unless given); returns the parity errors."""
    from gr_semcod.export.hybrid import export_semantic2_transmitter
    from gr_semcod.rates import cbr_text
    from gr_semcod.runtime.bundle import MANIFEST, write_manifest

    name, _, cbr = spec.partition("@")
    codec, info = load_run(runs, name, checkpoint)
    cbr = _served_cbr(codec, name, cbr, "--semantic2-transmitter")
    if cbr not in [cbr_text(c) for c in codec.cbr_choices]:
        raise SystemExit(f"semcod export: {name} trained at CBR {', '.join(codec.cbr_choices)}, not {cbr}: it "
                         f"cannot be the transmitter of {cbr}")
    before = json.loads((bundle / MANIFEST).read_text())
    s2 = before.get("semantic2") or {}
    replaced = {((s2.get("decoders") or {}).get(cbr) or {}).get("run"), ((s2.get("transmitters") or {}).get(cbr) or {}).get("run"),
                ((s2.get("transmitters") or {}).get(cbr) or {}).get("receiver_run")} - {None, name}
    # a run warm-started from a bundle (init_from=<dir>) continued that bundle's v2 and its receiver at this
    # rate: their budgets count in its own, so their records stay (transmitters[cbr]["warm_start"])
    stages = ((info.get("training") or {}).get("stages") or [])
    starts = [st["args"].partition("init_from=")[2].split(" ")[0] for st in stages if "init_from=" in st["args"]]
    repo = Path(__file__).resolve().parents[2]
    from_bundle = any(a and (Path(a).is_dir() or (repo / a).is_dir()) for a in starts)
    warm = [r for r in (s2.get("run"), ((s2.get("decoders") or {}).get(cbr) or {}).get("run")) if r] if from_bundle else []
    saved = runs / name / "config.json"
    init_tx = (json.loads(saved.read_text()).get("model_kwargs") or {}).get("init_transmitter") if saved.is_file() else None
    own = (s2.get("transmitters") or {}).get(cbr_text(init_tx)) if (from_bundle and init_tx) else None
    if own:  # it continued the bundle's set at that rate (init_transmitter): that set's runs are its warm start
        warm = [r for r in (own.get("run"), *(own.get("warm_start") or []), own.get("receiver_run")) if r and r != name]
    try:
        parity = export_semantic2_transmitter(str(bundle), codec, cbr, tol=tol,
                                              meta={"run": name, **({"warm_start": warm} if warm else {})})
    except ValueError as e:
        raise SystemExit(f"semcod export: {name}: {e}") from None
    manifest = json.loads((bundle / MANIFEST).read_text())
    runs_meta = manifest.setdefault("meta", {}).setdefault("runs", {})
    s2 = manifest["semantic2"]
    still = ({s2.get("run")} | {d.get("run") for d in (s2.get("decoders") or {}).values()} | set(warm)
             | {t.get(k) for t in (s2.get("transmitters") or {}).values() for k in ("run", "receiver_run")}
             | {(manifest.get(r) or {}).get("run") for r in manifest.get("models", {})})
    for old in replaced - still:  # the card lists the runs the bundle holds
        runs_meta.pop(old, None)
        print(f"removed {old}: the transmitter of its own at {cbr} replaced it")
    runs_meta[name] = info
    write_manifest(bundle, manifest)
    from gr_semcod.evaluation.semantic2_crops import check_classifier, classifier_role
    from gr_semcod.runtime.bundle import load_bundle

    b = load_bundle(str(bundle))
    head = classifier_role(b, cbr)  # the machine receiver the evaluation uses at cbr
    if b.has(head):
        try:
            check_classifier(b, head, cbr)
        except ValueError:
            print(f"note: {head} was trained on another transmitter than the one now at {cbr}: the evaluation "
                  f"refuses it at {cbr}; train a head on this transmitter (semcod2_32_cls48) and export it")
    return parity


def add_semantic2_classifier(runs: Path, spec: str, bundle: Path, checkpoint: str = "best.pt",
                             tol: float = 1e-4) -> dict:
    """Export the head of run ``spec`` = ``NAME`` or ``NAME@CBR`` (a
    :class:`~gr_semcod.training.classify.Semantic2LatentClassifier`) into ``bundle`` as role
    ``semantic2_classifier`` (the head for every rate) or ``semantic2_classifier@<cbr>`` (the head
    for crops sent at that rate, which the run must have been trained at); returns the parity error."""
    import torch

    from gr_semcod.export.bundle import _export
    from gr_semcod.rates import cbr_text, role_key, same_cbr
    from gr_semcod.runtime.bundle import MANIFEST, write_manifest
    from gr_semcod.evaluation.semantic2_crops import CLASSIFIER_ROLE, head_digest

    name, _, cbr = spec.partition("@")
    cls, info = load_run(runs, name, checkpoint, {"bundle": str(bundle)})
    role = CLASSIFIER_ROLE
    if cbr:
        if not any(same_cbr(cbr, c) for c in cls.cbr_choices):
            raise SystemExit(f"semcod export: {name} was trained at CBR {', '.join(map(str, cls.cbr_choices))}, "
                             f"not {cbr}: it cannot be the head for {cbr}")
        role = role_key(CLASSIFIER_ROLE, cbr_text(cbr))
    manifest = json.loads((bundle / MANIFEST).read_text())
    rates = [cbr_text(c) for c in dict.fromkeys([*cls.cbr_choices, cls.eval_cbr])]
    if head_digest(manifest, rates) != bytes(cls.codec_digest.tolist()):  # the transmitter(s) of its rates here
        raise SystemExit(f"semcod export: {name} was trained on another semantic codec v2 than the one that codes "
                         f"CBR {', '.join(rates)} in {bundle} (codec_digest differs); retrain it on this bundle")
    head = cls.head.eval()
    meta = manifest["semantic2"]
    hw = meta["tile"] // 4
    g = torch.Generator().manual_seed(0)
    example = [torch.randn(2, meta["c"], hw, hw, generator=g),
               torch.randint(0, meta["depth"] + 1, (2, 1, hw, hw), generator=g).float(),
               torch.tensor([[3.0], [15.0]])]
    names = ["latent", "levels", "snr_db"]
    if cls.uses_recon:  # LatentReconClassifier: also the v2 decoder's image of that latent
        example.append(torch.rand(2, 3, meta["tile"], meta["tile"], generator=g))
        names.append("images")
    parity: dict = {}
    with torch.no_grad():
        entry = _export(bundle, role, head, example, names, ["logits"], tol, parity)
    manifest["models"][role] = entry
    runs_meta = manifest.setdefault("meta", {}).setdefault("runs", {})
    replaced = (manifest.get(role) or {}).get("run")
    in_use = {(manifest.get(r) or {}).get("run") for r in manifest.get("models", {}) if r != role}
    if replaced and replaced != name and replaced not in in_use:  # the card lists the runs in the bundle:
        runs_meta.pop(replaced, None)  # not the head this one replaces (unless another role still holds it)
    manifest[role] = {"codec_digest": bytes(cls.codec_digest.tolist()).hex(), "run": name, "cbrs": rates}
    runs_meta[name] = info
    manifest["meta"].setdefault("onnx_parity_max_abs", {}).update(parity)
    write_manifest(bundle, manifest)
    return parity


def refresh_descriptions(bundle: Path) -> dict:
    """``meta.runs[*].description`` of ``bundle``'s manifest from the registered configs; returns
    ``{run: (old, new)}`` for the runs whose description changed (runs of unregistered configs are
    left as they are).  Nothing else of the manifest changes."""
    from gr_semcod.runtime.bundle import MANIFEST, write_manifest
    from gr_semcod.training.registry import get_config, list_configs

    manifest = json.loads((bundle / MANIFEST).read_text())
    known, changed = set(list_configs()), {}
    for name, info in (manifest.get("meta", {}).get("runs") or {}).items():
        config = info.get("config", name)
        if config in known and info.get("description") != get_config(config).description:
            changed[name] = (info.get("description"), get_config(config).description)
            info["description"] = changed[name][1]
    if changed:
        write_manifest(bundle, manifest, fill_io=False)
    return changed


def run(args) -> int:
    from gr_semcod.export.bundle import export_bundle

    runs = Path(args.runs)
    s2cls = getattr(args, "semantic2_classifier", None) or []
    s2cls = [s2cls] if isinstance(s2cls, str) else list(s2cls)
    s2dec = list(getattr(args, "semantic2_decoder", None) or [])
    s2tx = list(getattr(args, "semantic2_transmitter", None) or [])
    if getattr(args, "refresh_descriptions", False):
        if not args.into or args.semantic2 or s2cls or s2dec or s2tx or args.semantic or args.deepjscc:
            raise SystemExit("semcod export --refresh-descriptions takes --into BUNDLE only")
        changed = refresh_descriptions(Path(args.into))
        for name, (old, new) in changed.items():
            print(f"{name}: {old!r}\n  -> {new!r}")
        print(f"{len(changed)} description(s) refreshed in {args.into}")
        return 0
    if args.into:
        if not (args.semantic2 or s2cls or s2dec or s2tx) or args.semantic or args.deepjscc:
            raise SystemExit("semcod export --into BUNDLE takes --semantic2 RUN, --semantic2-transmitter RUN..., "
                             "--semantic2-decoder RUN... and/or --semantic2-classifier RUN only")
        parity = {}
        if args.semantic2:
            parity.update(add_semantic2(runs, args.semantic2, Path(args.into), args.checkpoint, args.tol))
        for spec in s2tx:
            parity.update(add_semantic2_transmitter(runs, spec, Path(args.into), args.checkpoint, args.tol))
        for spec in s2dec:
            parity.update(add_semantic2_decoder(runs, spec, Path(args.into), args.checkpoint, args.tol))
        for spec in s2cls:
            parity.update(add_semantic2_classifier(runs, spec, Path(args.into), args.checkpoint, args.tol))
        for role, err in parity.items():
            print(f"{role:28s} parity {err:.2e}")
        print(f"added {', '.join(r for r in (args.semantic2, *s2tx, *s2dec, *s2cls) if r)} to {args.into}")
        return 0
    if s2cls or s2dec or s2tx:
        raise SystemExit("semcod export: --semantic2-classifier / --semantic2-decoder need --into BUNDLE "
                         "(the bundle holding their codec)")
    if not args.out:
        raise SystemExit("semcod export: --out is required (or --into BUNDLE with --semantic2)")
    codec, meta = None, {"runs": {}}
    if args.semantic:
        codec, meta["runs"][args.semantic] = load_run(runs, args.semantic, args.checkpoint)
    deepjscc = {}
    for name in args.deepjscc:
        model, meta["runs"][name] = load_run(runs, name, args.checkpoint)
        deepjscc[str(model.cbr)] = model
    image_classifier, classes = None, None
    if getattr(args, "classifier", None):
        if codec is None:
            raise SystemExit("semcod export: --classifier needs --semantic (the codec it was trained on)")
        # the run's best.pt holds its frozen codec copy: build untrained, then load it
        cls, meta["runs"][args.classifier] = load_run(runs, args.classifier, args.checkpoint, {"weights": None})
        check_frozen(cls.codec, codec, f"{args.classifier} (codec)", args.semantic)
        codec.classifier = cls.head
    if getattr(args, "image_classifier", None):
        cls, meta["runs"][args.image_classifier] = load_run(runs, args.image_classifier, args.checkpoint,
                                                            {"runs_dir": None})
        for cbr, m in deepjscc.items():
            key = cbr.replace("/", "-")
            if key in cls.jscc:
                check_frozen(cls.jscc[key], m, f"{args.image_classifier} (Deep JSCC {cbr})", f"Deep JSCC {cbr}")
        missing = [c for c in deepjscc if c.replace("/", "-") not in cls.jscc]
        if missing:
            print(f"warning: {args.image_classifier} was not trained on Deep JSCC at CBR {', '.join(missing)}")
        image_classifier = cls.classifier
    if (image_classifier is not None or getattr(args, "classifier", None)) and str(args.classes).lower() != "none":
        from gr_semcod.runtime.datasets import CIFAR10_CLASSES, FASHION_MNIST_CLASSES

        presets = {"fashion_mnist": FASHION_MNIST_CLASSES, "cifar10": CIFAR10_CLASSES}
        classes = list(presets.get(args.classes) or [c.strip() for c in str(args.classes).split(",")])
    out = Path(args.out)
    manifest, parity = export_bundle(str(out), codec, deepjscc, name=args.name or out.name, meta=meta, tol=args.tol,
                                     image_classifier=image_classifier, classes=classes)
    if args.semantic2:
        parity.update(add_semantic2(runs, args.semantic2, out, args.checkpoint, args.tol))
    for role, err in parity.items():
        print(f"{role:28s} parity {err:.2e}")
    total = sum(f.stat().st_size for f in out.glob("*.onnx"))
    print(f"wrote {manifest} ({len(parity)} models, {total / 1e6:.1f} MB)")
    return 0
