"""Model bundles: a directory of ONNX files plus ``manifest.json``, run with ONNX Runtime.

A bundle is everything the radio side needs to run the trained models, with no torch:

    models/<name>/
        manifest.json
        tokenizer.onnx
        jscc_encoder@1-12.onnx
        ...

``manifest.json`` schema (``version`` 1)::

    {
      "format": "gr-semcod-bundle",
      "version": 1,
      "name": "semcod-tiny32",
      "image":  {"size": [32, 32], "channels": 3,
                 "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
      "tokens": {"count": 10, "dim": 192},
      "cbr": ["1/48", "1/24", "1/12", "1/6"],
      "models": {
        "tokenizer": {
          "file": "tokenizer.onnx",
          "sha256": "9f2c...e1",
          "inputs":  {"images": {"shape": ["batch", 3, 32, 32], "dtype": "float32"}},
          "outputs": {"tokens": {"shape": ["batch", 10, 192], "dtype": "float32"},
                      "sizes":  {"shape": ["batch", 10], "dtype": "float32"}}
        },
        "jscc_encoder@1/12": {"file": "jscc_encoder@1-12.onnx", "sha256": "...",
                              "inputs": {...}, "outputs": {...}}
      },
      "meta": {"trained_on": "...", "anything": "free-form"}
    }

* ``models`` maps a *role* to one ONNX file.  Any role key is allowed; the ones used by the
  project are ``tokenizer``, ``jscc_encoder``, ``jscc_decoder``, ``detokenizer``,
  ``classifier``, ``deepjscc_encoder``, ``deepjscc_decoder``, and per-CBR variants written
  ``"<role>@<cbr>"`` (e.g. ``"jscc_encoder@1/12"``).
* A dimension in ``shape`` is an int (must match exactly) or a string (a dynamic dimension,
  conventionally ``"batch"``).  Inputs of one call that share a dimension name must agree on
  its value (every input with ``"batch"`` has the same batch size).
* ``dtype`` is a numpy dtype name (``float32``, ``int64``, ...).
* ``sha256`` is the hex digest of the file; :func:`write_manifest` fills it in.  It is
  verified on :meth:`Bundle.load` (``verify=True``).
* ``external_data`` (per model, written by :func:`write_manifest` when the ONNX file keeps
  tensors in other files): ``[{"file": "<path in the bundle>", "sha256": "..."}]``.  Every
  external-data file the ONNX model references must be listed and is hashed like the model;
  an unlisted reference is an error (its weights would load unverified).
* Confinement: ``file`` names (models and external data) are relative paths that resolve
  inside the bundle folder -- no ``..``, no absolute path, no symlink leading out.  The check
  comes before any file is opened, so an error never carries the hash (or anything else) of a
  file outside the bundle.
* ``image.mean`` / ``image.std`` are the per-channel normalisation of images in [0, 1]:
  ``x = (pixel / 255 - mean) / std`` in NCHW layout (see :func:`normalize_images`).

Errors (missing file, checksum mismatch, wrong input shape or dtype, malformed manifest) are
raised as :class:`BundleError`, a ``ValueError`` with a one-line message naming the file and
the expectation.

Execution provider: ``CUDAExecutionProvider`` when ``onnxruntime.get_available_providers()``
lists it (onnxruntime-gpu with a visible GPU), else ``CPUExecutionProvider``; ``providers=``
overrides.  onnxruntime is imported lazily, so the rest of :mod:`gr_semcod.runtime` works
without it.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

import numpy as np

from ..rates import role_key  # noqa: F401 - re-exported: the rates live in gr_semcod.rates
from .onnx_refs import OnnxParseError, external_data_files

FORMAT = "gr-semcod-bundle"
VERSION = 1
MANIFEST = "manifest.json"

#: ONNX Runtime type strings -> numpy dtype names (for manifests derived from a model).
_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int16)": "int16",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
}

PathLike = Union[str, os.PathLike]


class BundleError(ValueError):
    """A bundle or a call into it is invalid; the message is one line naming the file."""


def sha256_file(path: PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 digest of a file, read in ``chunk``-byte pieces."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- providers


def available_providers() -> List[str]:
    """Execution providers of the installed onnxruntime."""
    import onnxruntime as ort

    return list(ort.get_available_providers())


def select_providers(
    providers: Optional[Sequence[str]] = None, available: Optional[Sequence[str]] = None
) -> List[str]:
    """Providers to use, in priority order.

    Automatic (``providers=None``): ``["CUDAExecutionProvider", "CPUExecutionProvider"]`` when
    CUDA is available, else ``["CPUExecutionProvider"]``.  An explicit list is kept as given
    but must only name available providers (else :class:`BundleError`).
    """
    available = list(available_providers() if available is None else available)
    if providers is None:
        if "CUDAExecutionProvider" in available:
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        return ["CPUExecutionProvider"]
    if isinstance(providers, str):
        providers = [providers]
    providers = list(providers)
    missing = [p for p in providers if p not in available]
    if missing or not providers:
        raise BundleError(
            f"execution provider(s) {missing or providers} not available; "
            f"onnxruntime offers {available}"
        )
    return providers


# --------------------------------------------------------------------------- confinement
def bundle_file(root: PathLike, name: Any, what: str) -> Path:
    """``root / name`` when ``name`` is a relative path that stays inside ``root``, else
    :class:`BundleError` naming ``what`` (the manifest entry).  Nothing is opened or hashed."""
    if not isinstance(name, str) or not name.strip():
        raise BundleError(f"{what}: must be a non-empty relative file name, got {name!r}")
    if "\x00" in name:
        raise BundleError(f"{what}: file name contains a NUL byte")
    if os.path.isabs(name) or PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute() \
            or PureWindowsPath(name).drive:
        raise BundleError(f"{what}: {name!r} is an absolute path; bundle files are relative to the bundle folder")
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        raise BundleError(f"{what}: {name!r} contains '..'; bundle files must stay inside the bundle folder")
    root = Path(root)
    path = root / name
    real_root = root.resolve()
    real = path.resolve()
    if real != real_root and real_root not in real.parents:
        raise BundleError(f"{what}: {name!r} resolves outside the bundle folder (symlink?)")
    return path


def _relative_name(root: Path, path: Path) -> str:
    """``path`` relative to ``root`` as a POSIX string (both unresolved, ``path`` under ``root``)."""
    return PurePosixPath(os.path.relpath(path, root)).as_posix()


def model_external_data(root: PathLike, model_file: Path, what: str) -> List[str]:
    """Bundle-relative names of the external-data files ``model_file`` references (confined)."""
    root = Path(root)
    try:
        refs = external_data_files(model_file)
    except OnnxParseError as e:
        raise BundleError(f"{model_file}: not a readable ONNX file ({e})") from None
    out = []
    for ref in refs:
        rel = _relative_name(root, model_file.parent / ref) if ref and not os.path.isabs(ref) else ref
        bundle_file(root, rel, f"{what} external data {ref!r}")
        out.append(_relative_name(root, root / rel))
    return sorted(set(out))


def _listed_external(m: Mapping[str, Any]) -> Dict[str, Any]:
    return {e["file"]: e.get("sha256") for e in m.get("external_data", [])}


# --------------------------------------------------------------------------- manifest


def validate_manifest(manifest: Mapping[str, Any], where: str = MANIFEST) -> None:
    """Check the manifest's structure (not the files); raise :class:`BundleError` if malformed."""

    def fail(msg: str) -> None:
        raise BundleError(f"{where}: {msg}")

    if not isinstance(manifest, Mapping):
        fail("manifest must be a JSON object")
    if manifest.get("format") != FORMAT:
        fail(f"'format' is {manifest.get('format')!r}, expected {FORMAT!r}")
    if manifest.get("version") != VERSION:
        fail(f"'version' is {manifest.get('version')!r}, this runtime reads version {VERSION}")
    models = manifest.get("models")
    if not isinstance(models, Mapping) or not models:
        fail("'models' must be a non-empty object mapping role -> model")
    for role, m in models.items():
        if not isinstance(m, Mapping) or not isinstance(m.get("file"), str):
            fail(f"models[{role!r}] needs a 'file' string")
        ext = m.get("external_data", [])
        if not isinstance(ext, list) or not all(
                isinstance(e, Mapping) and isinstance(e.get("file"), str) for e in ext):
            fail(f"models[{role!r}].external_data must be a list of {{file, sha256}} objects")
        for io in ("inputs", "outputs"):
            specs = m.get(io, {})
            if not isinstance(specs, Mapping):
                fail(f"models[{role!r}].{io} must be an object name -> {{shape, dtype}}")
            for name, spec in specs.items():
                shape = spec.get("shape") if isinstance(spec, Mapping) else None
                if not isinstance(shape, list) or not all(
                    isinstance(d, (int, str)) and not isinstance(d, bool) for d in shape
                ):
                    fail(f"models[{role!r}].{io}[{name!r}].shape must be a list of ints/strings")
                dtype = spec.get("dtype")
                try:
                    ok = isinstance(dtype, str) and np.dtype(dtype).kind in "biuf"
                except TypeError:
                    ok = False
                if not ok:
                    fail(f"models[{role!r}].{io}[{name!r}].dtype {dtype!r} is not a numeric dtype name")
    image = manifest.get("image")
    if image is not None:
        if not isinstance(image, Mapping):
            fail("'image' must be an object")
        size = image.get("size")
        if size is not None and (not isinstance(size, list) or len(size) != 2):
            fail(f"image.size must be [H, W], got {size!r}")
        ch = int(image.get("channels", 3))
        for key in ("mean", "std"):
            v = image.get(key)
            if v is not None and (not isinstance(v, list) or len(v) != ch):
                fail(f"image.{key} must be a list of {ch} numbers, got {v!r}")


def io_specs_from_onnx(path: PathLike) -> Dict[str, Dict[str, Any]]:
    """``{"inputs": ..., "outputs": ...}`` read from an ONNX file via onnxruntime.

    Symbolic or unknown dimensions become strings (the first one ``"batch"``).
    """
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def spec(arg) -> Dict[str, Any]:
        shape = []
        for i, d in enumerate(arg.shape):
            if isinstance(d, int) and d >= 0:
                shape.append(int(d))
            elif i == 0:
                shape.append("batch")
            else:
                shape.append(str(d) if d else f"dim{i}")
        if arg.type not in _ORT_TYPES:
            raise BundleError(f"{path}: {arg.name!r} has unsupported type {arg.type}")
        return {"shape": shape, "dtype": _ORT_TYPES[arg.type]}

    return {
        "inputs": {a.name: spec(a) for a in sess.get_inputs()},
        "outputs": {a.name: spec(a) for a in sess.get_outputs()},
    }


def write_manifest(directory: PathLike, manifest: Mapping[str, Any], fill_io: bool = True) -> Path:
    """Write ``<directory>/manifest.json``, filling ``sha256`` of every model file.

    ``format`` and ``version`` default to the current ones.  With ``fill_io`` a model without
    ``inputs``/``outputs`` gets them from the ONNX file (:func:`io_specs_from_onnx`).
    Returns the manifest path.  The input mapping is not modified.
    """
    directory = Path(directory)
    out = copy.deepcopy(dict(manifest))
    out.setdefault("format", FORMAT)
    out.setdefault("version", VERSION)
    for role, m in out.get("models", {}).items():
        path = bundle_file(directory, m.get("file"), f"models[{role!r}].file")
        if not path.is_file():
            raise BundleError(f"{path}: model file for role {role!r} not found")
        m["sha256"] = sha256_file(path)
        ext = model_external_data(directory, path, f"models[{role!r}]")
        if ext:
            entries = []
            for name in ext:
                f = directory / name
                if not f.is_file():
                    raise BundleError(f"{f}: external data of role {role!r} not found")
                entries.append({"file": name, "sha256": sha256_file(f)})
            m["external_data"] = entries
        else:
            m.pop("external_data", None)
        if fill_io and ("inputs" not in m or "outputs" not in m):
            specs = io_specs_from_onnx(path)
            m.setdefault("inputs", specs["inputs"])
            m.setdefault("outputs", specs["outputs"])
    validate_manifest(out, str(directory / MANIFEST))
    target = directory / MANIFEST
    target.write_text(json.dumps(out, indent=2) + "\n")
    return target


# --------------------------------------------------------------------------- input checks


def _fmt_shape(shape: Iterable) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def check_inputs(
    where: str, specs: Mapping[str, Mapping[str, Any]], inputs: Mapping[str, Any]
) -> Dict[str, np.ndarray]:
    """Validate ``inputs`` against manifest ``specs``; return them as numpy arrays.

    Every declared input must be given, no other; dtypes must match exactly (no silent casts);
    int dims must match; string dims bind a value that must be the same for every input.
    """
    missing = [n for n in specs if n not in inputs]
    extra = [n for n in inputs if n not in specs]
    if missing or extra:
        raise BundleError(
            f"{where}: inputs {sorted(inputs)} do not match the expected {list(specs)}"
            + (f" (missing {missing})" if missing else "")
            + (f" (unknown {extra})" if extra else "")
        )
    bound: Dict[str, int] = {}
    arrays = {}
    for name, spec in specs.items():
        a = np.asarray(inputs[name])
        want_dtype = np.dtype(spec["dtype"])
        want = spec["shape"]
        if a.dtype != want_dtype:
            raise BundleError(
                f"{where}: input {name!r} has dtype {a.dtype}, expected {want_dtype} "
                f"with shape {_fmt_shape(want)}"
            )
        ok = a.ndim == len(want)
        if ok:
            for dim, w in zip(a.shape, want):
                if isinstance(w, int):
                    ok = ok and dim == w
                elif w in bound:
                    ok = ok and dim == bound[w]
                else:
                    bound[w] = dim
        if not ok:
            ctx = {k: v for k, v in bound.items() if any(k == w for w in want)}
            raise BundleError(
                f"{where}: input {name!r} has shape {_fmt_shape(a.shape)}, expected "
                f"{_fmt_shape(want)}" + (f" with {ctx}" if ctx else "")
            )
        arrays[name] = a
    return arrays


# --------------------------------------------------------------------------- images


def normalize_images(images: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """uint8 NHWC images -> float32 NCHW model input, ``x = (pixel/255 - mean) / std``."""
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[None]
    if x.dtype != np.uint8:
        raise BundleError(f"images must be uint8 NHWC, got dtype {x.dtype}")
    m = np.asarray(mean, np.float32).reshape(1, -1, 1, 1)
    s = np.asarray(std, np.float32).reshape(1, -1, 1, 1)
    return ((x.transpose(0, 3, 1, 2).astype(np.float32) / 255.0 - m) / s).astype(np.float32)


def denormalize_images(x: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """float NCHW model output -> uint8 NHWC, ``pixel = round(255 * clip(x*std + mean, 0, 1))``."""
    x = np.asarray(x, np.float32)
    m = np.asarray(mean, np.float32).reshape(1, -1, 1, 1)
    s = np.asarray(std, np.float32).reshape(1, -1, 1, 1)
    y = np.clip(x * s + m, 0.0, 1.0)
    return np.rint(y * 255.0).astype(np.uint8).transpose(0, 2, 3, 1)


# --------------------------------------------------------------------------- bundle


def _verify_hash(f: Path, want: Any, mpath: Path) -> None:
    """sha256 of ``f`` (a confined bundle file) against the manifest's ``want``."""
    if not want or not isinstance(want, str):
        raise BundleError(f"{f}: no sha256 in {mpath} (write it with write_manifest)")
    got = sha256_file(f)
    if got != want.lower():
        raise BundleError(f"{f}: sha256 mismatch, expected {want}, actual {got}")


class ManifestBundle:
    """Manifest access shared by :class:`Bundle` (local ONNX files) and
    :class:`gr_semcod.serve.RemoteBundle` (models run by ``semcod serve``).

    Subclasses set ``self.manifest`` and define :attr:`where` (the text that starts an error:
    the manifest path or the server address), ``session`` and ``run``.
    """

    manifest: Dict[str, Any]

    @property
    def where(self) -> str:
        raise NotImplementedError

    @property
    def name(self) -> str:
        return str(self.manifest.get("name", self.where))

    @property
    def roles(self) -> List[str]:
        return list(self.manifest["models"])

    @property
    def image(self) -> Dict[str, Any]:
        return dict(self.manifest.get("image", {}))

    @property
    def image_size(self) -> Optional[tuple]:
        size = self.image.get("size")
        return tuple(int(s) for s in size) if size else None

    @property
    def tokens(self) -> Dict[str, Any]:
        return dict(self.manifest.get("tokens", {}))

    @property
    def cbrs(self) -> List[Any]:
        return list(self.manifest.get("cbr", []))

    @property
    def meta(self) -> Dict[str, Any]:
        return dict(self.manifest.get("meta", {}))

    def has(self, role: str) -> bool:
        return role in self.manifest["models"]

    def model(self, role: str) -> Dict[str, Any]:
        """Manifest entry of ``role``."""
        try:
            return self.manifest["models"][role]
        except KeyError:
            raise BundleError(f"{self.where}: no model for role {role!r}; bundle has {self.roles}") from None

    def input_specs(self, role: str) -> Dict[str, Dict[str, Any]]:
        return dict(self.model(role).get("inputs", {}))

    def output_specs(self, role: str) -> Dict[str, Dict[str, Any]]:
        return dict(self.model(role).get("outputs", {}))

    def _mean_std(self):
        ch = int(self.image.get("channels", 3))
        return self.image.get("mean", [0.0] * ch), self.image.get("std", [1.0] * ch)

    def normalize(self, images: np.ndarray) -> np.ndarray:
        """uint8 NHWC -> float32 NCHW with the manifest's mean/std (default 0 / 1)."""
        return normalize_images(images, *self._mean_std())

    def denormalize(self, x: np.ndarray) -> np.ndarray:
        """float NCHW -> uint8 NHWC with the manifest's mean/std."""
        return denormalize_images(x, *self._mean_std())


class Bundle(ManifestBundle):
    """A loaded bundle: manifest + lazily created ONNX Runtime sessions (one per role)."""

    def __init__(
        self,
        root: Path,
        manifest: Dict[str, Any],
        providers: List[str],
        intra_op_threads: Optional[int] = None,
        inter_op_threads: Optional[int] = None,
    ):
        self.root = Path(root)
        self.manifest = manifest
        self.providers = providers
        self.intra_op_threads = intra_op_threads
        self.inter_op_threads = inter_op_threads
        self._sessions: Dict[str, Any] = {}

    # ---------------------------------------------------------------- loading
    @classmethod
    def load(
        cls,
        path: PathLike,
        providers: Optional[Sequence[str]] = None,
        verify: bool = True,
        intra_op_threads: Optional[int] = None,
        inter_op_threads: Optional[int] = None,
    ) -> "Bundle":
        """Read and validate ``<path>/manifest.json`` (``path`` may also be the manifest file).

        Every model file must exist; with ``verify`` its sha256 must match the manifest.
        ``intra_op_threads`` / ``inter_op_threads`` go to ORT's SessionOptions (None = ORT
        default, all cores).
        """
        path = Path(path)
        mpath = path if path.name == MANIFEST or path.is_file() else path / MANIFEST
        root = mpath.parent
        if not mpath.is_file():
            raise BundleError(f"{mpath}: bundle manifest not found")
        try:
            manifest = json.loads(mpath.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise BundleError(f"{mpath}: cannot parse manifest: {e}") from None
        validate_manifest(manifest, str(mpath))
        for role, m in manifest["models"].items():
            what = f"{mpath}: models[{role!r}]"
            f = bundle_file(root, m["file"], f"{what}.file")
            listed = _listed_external(m)
            for name in listed:
                bundle_file(root, name, f"{what}.external_data")
            if not f.is_file():
                raise BundleError(f"{f}: model file for role {role!r} not found (listed in {mpath})")
            referenced = model_external_data(root, f, what)  # confined, whether verified or not
            if verify:
                _verify_hash(f, m.get("sha256"), mpath)
                for name in referenced:
                    if name not in listed:
                        raise BundleError(f"{f}: references external data {name!r}, which is not listed in "
                                          f"models[{role!r}].external_data of {mpath} (its weights would load "
                                          f"unverified; rewrite the manifest with write_manifest)")
                for name, want in listed.items():
                    g = root / name
                    if not g.is_file():
                        raise BundleError(f"{g}: external data of role {role!r} not found (listed in {mpath})")
                    _verify_hash(g, want, mpath)
        return cls(root, manifest, select_providers(providers), intra_op_threads, inter_op_threads)

    @property
    def where(self) -> str:
        return str(self.root / MANIFEST)

    @property
    def name(self) -> str:
        return str(self.manifest.get("name", self.root.name))

    def path(self, role: str) -> Path:
        return self.root / self.model(role)["file"]

    # ---------------------------------------------------------------- sessions
    def session(self, role: str):
        """The (cached) ``onnxruntime.InferenceSession`` of ``role``.

        On creation the model's input/output names are checked against the manifest.
        """
        if role in self._sessions:
            return self._sessions[role]
        import onnxruntime as ort

        f = self.path(role)
        opts = ort.SessionOptions()
        if self.intra_op_threads is not None:
            opts.intra_op_num_threads = int(self.intra_op_threads)
        if self.inter_op_threads is not None:
            opts.inter_op_num_threads = int(self.inter_op_threads)
        try:
            sess = ort.InferenceSession(str(f), sess_options=opts, providers=self.providers)
        except Exception as e:  # onnxruntime raises its own exception types
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise BundleError(f"{f}: onnxruntime cannot load the model: {first}") from None
        m = self.model(role)
        for io, args in (("inputs", sess.get_inputs()), ("outputs", sess.get_outputs())):
            declared = m.get(io)
            if declared is None:
                continue
            names = [a.name for a in args]
            if sorted(names) != sorted(declared):
                raise BundleError(
                    f"{f}: model {io} are {names} but the manifest declares {list(declared)}"
                )
            for a in args:
                want = declared[a.name]["shape"]
                have = list(a.shape)
                fixed_clash = len(have) != len(want) or any(
                    isinstance(h, int) and isinstance(w, int) and h != w for h, w in zip(have, want)
                )
                if fixed_clash:
                    raise BundleError(
                        f"{f}: model {io[:-1]} {a.name!r} has shape {_fmt_shape(have)} but the "
                        f"manifest declares {_fmt_shape(want)}"
                    )
        self._sessions[role] = sess
        return sess

    def run(self, role: str, outputs: Optional[Sequence[str]] = None, **inputs) -> Dict[str, np.ndarray]:
        """Run ``role`` on keyword ``inputs``; return ``{output name: array}``.

        Inputs are checked against the manifest first (names, shape, dtype), so a wrong call
        fails with a one-line :class:`BundleError` instead of an ORT traceback.
        """
        sess = self.session(role)
        specs = self.model(role).get("inputs")
        if specs is None:
            specs = {
                a.name: {"shape": [d if isinstance(d, int) else str(d) for d in a.shape],
                         "dtype": _ORT_TYPES.get(a.type, "float32")}
                for a in sess.get_inputs()
            }
        feeds = check_inputs(f"{self.path(role)} ({role})", specs, inputs)
        names = list(outputs) if outputs is not None else [o.name for o in sess.get_outputs()]
        try:
            results = sess.run(names, feeds)
        except Exception as e:  # ORT errors are multi-line; keep the first line
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise BundleError(f"{self.path(role)} ({role}): onnxruntime failed: {first}") from None
        return dict(zip(names, results))

    def __repr__(self) -> str:
        return f"Bundle({str(self.root)!r}, roles={self.roles}, providers={self.providers})"


def load_bundle(path: PathLike, **kwargs) -> Bundle:
    """Shorthand for :meth:`Bundle.load`."""
    return Bundle.load(path, **kwargs)
