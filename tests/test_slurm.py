"""recipes/slurm/ssd_hf.sbatch without Slurm: fake SLURM_* variables and a fake `scontrol` (and `srun`) on PATH.

Checks the `accelerate launch` each node would run: machines, this node's rank, head node and port from the job,
processes = nodes x GPUs per node, the recipe and its flags passed through intact; and that accelerate's own
parser takes every argument.
"""

from __future__ import annotations

import os
import shlex
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "recipes", "slurm", "ssd_hf.sbatch")
HOSTS = ["gpu-07", "gpu-08", "gpu-09"]


@pytest.fixture
def fake_slurm(tmp_path):
    """A bin folder with `scontrol show hostnames` and an `srun` that runs its command once per node in turn."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tools = {
        "scontrol": f'[ "$1 $2" = "show hostnames" ] || exit 1\nprintf "%s\\n" {" ".join(HOSTS)}\n',
        "srun": 'while [ "$1" != bash ]; do shift; done\n'
                'for i in $(seq 0 $((SLURM_NNODES - 1))); do SLURM_NODEID=$i "$@" || exit 1; done\n',
        "accelerate": 'printf "%s\\n" "node $SLURM_NODEID ran: $*"\n',  # stands in for the real launcher
    }
    for name, body in tools.items():
        (bin_dir / name).write_text("#!/usr/bin/env bash\n" + body)
        (bin_dir / name).chmod(0o755)
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLURM_")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", SLURM_NNODES="3", SLURM_JOB_NODELIST="gpu-[07-09]",
               SLURM_JOB_ID="4242", SLURM_GPUS_PER_NODE="h100:4")
    return env


def run(env, *args, **extra) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", SCRIPT, *args], env={**env, **extra}, cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def node_commands(stdout: str) -> list[list[str]]:
    return [shlex.split(line.split(": ", 1)[1]) for line in stdout.splitlines() if line.startswith("node ")]


def test_dry_run_renders_one_accelerate_launch_per_node(fake_slurm):
    from accelerate.commands.launch import launch_command_parser

    done = run(fake_slurm, "recipes/qwen3_30b.py", "--config", "my run.yaml", "--output_dir", "/local/scratch/run1",
               SSD_SLURM_DRY_RUN="1")
    assert done.returncode == 0, done.stderr
    commands = node_commands(done.stdout)
    assert len(commands) == 3
    for rank, command in enumerate(commands):
        assert command[:2] == ["accelerate", "launch"]
        args = launch_command_parser().parse_args(command[2:])  # accelerate takes every flag as given
        assert (args.num_machines, args.machine_rank, args.num_processes) == (3, rank, 12)
        assert (args.main_process_ip, args.main_process_port) == ("gpu-07", 29500 + 4242 % 1000)
        assert args.config_file == "recipes/accelerate_configs/zero3.yaml"
        assert args.training_script == "recipes/qwen3_30b.py"
        assert args.training_script_args == ["--config", "my run.yaml", "--output_dir", "/local/scratch/run1"]


def test_srun_runs_the_launch_on_every_node(fake_slurm):
    done = run(fake_slurm, "recipes/qwen3_4b_instruct.py", ACCELERATE_CONFIG="recipes/accelerate_configs/ddp.yaml",
               MAIN_PROCESS_PORT="29611", SLURM_GPUS_PER_NODE="", SLURM_GPUS_ON_NODE="2")
    assert done.returncode == 0, done.stderr
    ran = [line for line in done.stdout.splitlines() if " ran: " in line]
    assert len(ran) == 3
    for rank, line in enumerate(ran):
        assert line.startswith(f"node {rank} ran: launch --config_file recipes/accelerate_configs/ddp.yaml "
                               f"--num_machines 3 --machine_rank {rank} --num_processes 6 --main_process_ip gpu-07 "
                               "--main_process_port 29611 recipes/qwen3_4b_instruct.py")


def test_missing_gpu_count_or_recipe_is_one_line(fake_slurm):
    no_gpus = run(fake_slurm, "recipes/qwen3_30b.py", SLURM_GPUS_PER_NODE="",
                  SSD_SLURM_DRY_RUN="1")
    if no_gpus.returncode == 0:  # a machine with nvidia-smi counts its own GPUs
        pytest.skip("nvidia-smi present")
    assert "GPUS_PER_NODE" in no_gpus.stderr and no_gpus.stdout == ""
    usage = run(fake_slurm, SSD_SLURM_DRY_RUN="1")
    assert usage.returncode == 2 and usage.stderr.startswith("usage: sbatch")
