"""`spacy_bert_ner.TransformerModel.v1`: spacy-transformers' TransformerModel.v3, run in length
buckets and, optionally, in bfloat16 on a CPU that has it natively.

    [components.transformer.model]
    @architectures = "spacy_bert_ner.TransformerModel.v1"
    name = "bert-base-cased"
    bucket_overhead = 64
    cpu_bfloat16 = false
    int8 = false
    # ... and the settings of spacy-transformers.TransformerModel.v3

The model is TransformerModel.v3's own (same weights, serialization, alignment and listeners);
only the call into the Hugging Face model is wrapped (see length_buckets.py, cpu_bfloat16.py and
int8.py), and the token-to-wordpiece alignment is computed by vectorised code (alignment.py).
"""

from collections.abc import Callable

from spacy.util import registry
from spacy_transformers.architectures import create_TransformerModel_v3
from thinc.api import Model

from . import alignment, threads  # noqa: F401  (threads: one torch thread in worker processes)
from .cpu_bfloat16 import InCPUBfloat16
from .int8 import InInt8
from .length_buckets import InLengthBuckets


@registry.architectures("spacy_bert_ner.TransformerModel.v1")
def transformer_model_in_length_buckets(
    name: str,
    get_spans: Callable,
    tokenizer_config: dict | None = None,
    transformer_config: dict | None = None,
    mixed_precision: bool = False,
    grad_scaler_config: dict | None = None,
    bucket_overhead: int = 64,
    cpu_bfloat16: bool = False,
    int8: bool = False,
) -> Model:
    """spacy-transformers.TransformerModel.v3 whose transformer calls run in length buckets, in
    bfloat16 on a CPU that has it natively if `cpu_bfloat16`, and predict with int8 linear layers
    on a CPU if `int8`."""
    if bucket_overhead < 0:
        raise ValueError(f"bucket_overhead must be 0 or more wordpieces, got {bucket_overhead}")
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
    forward = hf_layer._func
    if cpu_bfloat16:
        forward = InCPUBfloat16(forward)
    if int8:
        forward = InInt8(forward)
    hf_layer._func = InLengthBuckets(forward, bucket_overhead)
    return model
