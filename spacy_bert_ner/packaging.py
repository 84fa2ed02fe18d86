"""A trained pipeline as a pip wheel that installs and loads on its own.

spaCy's `package` builds the package directory (meta, README, setup.py, the pipeline's data);
then, as its `--code` option does for single files, the runtime modules (spacy_bert_ner.pipeline)
are copied into the model's Python package and imported by its `__init__.py`, and the wheel is
built as spaCy builds it. The wheel therefore depends only on what a pipeline runs (spaCy,
spacy-transformers and through it transformers and torch, numpy), not on this library, whose
name nobody has claimed on the public index. spaCy's own `--code` cannot be used as it is: it
imports each file on its own to check it, and the runtime modules import each other.

If the library is installed next to the wheel, its entry points make spaCy use its
implementation, and the wheel's copy steps aside (see pipeline/aligned_ner.py).
"""

import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import spacy
from spacy import __version__ as spacy_version
from spacy import util
from spacy.cli.package import TEMPLATE_INIT, package

from . import pipeline

RUNTIME_DIR = Path(pipeline.__file__).parent
# the modules whose import registers something; the others are imported by these
REGISTERING_MODULES = (
    "aligned_ner",
    "wordpiece_pooling",
    "transformer",
    "sentence_spans",
    "corpus",
    "memory",
    "tokenizer",
)
LIBRARY = "spacy-bert-ner"


class PackagingError(ValueError):
    """A pipeline that cannot be packaged, or a failed build."""


def package_pipeline(
    model_dir: Path,
    output_dir: Path,
    *,
    name: str,
    version: str,
    meta_path: Path | None = None,
    precision: str | None = None,
) -> Path:
    """Build `output_dir/<lang>_<name>-<version>/dist/<...>.whl` and return its path. `precision`
    (None: as the pipeline's config has it) is written into the packaged config; with "int8" or
    "auto" the int8 graph is built into the package and the wheel requires ONNX Runtime."""
    model_dir, output_dir = Path(model_dir), Path(output_dir)
    if not (model_dir / "meta.json").is_file():
        raise PackagingError(f"{model_dir}: not a trained pipeline folder (no meta.json)")
    if not _has_build():
        raise PackagingError("building a wheel needs the `build` package: pip install build")
    output_dir.mkdir(parents=True, exist_ok=True)
    meta = merged_meta(model_dir, meta_path)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir, uses_int8 = with_precision(model_dir, precision, Path(tmp) / "pipeline")
        meta_file = Path(tmp) / "meta.json"
        meta_file.write_text(json.dumps(meta, indent=2), encoding="utf-8")
        package(
            model_dir,
            output_dir,
            meta_path=meta_file,
            name=name,
            version=version,
            create_sdist=False,
            create_wheel=False,
            force=True,
            silent=False,
        )
    # named as spaCy's package names it, from the meta it was given
    package_name = name if name.startswith(f"{meta['lang']}_") else f"{meta['lang']}_{name}"
    main_path = output_dir / f"{package_name}-{version}"
    vendor_runtime(main_path / package_name)
    set_requirements(main_path / "meta.json", onnxruntime=uses_int8)
    return build_wheel(main_path, f"{package_name}-{version}")


def merged_meta(model_dir: Path, template: Path | None) -> dict[str, Any]:
    """The pipeline's meta.json with the template's fields (description, licence, sources...) over it."""
    meta = json.loads((model_dir / "meta.json").read_text(encoding="utf-8"))
    if template is not None:
        if not Path(template).is_file():
            raise PackagingError(f"{template}: meta template not found")
        try:
            meta.update(json.loads(Path(template).read_text(encoding="utf-8")))
        except json.JSONDecodeError as err:
            raise PackagingError(f"{template}: not valid JSON: {err}") from err
    return meta


def vendor_runtime(package_path: Path) -> list[str]:
    """Copy the runtime modules next to the package's `__init__.py` and import them from it."""
    modules = sorted(path for path in RUNTIME_DIR.glob("*.py") if path.name != "__init__.py")
    for path in modules:
        shutil.copy(path, package_path / path.name)
    imports = "\n".join(f"from . import {module}  # noqa: F401" for module in REGISTERING_MODULES)
    (package_path / "__init__.py").write_text(TEMPLATE_INIT.format(imports=imports), encoding="utf-8")
    return [path.stem for path in modules]


def with_precision(model_dir: Path, precision: str | None, output_dir: Path) -> tuple[Path, bool]:
    """The pipeline as it is packaged, and whether it may predict in int8: with a `precision`,
    a copy at `output_dir` with it in each spacy_bert_ner.TransformerModel.v1's config and, for
    "int8" or "auto", the int8 graph built into it, so the installed wheel predicts without
    building one. With None, the pipeline as it is."""
    from spacy.util import load_config

    from .pipeline.onnx_int8 import ATTR, Int8EngineError
    from .pipeline.precision import PRECISIONS

    config = load_config(model_dir / "config.cfg", interpolate=False)
    transformers = [
        name
        for name, component in config["components"].items()
        if component.get("model", {}).get("@architectures") == "spacy_bert_ner.TransformerModel.v1"
    ]
    if precision is None or not transformers:
        settings = [config["components"][name]["model"] for name in transformers]
        return model_dir, any(s.get("int8") or s.get("precision") in ("int8", "auto") for s in settings)
    if precision not in PRECISIONS:
        raise PackagingError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    overrides = {}
    for name in transformers:
        overrides[f"components.{name}.model.precision"] = precision
        overrides[f"components.{name}.model.int8"] = False  # the older spelling, folded into precision
    nlp = spacy.load(model_dir, config=overrides)
    if precision in ("int8", "auto"):
        for name in transformers:
            hf_layer = nlp.get_pipe(name).model.layers[0]
            try:
                hf_layer.attrs[ATTR].ensure(hf_layer.shims[0]._model)
            except Int8EngineError as err:
                raise PackagingError(
                    f"--precision {precision} packages the int8 graph, which cannot be built: {err}"
                ) from err
    nlp.to_disk(output_dir)
    return output_dir, precision in ("int8", "auto")


def set_requirements(meta_path: Path, *, onnxruntime: bool = False) -> list[str]:
    """Requirements of the wheel (its METADATA's Requires-Dist, through the generated setup.py):
    spaCy's list less this library (its code is inside), spaCy itself as the minor version trained
    with (`spacy_version`), then what the runtime modules import directly, ONNX Runtime only for a
    pipeline that may predict in int8."""
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    requirements = [req for req in meta.get("requirements", []) if util.split_requirement(req)[0] != LIBRARY]
    present = {util.split_requirement(req)[0] for req in requirements}
    wanted = {"spacy": meta.get("spacy_version") or util.get_minor_version_range(spacy_version)}
    if onnxruntime:
        wanted["onnxruntime"] = util.get_minor_version_range(importlib.metadata.version("onnxruntime"))
    for dist, spec in {**wanted, **runtime_requirements()}.items():
        if dist not in present:
            requirements.append(f"{dist}{spec}")
    meta["requirements"] = requirements
    meta_path.write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return requirements


def runtime_requirements() -> dict[str, str]:
    """The runtime's direct imports beyond spaCy: spacy-transformers and transformers as the minor
    versions trained with; torch and numpy left open (users install the torch build that fits
    their hardware first)."""
    requirements = {
        dist: util.get_minor_version_range(importlib.metadata.version(dist))
        for dist in ("spacy-transformers", "transformers")
    }
    return {**requirements, "torch": ">=2.0", "numpy": ">=1.23"}


def build_wheel(main_path: Path, name_version: str) -> Path:
    """`python -m build --wheel`, as spaCy's package command runs it."""
    result = subprocess.run(
        [sys.executable, "-m", "build", ".", "--wheel"], cwd=main_path, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise PackagingError(f"building the wheel in {main_path} failed:\n{result.stderr[-3000:]}")
    wheel = main_path / "dist" / f"{re.sub('_+', '_', name_version)}-py3-none-any.whl"
    if not wheel.is_file():
        raise PackagingError(f"the build in {main_path} did not write {wheel.name}")
    return wheel


def _has_build() -> bool:
    try:
        importlib.metadata.version("build")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True
