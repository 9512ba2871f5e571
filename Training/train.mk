# EPRNet training toolchain. Included by the top-level Makefile; paths are relative to the repo root.
# MODEL=eprnet-light selects the light variant for every target.

MODEL        ?= eprnet
SYS_PY       := /usr/bin/python3
TRAIN_VENV   := Training/.venv
TRAIN_PY     := $(abspath $(TRAIN_VENV))/bin/python
OV_PY        := $(abspath .venv-ov)/bin/python
# DATASET=cityscapes trains on the standard Cityscapes layout (EPR_CITYSCAPES or ../shared/datasets/cityscapes).
DATASET      ?= camvid
RUN_DIR      := runs/$(MODEL)-$(DATASET)
# The run's resumable state, committed (runstate.py): what survives the machine.
RUN_STATE    := checkpoints/$(MODEL)-$(DATASET).pt
RUNS         := eprnet eprnet-light
MODEL_ONNX   := ../Models/$(MODEL)-$(DATASET).onnx
MODEL_INT8   := ../Models/$(MODEL)-$(DATASET)-int8.xml
TRAIN_ARGS   ?= --epochs 150 --batch 8 --crop 256 256 --lr 0.02 --wd 2e-4 --photometric --dataset $(DATASET)
# A new run starts from the shipped model (warmstart.py) at the epoch it reached, when there is
# one for this model and dataset; INIT_ONNX= for a run from scratch.
INIT_ONNX    ?= $(if $(wildcard Models/$(MODEL)-$(DATASET).onnx),$(MODEL_ONNX))
DEVICE       ?= cpu
# 1 thread while Swift builds share the 2 cores (8.6 s/step vs 40 s/step with 2 threads, which
# stall at every OpenMP barrier when a core is taken); THREADS=2 on an idle machine (3.8 vs 6 s).
THREADS      ?= 1
ORT_VERSION  := 1.31.1

.PHONY: training-venv train train-resume train-save train-resume-all train-status train-status-all precise-bn-report export eval-model quantize fixtures model-card models test-training

# Debian's torch/numpy/onnx/matplotlib/pytest are seen through --system-site-packages; only
# onnxruntime is added, with numpy pinned to Debian's so torch keeps working.
$(TRAIN_VENV)/.ready:
	$(SYS_PY) -c "import torch, numpy, PIL, matplotlib, onnx, pytest" || { echo "need apt: python3-torch python3-numpy python3-pil python3-matplotlib python3-onnx python3-pytest python3-venv"; exit 1; }
	$(SYS_PY) -m venv --system-site-packages $(TRAIN_VENV)
	$(TRAIN_VENV)/bin/pip install -q onnxruntime==$(ORT_VERSION) "numpy==$$($(SYS_PY) -c 'import numpy; print(numpy.__version__)')"
	touch $@
training-venv: $(TRAIN_VENV)/.ready

# Long runs go to the background (nice, nohup); the log is Training/$(RUN_DIR)/train.out.
# Two processes on one run directory would overwrite each other's checkpoints.
# $(call training_now,DIR): a shell test, true while the process in DIR/pid is alive.
training_now = [ -f $(1)/pid ] && kill -0 "$$(cat $(1)/pid)" 2>/dev/null
define refuse_if_running
	@if $(call training_now,Training/$(RUN_DIR)); then \
	  echo "Training/$(RUN_DIR) is already being trained (pid $$(cat Training/$(RUN_DIR)/pid))"; exit 1; fi
endef

train: $(TRAIN_VENV)/.ready
	$(refuse_if_running)
	@test ! -e Training/$(RUN_DIR)/last.pt || { echo "Training/$(RUN_DIR) already has a run: make train-resume"; exit 1; }
	mkdir -p Training/$(RUN_DIR)
	cd Training && nohup nice -n 10 $(TRAIN_PY) -m eprnet.train --model $(MODEL) --out $(RUN_DIR) --device $(DEVICE) --threads $(THREADS) $(TRAIN_ARGS) $(if $(INIT_ONNX),--init-onnx $(INIT_ONNX)) >> $(RUN_DIR)/train.out 2>&1 & echo "$$!" > Training/$(RUN_DIR)/pid
	@echo "training in the background; log: Training/$(RUN_DIR)/train.out"

# On a fresh clone the run directory comes from the committed state first; a run with no
# finished epoch anywhere starts with the recipe (make train), never with train.py's defaults.
train-resume: $(TRAIN_VENV)/.ready
	$(refuse_if_running)
	cd Training && $(TRAIN_PY) -m eprnet.runstate restore --state $(RUN_STATE) --run $(RUN_DIR)
	@if [ ! -f Training/$(RUN_DIR)/last.pt ]; then \
	  echo "Training/$(RUN_DIR) has no finished epoch: starting it"; \
	  $(MAKE) --no-print-directory train MODEL=$(MODEL) THREADS=$(THREADS) DEVICE=$(DEVICE); \
	else \
	  cd Training && nohup nice -n 10 $(TRAIN_PY) -m eprnet.train --out $(RUN_DIR) --device $(DEVICE) --threads $(THREADS) --resume >> $(RUN_DIR)/train.out 2>&1 & echo "$$!" > Training/$(RUN_DIR)/pid; \
	  echo "resumed in the background; log: Training/$(RUN_DIR)/train.out"; \
	fi

# Every run's latest state into Training/checkpoints/ (replaced in place) and staged for commit.
# Commit it before the machine goes: once a working day, not once an epoch (history size).
train-save: $(TRAIN_VENV)/.ready
	@for m in $(RUNS); do \
	  [ -f Training/runs/$$m-camvid/last.pt ] || continue; \
	  (cd Training && $(TRAIN_PY) -m eprnet.runstate save --run runs/$$m-camvid --state checkpoints/$$m-camvid.pt) || exit 1; \
	  git add Training/checkpoints/$$m-camvid.pt; \
	done

precise-bn-report: $(TRAIN_VENV)/.ready
	cd Training && $(TRAIN_PY) -m eprnet.precise_bn --ckpt $(RUN_DIR)/best.pt --threads $(THREADS)

train-status:
	@tail -n 3 Training/$(RUN_DIR)/train.out; tail -n 1 Training/$(RUN_DIR)/log.csv 2>/dev/null

# Both runs at once, one thread each (what the 2-core machine does best; see Training/README.md);
# a run that is already going is left alone.
train-resume-all:
	-$(MAKE) --no-print-directory train-resume MODEL=eprnet THREADS=1
	-$(MAKE) --no-print-directory train-resume MODEL=eprnet-light THREADS=1

train-status-all:
	@for m in eprnet eprnet-light; do echo "== $$m"; $(MAKE) --no-print-directory train-status MODEL=$$m; done

export: $(TRAIN_VENV)/.ready
	cd Training && $(TRAIN_PY) -m eprnet.export --ckpt $(RUN_DIR)/best.pt --out $(MODEL_ONNX)

# Figures for the model card come from here: the shipped ONNX file run with ONNX Runtime.
eval-model: $(TRAIN_VENV)/.ready
	cd Training && $(TRAIN_PY) -m eprnet.evaluate --onnx $(MODEL_ONNX) --dataset $(DATASET) --out ../Models/$(MODEL)-$(DATASET)-val
	$(if $(filter camvid,$(DATASET)),cd Training && $(TRAIN_PY) -m eprnet.card --collect $(RUN_DIR) --name $(MODEL)-camvid)

quantize:
	@test -x $(OV_PY) || { echo "need .venv-ov (python3 -m venv .venv-ov && .venv-ov/bin/pip install openvino==2026.4.1 nncf==3.4.0 onnx pillow numpy)"; exit 1; }
	cd Training && $(OV_PY) -m eprnet.quantize --onnx $(MODEL_ONNX) --out $(MODEL_INT8) --report ../Models/$(MODEL)-$(DATASET)-int8-val

fixtures: $(TRAIN_VENV)/.ready
	cd Training && $(TRAIN_PY) -m eprnet.fixtures --onnx ../Models/eprnet-camvid.onnx --out ../Tests/EPRStreamTests/Fixtures/labels

model-card: $(TRAIN_VENV)/.ready
	cd Training && $(TRAIN_PY) -m eprnet.card

# Everything shipped in Models/ from the run's best.pt; for EPRNet also the Swift fixtures and
# eval reference (the Swift tests check the default model).
models: export eval-model quantize $(if $(filter eprnet,$(MODEL)),fixtures eval-reference) model-card

test-training: $(TRAIN_VENV)/.ready
	cd Training && $(TRAIN_PY) -m pytest

# ---- GPU path (eprnet/gpu_train.py; Training/README.md "Training on a GPU machine") ----
# The GPU machine has PyTorch in its own python3, 16 cores, no network and nothing of this
# setup: these targets use neither Training/.venv nor the network there. The data travels as one
# git-ignored folder, named in the device tool's carry: Training/gpu-data (make gpu-data, here).
GPU_PY         ?= python3
GPU_DEVICE     ?= cuda
# Seconds per model process: both run side by side inside one 9-minute device call.
GPU_TIME       ?= 480
GPU_EPOCHS     ?= 600
GPU_TRAIN_ARGS ?= --epochs $(GPU_EPOCHS) --batch 16 --crop 256 256 --wd 2e-4 --photometric --init-onnx $(MODEL_ONNX)
# A GPU run's state (relative to Training/): a call continues it when it is there, else starts
# from GPU_TRAIN_ARGS; train-gpu-save puts a fetched one here and restores it into GPU_RUN_DIR.
GPU_STATE      ?= checkpoints/$(MODEL)-gpu.pt
GPU_RUN_DIR    ?= runs/$(MODEL)-gpu

.PHONY: gpu-data train-gpu train-gpu-all train-gpu-save

gpu-data:
	cd Training && $(SYS_PY) -m eprnet.gpu_data --out gpu-data

train-gpu:
	@test -n "$(OUT)" || { echo "OUT=folder needed (on the device machine: OUT=\$$OUT)"; exit 1; }
	@test -f Training/gpu-data/train.txt || { echo "no Training/gpu-data: make gpu-data, and carry it"; exit 1; }
	cd Training && $(GPU_PY) -m eprnet.gpu_train --model $(MODEL) --out $(abspath $(OUT))/$(MODEL) --data gpu-data --device $(GPU_DEVICE) --time-limit $(GPU_TIME) --resume --state $(GPU_STATE) $(GPU_TRAIN_ARGS)

train-gpu-%:
	$(MAKE) --no-print-directory train-gpu MODEL=$*

# Both models at once, one process each: each is bound by kernel launches, not by the GPU.
train-gpu-all:
	$(MAKE) --no-print-directory -j2 train-gpu-eprnet train-gpu-eprnet-light

# FROM = the folder the device tool fetched $(OUT) into.
train-gpu-save: $(TRAIN_VENV)/.ready
	@test -f "$(FROM)/$(MODEL)/state.pt" || { echo "no $(FROM)/$(MODEL)/state.pt"; exit 1; }
	cd Training && mkdir -p "$$(dirname $(GPU_STATE))" && cp "$(abspath $(FROM))/$(MODEL)/state.pt" $(GPU_STATE) && $(TRAIN_PY) -m eprnet.runstate restore --state $(GPU_STATE) --run $(GPU_RUN_DIR)

# Accuracy on a sequence the model never saw (holdout.py): two arms that differ only by
# HOLDOUT_FLAG, trained on the other sequences, then exported (precise BN on their own train
# frames) and scored by ONNX Runtime on every labelled frame of HOLDOUT. last.pt, not best.pt,
# so nothing is chosen on the held-out frames.
HOLDOUT        ?= 0016E5
HOLDOUT_ROOT   := runs/holdout-$(HOLDOUT)
HOLDOUT_FLAG   ?= --photometric
HOLDOUT_SEED   ?= 1
# seed 1 keeps the folder names of the first A/B; other seeds get their own folders beside it
holdout_run     = $(HOLDOUT_ROOT)$(if $(filter-out 1,$(1)),-seed$(1))
HOLDOUT_RUNS   := $(call holdout_run,$(HOLDOUT_SEED))
HOLDOUT_ARGS   ?= --model $(MODEL) --epochs 50 --batch 8 --crop 256 256 --lr 0.02 --wd 2e-4 --val-bn running --seed $(HOLDOUT_SEED)
HOLDOUT_ARMS   ?= without with
# Each arm's flags on top of HOLDOUT_ARGS. ohem: the shipped recipe (photometric) with OHEM in place
# of the ENet class weights; ohem-weights: with OHEM on top of them. Both scored against the
# committed `with` arms (make holdout-ab HOLDOUT_ARMS=ohem).
HOLDOUT_FLAGS_without :=
HOLDOUT_FLAGS_with     = $(HOLDOUT_FLAG)
HOLDOUT_FLAGS_ohem    ?= --photometric --class-weights none --ohem 0.7
HOLDOUT_FLAGS_ohem-weights ?= --photometric --ohem 0.7
# The arms holdout-report and holdout-seeds put side by side (the difference is last minus first).
HOLDOUT_COMPARE ?= $(HOLDOUT_ARMS)
# Committed, so they outlive the machine (Training/runs/ does not): an arm's resumable state until
# it is reported (holdout-save / holdout-resume), then its evaluate.py result, which holdout-seeds reads.
holdout_state   = checkpoints/$(notdir $(call holdout_run,$(1)))-$(2).pt
holdout_result  = results/$(notdir $(call holdout_run,$(1)))-$(2).json

# $(1) = an arm's run folder, $(2) = train.py's arguments: one arm in the background, its pid beside it.
define holdout_train
(cd Training || exit 1; nohup nice -n 10 $(TRAIN_PY) -m eprnet.train $(2) --threads $(THREADS) --out $(1) \
	    >> $(1)/train.out 2>&1 & echo $$! > $(1)/pid)
endef

.PHONY: holdout-root holdout-ab holdout-resume holdout-save holdout-report holdout-seeds
# The held-out CamVid root (lists and symlinks), rewritten identically each time.
holdout-root: $(TRAIN_VENV)/.ready
	cd Training && $(TRAIN_PY) -m eprnet.holdout --sequence $(HOLDOUT) --out $(HOLDOUT_ROOT)

holdout-ab: holdout-root
	$(foreach a,$(filter-out without,$(HOLDOUT_ARMS)),$(if $(HOLDOUT_FLAGS_$(a)),,$(error arm $(a): no HOLDOUT_FLAGS_$(a))))
	for arm in $(HOLDOUT_ARMS); do dir=Training/$(HOLDOUT_RUNS)-$$arm; \
	  test ! -e $$dir/last.pt || { echo "$$dir already has a run: make holdout-resume, or move it away"; exit 1; }; \
	  if $(call training_now,$$dir); then echo "$$dir is training (pid $$(cat $$dir/pid))"; exit 1; fi; done
	$(foreach a,$(HOLDOUT_ARMS),mkdir -p Training/$(HOLDOUT_RUNS)-$(a) && \
	  $(call holdout_train,$(HOLDOUT_RUNS)-$(a),$(HOLDOUT_ARGS) --data $(HOLDOUT_ROOT) $(HOLDOUT_FLAGS_$(a)));)
	@echo "$(words $(HOLDOUT_ARMS)) arm(s) training in the background (Training/$(HOLDOUT_RUNS)-ARM/train.out); when done: make holdout-report"

# On any machine: each arm continues from its run folder, or else from its committed state.
holdout-resume: holdout-root
	for arm in $(HOLDOUT_ARMS); do run=$(HOLDOUT_RUNS)-$$arm; \
	  if $(call training_now,Training/$$run); then echo "$$run is training"; continue; fi; \
	  (cd Training && $(TRAIN_PY) -m eprnet.runstate restore --state $(call holdout_state,$(HOLDOUT_SEED),$$arm) --run $$run) || exit 1; \
	  test -f Training/$$run/last.pt || { echo "$$run: no run here and no committed state: make holdout-ab"; exit 1; }; \
	  $(call holdout_train,$$run,--resume); done

# Before the machine goes: each unreported arm's state into Training/checkpoints/, staged.
holdout-save: $(TRAIN_VENV)/.ready
	@for arm in $(HOLDOUT_ARMS); do run=$(HOLDOUT_RUNS)-$$arm; state=$(call holdout_state,$(HOLDOUT_SEED),$$arm); \
	  [ -f Training/$$run/last.pt ] || continue; \
	  [ ! -f Training/$(call holdout_result,$(HOLDOUT_SEED),$$arm) ] || { echo "$$run: reported, its result is committed"; continue; }; \
	  (cd Training && $(TRAIN_PY) -m eprnet.runstate save --run $$run --state $$state) || exit 1; \
	  git add Training/$$state; done

# The result replaces the arm's committed state (nothing left to resume).
holdout-report: $(TRAIN_VENV)/.ready
	for arm in $(HOLDOUT_ARMS); do run=$(HOLDOUT_RUNS)-$$arm; result=$(call holdout_result,$(HOLDOUT_SEED),$$arm); \
	  (cd Training && $(TRAIN_PY) -m eprnet.export --ckpt $$run/last.pt --out $$run/model.onnx --data $(HOLDOUT_ROOT) \
	    && $(TRAIN_PY) -m eprnet.evaluate --onnx $$run/model.onnx --data $(HOLDOUT_ROOT) --split test --out $$run/test \
	    && mkdir -p results && cp $$run/test.json $$result) || exit 1; \
	  git add Training/$$result; git rm -q -f --ignore-unmatch Training/$(call holdout_state,$(HOLDOUT_SEED),$$arm); done
	cd Training && $(TRAIN_PY) -m eprnet.holdout --compare $(foreach a,$(HOLDOUT_COMPARE),$(a)=$(call holdout_result,$(HOLDOUT_SEED),$(a))) | tee $(HOLDOUT_RUNS)-$(lastword $(HOLDOUT_COMPARE)).md

# After holdout-report for each seed (their committed results): the per-class table averaged
# over HOLDOUT_SEEDS, and each seed's mIoU. The default: the seeds whose results are committed.
HOLDOUT_SEEDS ?= 2 3
comma := ,
holdout-seeds: $(TRAIN_VENV)/.ready
	cd Training && $(TRAIN_PY) -m eprnet.holdout --compare $(foreach a,$(HOLDOUT_COMPARE),$(a)=$(subst $() ,$(comma),$(foreach s,$(HOLDOUT_SEEDS),$(call holdout_result,$(s),$(a))))) | tee $(HOLDOUT_ROOT)-seeds-$(lastword $(HOLDOUT_COMPARE)).md
