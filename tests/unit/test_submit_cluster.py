"""`raytrain submit --cluster NAME`: the Kubernetes route to a cluster's Jobs API."""

from __future__ import annotations

from raytrain.cli import main


def test_submit_through_a_cluster_without_kubeconfig_says_which_file(capsys, tmp_path):
    code = main(["submit", "jobs/digits.yaml", "--cluster", "raytrain", "--kubeconfig", str(tmp_path / "none")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.splitlines()[0] == f"error: no kubeconfig at {tmp_path / 'none'}"
    assert "fix:" in err and "Traceback" not in err


def test_cluster_and_address_are_exclusive(capsys):
    try:
        main(["submit", "jobs/digits.yaml", "--cluster", "raytrain", "--address", "http://127.0.0.1:8265"])
    except SystemExit as exc:
        assert exc.code == 2
    else:
        raise AssertionError("--cluster with --address was accepted")
    assert "not allowed with argument" in capsys.readouterr().err


def test_notebook_connect_to_a_cluster_without_kubeconfig_says_which_file(tmp_path):
    import pytest

    import raytrain
    from raytrain.errors import RaytrainError

    with pytest.raises(RaytrainError, match="no kubeconfig at"):
        raytrain.connect(cluster="raytrain", namespace="raytrain-dev", kubeconfig=str(tmp_path / "none"))
    with pytest.raises(RaytrainError, match="give address or cluster, not both"):
        raytrain.connect("http://127.0.0.1:8265", cluster="raytrain")
