"""The metric benchmarks' CPU smoke runs (--tiny): every path runs and reports what the GPU
run reports (MFU rows, collected windows, float32 differences, precision rows)."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _run(script: str, out: Path) -> dict:
    proc = subprocess.run([sys.executable, str(BENCH / script), "--tiny", "--out", str(out)],
                          check=False, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.slow
def test_identity_benchmark_tiny(tmp_path):
    if importlib.util.find_spec("open_clip") is None:  # its BPE vocabulary builds the CLIP tokenizer
        pytest.skip("open_clip is not installed")
    r = _run("identity_metrics.py", tmp_path / "identity.json")
    assert r["shared"]["frames"] == 12 and r["collected"]["batched_calls"] > 0
    assert max(r["collected"]["max_abs_diff_vs_shared"].values()) < 1e-5  # batching changes nothing
    assert set(r["max_abs_diff_vs_float32"]) > {"subject-consistency", "identity-leakage", "sets"}
    (row,) = r["dino_mfu"]["by_batch"]
    assert row["batch"] == 4 and row["gflop_per_frame"] > 0 and row["end_to_end_frames_per_s"] > 0


@pytest.mark.slow
def test_motion_benchmark_tiny(tmp_path):
    r = _run("motion_metrics.py", tmp_path / "motion.json")
    f32, b16 = r["precision"]
    assert (f32["dtype"], b16["dtype"]) == ("float32", "bfloat16")
    assert set(b16["max_abs_diff_vs_float32"]) == {"decision", "pair_scores", "flow_px"}


def test_dino_kernel_benchmark_tiny_splits_the_pass_by_kind(tmp_path):
    r = _run("dino_kernels.py", tmp_path / "dino_kernels.json")
    shares = r["share_of_kernel_time"]
    assert sum(shares.values()) == pytest.approx(1.0) and {"matmul", "attention", "normalisation"} <= set(shares)
    flops = r["gflop_per_frame"]
    assert flops["matmul"] + flops["attention"] == pytest.approx(flops["total"]) and flops["attention"] > 0
    assert r["tflops_in_kernels"]["matmul"] > 0 and r["passes"]["eager"]["frames_per_s"] > 0


def test_kernel_names_are_sorted_into_kinds():
    spec = importlib.util.spec_from_file_location("dino_kernels", BENCH / "dino_kernels.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.kind_of("nvjet_tst_128x256_64x4_2x1_v_bz_coopB_TNT") == "matmul"
    assert bench.kind_of("void pytorch_flash::flash_fwd_kernel<Flash_fwd_kernel_traits>") == "attention"
    assert bench.kind_of("void at::native::(anonymous namespace)::vectorized_layer_norm_kernel") == "normalisation"
    assert bench.kind_of("void at::native::vectorized_elementwise_kernel<4, GeluCUDAKernelImpl>") == "activation"
    assert bench.kind_of("void at::native::vectorized_elementwise_kernel<4, CUDAFunctor_add>") == "elementwise"
    assert bench.kind_of("aten::addmm") == "matmul" and bench.kind_of("Memset (Device)") == "other"
