"""`spacy_bert_ner.TransformerModel.v1`: spacy-transformers' TransformerModel.v3, run in length
buckets, trained in bfloat16 on a CPU that has it natively if asked, predicting in the precision
asked for (float32, bfloat16, int8 or auto: precision.py).

    [components.transformer.model]
    @architectures = "spacy_bert_ner.TransformerModel.v1"
    name = "bert-base-cased"
    bucket_overhead = 64
    int8_bucket_overhead = 32
    cpu_bfloat16 = false
    precision = "float32"
    # ... and the settings of spacy-transformers.TransformerModel.v3

The model is TransformerModel.v3's own (same weights, serialization, alignment and listeners);
only the call into the Hugging Face model is wrapped (see length_buckets.py, precision.py,
cpu_bfloat16.py and onnx_int8.py), and the token-to-wordpiece alignment is computed by vectorised
code (alignment.py). The int8 graph, once built, is kept in the HF layer's attributes and saved
with them.
"""

from collections.abc import Callable

from spacy.util import registry
from spacy_transformers.architectures import create_TransformerModel_v3
from thinc.api import Model

from . import alignment, threads  # noqa: F401  (threads: one torch thread in worker processes)
from .length_buckets import InLengthBuckets
from .onnx_int8 import ATTR as INT8_GRAPH_ATTR
from .onnx_int8 import Int8Graph
from .precision import InPrecision, check_precision


@registry.architectures("spacy_bert_ner.TransformerModel.v1")
def transformer_model_in_length_buckets(
    name: str,
    get_spans: Callable,
    tokenizer_config: dict | None = None,
    transformer_config: dict | None = None,
    mixed_precision: bool = False,
    grad_scaler_config: dict | None = None,
    bucket_overhead: int = 64,
    int8_bucket_overhead: int = 32,
    cpu_bfloat16: bool = False,
    int8: bool = False,
    precision: str | None = None,
) -> Model:
    """spacy-transformers.TransformerModel.v3 whose transformer calls run in length buckets,
    training in bfloat16 on a CPU that has it natively if `cpu_bfloat16`, predicting on a CPU in
    `precision` ("float32", "bfloat16", "int8" or "auto"; None: from the older `int8` and
    `cpu_bfloat16` settings)."""
    precision = check_precision(precision, int8, cpu_bfloat16)
    for setting, value in (("bucket_overhead", bucket_overhead), ("int8_bucket_overhead", int8_bucket_overhead)):
        if value < 0:
            raise ValueError(f"{setting} must be 0 or more wordpieces, got {value}")
    model = create_TransformerModel_v3(
        name, get_spans, tokenizer_config or {}, transformer_config or {}, mixed_precision, grad_scaler_config or {}
    )
    # The one private thing touched: `_func`, the forward functions of the TransformerModel and of
    # spacy-transformers' HF wrapper layer (model.layers[0]). spacy-transformers has no public hook
    # around the alignment or the call into the Hugging Face model, and replacing the layers
    # would change what is serialized. The replacements are a module-level function and picklable
    # objects (not closures), so `pickle.dumps(nlp)` and `nlp.pipe(n_process=2)` under spawn keep
    # working.
    model._func = alignment.forward
    hf_layer = model.layers[0]
    in_precision = InPrecision(hf_layer._func, precision, cpu_bfloat16)
    hf_layer._func = InLengthBuckets(in_precision, bucket_overhead, int8_bucket_overhead)
    hf_layer.attrs[INT8_GRAPH_ATTR] = Int8Graph()
    return model
