"""The real CLI in a subprocess: --help texts, a one-epoch training smoke run, clear data errors."""


import pytest

from explorer.store.checkpoint import load_checkpoint

from conftest import run_cli


@pytest.mark.parametrize("cmd,flags", [
    ("train", ["--z-dim", "--hidden", "--epochs", "--batch-size", "--lr", "--data-dir", "--device",
               "--out", "--seed", "--resume", "--elbo"]),
    ("evaluate", ["--k", "--subset", "--particles", "--data-dir", "--device"]),
])
def test_help_explains_every_flag(cmd, flags):
    res = run_cli(cmd, "--help")
    assert res.returncode == 0, res.stderr
    for f in flags:
        assert f in res.stdout


def test_train_smoke_one_epoch(tmp_path, data_dir, mnist_train):
    out = tmp_path / "smoke.safetensors"
    res = run_cli("train", "--z-dim", "2", "--hidden", "32", "--epochs", "1", "--train-subset", "512",
                  "--batch-size", "128", "--data-dir", str(data_dir), "--device", "cpu", "--out", str(out))
    assert res.returncode == 0, res.stderr[-2000:]
    assert "test ELBO" in res.stdout
    ckpt = load_checkpoint(out)
    assert ckpt.config.z_dim == 2 and ckpt.config.hidden == (32,)
    rec = ckpt.record
    assert rec["epochs"] == 1 and rec["test_elbo"] < 0
    assert len(rec["data_sha256"]["train"]) == 64 and rec["versions"]["pyro"]


def test_missing_data_offline_is_one_clear_line(tmp_path):
    # An unreachable proxy stands in for "offline": torchvision's download fails fast.
    env = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "EXPLORER_DATA_DIR": ""}
    res = run_cli("train", "--epochs", "1", "--data-dir", str(tmp_path / "empty"), "--out",
                  str(tmp_path / "x.safetensors"), env=env, timeout=240)
    assert res.returncode == 2
    err = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(err) == 1 and "MNIST not found" in err[0] and "--data-dir" in err[0]
    assert "Traceback" not in res.stderr


def test_evaluate_bad_checkpoint_is_clear(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    res = run_cli("evaluate", str(bad))
    assert res.returncode == 2
    assert "bad.safetensors" in res.stderr and "Traceback" not in res.stderr
