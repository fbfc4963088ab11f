"""Run machinery shared by every stage (GRPO training, SFT, evaluation), below all of them so no stage
imports another for it.

ray_setup.py   connect to / start Ray (loopback by default)    data_setup.py  where a run's studies come from
data_check.py  every row validated before any actor starts      sampler.py     task-mixed, resumable study batches
metrics_log.py JSONL + TensorBoard metrics                      run_dir.py     absolute output directories
units.py       per-(study, task) unit keys
"""
