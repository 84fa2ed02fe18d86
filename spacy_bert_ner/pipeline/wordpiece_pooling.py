"""Token vectors from the transformer's wordpiece-to-token alignment.

`doc._.trf_data.align` is a Ragged: row i lists the rows of the flattened wordpiece tensor
(spans x wordpieces, width) aligned to token i. This layer pools them per token, with choices
and edge cases made explicit instead of left to a generic reduce layer:

- `first`: the token's first wordpiece (the BertForTokenClassification recipe);
  `mean` / `max`: over all of its wordpieces ("label all subwords" variants).
- A token in the overlap of two strided windows is encoded once per window, each copy with
  its own context. `first` averages the first wordpiece of each window, `mean` averages every
  piece from every window, `max` takes the maximum over all of them; every copy gets gradient.
- A token with no aligned wordpiece (whitespace, cut by truncation, an empty doc) gets a zero
  vector, and no gradient flows from it.
"""

from collections.abc import Callable
from typing import cast

import numpy
from spacy.util import registry
from spacy_transformers.data_classes import TransformerData
from spacy_transformers.layers import TransformerListener
from thinc.api import Model, Ops, chain
from thinc.types import Floats2d, Ints1d, Ragged
from transformers.modeling_outputs import BaseModelOutput, ModelOutput

POOLING_MODES = ("first", "mean", "max")
Backprop = Callable[[Floats2d], Floats2d]


@registry.architectures("spacy_bert_ner.WordpieceListener.v1")
def wordpiece_listener(
    pooling: str = "first", grad_factor: float = 1.0, upstream: str = "*"
) -> Model[list, list[Floats2d]]:
    """Listen to a shared transformer and pool its wordpieces into one vector a token."""
    return chain(TransformerListener(upstream_name=upstream), wordpiece_pooler(pooling, grad_factor))


def wordpiece_pooler(pooling: str = "first", grad_factor: float = 1.0) -> Model[list[TransformerData], list[Floats2d]]:
    if pooling not in POOLING_MODES:
        raise ValueError(f"Unknown wordpiece pooling {pooling!r}: choose one of {POOLING_MODES}")
    return Model(
        "wordpiece_pooler",
        forward,
        init=init,
        dims={"nO": None},
        attrs={"pooling": pooling, "grad_factor": grad_factor},
    )


def init(model: Model, X: list[TransformerData] | None = None, Y: list[Floats2d] | None = None) -> None:
    if X is not None and not model.has_dim("nO"):
        widths = [trf.width for trf in X if "last_hidden_state" in trf.model_output]
        if widths:
            model.set_dim("nO", widths[0])


def forward(model: Model, trf_datas: list[TransformerData], is_train: bool) -> tuple[list[Floats2d], Callable]:
    mode, grad_factor = model.attrs["pooling"], model.attrs["grad_factor"]
    outputs: list[Floats2d] = []
    backprops: list[Backprop | None] = []
    for trf_data in trf_datas:
        n_tokens = len(trf_data.align.lengths)
        hidden = _hidden_state(trf_data)
        if hidden is None or hidden.size == 0:
            outputs.append(model.ops.alloc2f(n_tokens, _width(model, trf_data)))
            backprops.append(None)
            continue
        src = model.ops.reshape2f(hidden, -1, hidden.shape[-1])
        Y, backprop = pool_aligned(model.ops, src, trf_data.align, hidden.shape[1], mode)
        outputs.append(Y)
        backprops.append(backprop)

    def backprop_pooler(dYs: list[Floats2d]) -> list[TransformerData]:
        # Like spacy-transformers' trfs2arrays: docs the transformer produced no output for
        # (empty docs) get no gradient entry, which keeps the batch's vstack aligned.
        d_trf_datas = []
        for trf_data, dY, get_d_src in zip(trf_datas, dYs, backprops):
            hidden = _hidden_state(trf_data)
            if hidden is None:
                continue
            if get_d_src is None:
                d_hidden = model.ops.alloc(hidden.shape, dtype=hidden.dtype)
            else:
                d_hidden = get_d_src(dY).reshape(hidden.shape) * grad_factor
            d_trf_datas.append(
                TransformerData(
                    model_output=ModelOutput(last_hidden_state=d_hidden),
                    wordpieces=trf_data.wordpieces,
                    align=trf_data.align,
                )
            )
        return d_trf_datas

    return outputs, backprop_pooler


def pool_aligned(ops: Ops, src: Floats2d, align: Ragged, span_length: int, mode: str) -> tuple[Floats2d, Backprop]:
    """Pool rows of `src` (flattened spans x wordpieces) into one row per token of `align`."""
    lengths = numpy.asarray(ops.to_numpy(align.lengths), dtype="int64")
    indices = numpy.asarray(ops.to_numpy(align.dataXd), dtype="int64").reshape(-1)
    n_tokens, width = len(lengths), src.shape[1]
    tokens = numpy.repeat(numpy.arange(n_tokens), lengths)
    if mode == "max":
        return _pool_max(ops, src, indices, lengths, n_tokens)
    weights = _row_weights(tokens, indices, lengths, span_length, first_only=(mode == "first"))
    keep = weights > 0
    rows, tokens, weights = indices[keep], tokens[keep], weights[keep]
    rows_x, tokens_x = ops.asarray1i(rows), ops.asarray1i(tokens)
    weights_x = ops.asarray2f(weights.reshape(-1, 1).astype("float32"))
    Y = ops.alloc2f(n_tokens, width, dtype=src.dtype)
    ops.scatter_add(Y, tokens_x, src[rows_x] * weights_x)

    def backprop(dY: Floats2d) -> Floats2d:
        d_src = ops.alloc2f(*src.shape, dtype=src.dtype)
        ops.scatter_add(d_src, rows_x, dY[tokens_x] * weights_x)
        return d_src

    return Y, backprop


def _row_weights(tokens: Ints1d, rows: Ints1d, lengths: Ints1d, span_length: int, first_only: bool) -> numpy.ndarray:
    """Weight of each aligned row in its token's vector (rows weighted 0 are left out)."""
    if not first_only:
        return 1.0 / lengths[tokens] if len(tokens) else numpy.zeros(0)
    windows = rows // span_length
    # first wordpiece of each (token, window) pair, then average over the token's windows
    order = numpy.lexsort((rows, windows, tokens))
    is_first = numpy.ones(len(order), dtype=bool)
    is_first[1:] = (tokens[order][1:] != tokens[order][:-1]) | (windows[order][1:] != windows[order][:-1])
    firsts = numpy.zeros(len(rows), dtype=bool)
    firsts[order[is_first]] = True
    n_windows = numpy.bincount(tokens[firsts], minlength=len(lengths))
    weights = numpy.zeros(len(rows))
    weights[firsts] = 1.0 / n_windows[tokens[firsts]]
    return weights


def _pool_max(ops: Ops, src: Floats2d, rows: Ints1d, lengths: Ints1d, n_tokens: int) -> tuple[Floats2d, Backprop]:
    has_rows = lengths > 0
    rows_x = ops.asarray1i(rows)
    present = ops.asarray1i(numpy.flatnonzero(has_rows))
    lengths_x = ops.asarray1i(lengths[has_rows])
    Y = ops.alloc2f(n_tokens, src.shape[1], dtype=src.dtype)
    if len(rows) == 0:
        return Y, lambda dY: ops.alloc2f(*src.shape, dtype=src.dtype)
    maxes, which = ops.reduce_max(cast(Floats2d, src[rows_x]), lengths_x)
    Y[present] = maxes

    def backprop(dY: Floats2d) -> Floats2d:
        d_gathered = ops.backprop_reduce_max(dY[present], which, lengths_x)
        d_src = ops.alloc2f(*src.shape, dtype=src.dtype)
        ops.scatter_add(d_src, rows_x, d_gathered)
        return d_src

    return Y, backprop


def _hidden_state(trf_data: TransformerData):
    if "last_hidden_state" not in trf_data.model_output:
        return None
    return cast(BaseModelOutput, trf_data.model_output).last_hidden_state


def _width(model: Model, trf_data: TransformerData) -> int:
    hidden = _hidden_state(trf_data)
    if hidden is not None and hidden.ndim == 3:
        return hidden.shape[-1]
    return model.get_dim("nO") if model.has_dim("nO") is True else 0
