#!/usr/bin/env bash
# The tuning sweep behind configs/aligned_*.cfg's defaults (docs/experiments.md): each variant of
# configs/aligned_cpu.cfg trains on CoNLL-2003 with the same data budget (6.5 epochs: 1648 steps
# of batch_by_padded 1000, 3152 of 500, 776 of 2000), learn rate warmup over the first 10%;
# the classic recipe runs at three learn rates. Dev F1 is meta.json's performance.ents_f of
# model-best (or metrics.json's ents_f for the baseline).
#
#   bash scripts/tune_conll.sh MODEL_DIR OUTPUT_DIR [GPU_ID] [SEED]
#
# On a GPU (GPU_ID 0) the 13 runs take about 10 minutes run 5 at a time; on 2 CPU cores each
# aligned run takes about 25 minutes. PARALLEL=N runs N at once (default 1).
set -euo pipefail
MODEL=${1:?model folder, e.g. assets/models/minilm}
OUT=${2:?output folder}
GPU=${3:--1}
SEED=${4:-0}
PARALLEL=${PARALLEL:-1}
TRAIN=corpus/conll/train.spacy
DEV=corpus/conll/dev.spacy
mkdir -p "$OUT"

spacy_run() {  # name config batch_size learn_rate steps eval_frequency [overrides...]
  local name=$1 config=$2 size=$3 rate=$4 steps=$5 every=$6
  shift 6
  python -m spacy train "$config" --output "$OUT/$name" --paths.train $TRAIN --paths.dev $DEV \
    --paths.transformer "$MODEL" --gpu-id "$GPU" --system.seed "$SEED" --training.max_epochs 0 \
    --training.patience 0 --training.max_steps "$steps" --training.optimizer.learn_rate.total_steps "$steps" \
    --training.optimizer.learn_rate.warmup_steps $(((steps + 5) / 10)) \
    --training.optimizer.learn_rate.initial_rate "$rate" --training.eval_frequency "$every" \
    --training.batcher.size "$size" "$@" > "$OUT/$name.log" 2>&1
}

baseline_run() {  # name learn_rate
  python -m spacy_bert_ner.cli baseline train $TRAIN $DEV "$OUT/$1" --model "$MODEL" --max-steps 3600 --learn-rate "$2" \
    --batch-size 16 --warmup-steps 100 --eval-every 450 --seed "$SEED" --gpu-id "$GPU" > "$OUT/$1.log" 2>&1
}

A=(configs/aligned_cpu.cfg 1000 1e-4 1648 206)
FIRST=(--components.aligned_ner.model.tok2vec.pooling first --components.aligned_ner.model.learn_transitions false)
RUNS=(
  "spacy_run A ${A[*]} ${FIRST[*]}"
  "spacy_run B configs/aligned_cpu.cfg 1000 2e-4 1648 206 ${FIRST[*]}"
  "spacy_run C configs/aligned_cpu.cfg 1000 5e-5 1648 206 ${FIRST[*]}"
  "spacy_run D configs/aligned_cpu.cfg 500 1e-4 3152 394 ${FIRST[*]}"
  "spacy_run E configs/aligned_cpu.cfg 2000 2e-4 776 97 ${FIRST[*]}"
  "spacy_run F ${A[*]} ${FIRST[*]} --components.transformer.model.get_spans.window 256 --components.transformer.model.get_spans.stride 224"
  "spacy_run G ${A[*]} --components.aligned_ner.model.tok2vec.pooling mean --components.aligned_ner.model.learn_transitions false"
  "spacy_run H ${A[*]} --components.aligned_ner.model.tok2vec.pooling first --components.aligned_ner.model.learn_transitions true"
  "spacy_run I ${A[*]} ${FIRST[*]} --training.accumulate_gradient 1"
  "spacy_run J configs/ner_cpu.cfg 1000 1e-4 1648 206"
  "spacy_run HG ${A[*]}"
  "baseline_run K 2e-5"
  "baseline_run L 5e-5"
  "baseline_run M 1e-4"
)
for run in "${RUNS[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$PARALLEL" ]; do sleep 5; done
  echo "$run"
  $run &
done
wait
for name in A B C D E F G H I J HG; do
  python -c "import json,sys; print(sys.argv[1], json.load(open(sys.argv[2]))['performance']['ents_f'])" \
    "$name" "$OUT/$name/model-best/meta.json"
done
for name in K L M; do
  python -c "import json,sys; print(sys.argv[1], json.load(open(sys.argv[2]))['ents_f'])" "$name" "$OUT/$name/metrics.json"
done
