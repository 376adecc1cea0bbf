"""The names of the files in a run folder, in one place that imports nothing (the catalog reads run folders
without loading torch). What each holds is told in gan/rundir.py."""

CONFIG_FILE = "config.json"              # the resolved TrainConfig and the ModelConfig
METRICS_LOG = "metrics.jsonl"            # one JSON object per logged step or event
SAMPLES_DIR = "samples"                  # fixed-noise grids, step_000300.png
REAL_SAMPLES = "real.png"                # in SAMPLES_DIR: training images as D sees them, written once
CHECKPOINT = "checkpoint.pt"             # full training state for resume
SNAPSHOTS_DIR = "checkpoints"            # the generator (+ D) at each checkpoint: time travel and forks
MODEL_FILE = "generator.safetensors"     # the EMA generator (+ D), written at the end and by "Save model"
TENSORBOARD_DIR = "tensorboard"          # TensorBoard event files (tensorboard --logdir runs)
