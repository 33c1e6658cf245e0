"""NIR export/import (lava_nt.converters.nir_io) and Norse 1.1's NIR importer.

Proofs:
* export -> nir.write -> nir.read (with nir's type check) -> import reproduces random networks
  bit for bit (every parameter and the spikes and bias currents of every layer under
  ``reference_run``): gains, biases, du = 1 / 0 < du < 1 / du = 0, dv = 0 / dv > 0, reset subtract
  (metadata), per-neuron, volumetric and explicitly grouped spiking biases (c_retention < 1 and
  = 1);
* without lava-nt's metadata the values derived from the NIR fields agree to ~1e-15 and the spikes
  are identical on the same networks;
* ``norse.torch.from_nir`` (norse 1.1, unchanged) runs ``norse_compat`` exports of networks
  without spiking biases with the same spikes; the default export needs the custom map
  (``to_norse``), which reproduces every network, spiking biases included;
* graphs written by other tools (Norse's own exporter, hand-built Linear/LIF/CubaLIF graphs)
  import, and every node that does not map is named in the error.
"""

import logging
import warnings

import h5py
import nir
import numpy as np
import pytest
import torch

from lava_nt.converters.model_file import ModelFileExistsError, save_model
from lava_nt.converters.nir_io import (
    DEFAULT_DT,
    NIRExportError,
    NIRImportError,
    export_nir,
    from_nir,
    import_nir,
    inline_subgraphs,
    norse_float64,
    read_nir,
    run_norse,
    to_nir,
    to_norse,
)
from lava_nt.network import LayerSpec, NetworkSpec, SpikingBiasSpec, reference_run
from lava_nt.nn.network import NTNetwork
from lava_nt.spec import ntlif_parameters, spiking_bias_parameters
from lava_nt.testing import SPIKING_BIAS_KINDS
from lava_nt.testing import random_spec as _random_spec

N_IN = 20
# (n, du, dv): du = 1 with dv > 0 (LIF) and dv = 0 (IF); 0 < du < 1 with dv > 0 (CubaLIF) and
# dv = 0 (LI + IF); du = 0 (I + LIF)
ALL_KINDS = [(16, 1.0, 0.2), (12, 0.5, 0.1), (8, 1.0, 0.0), (12, 0.3, 0.0), (8, 0.0, 0.3)]


def random_spec(seed, cfg=ALL_KINDS, spiking=False, subtract=(), bias_zero=()):
    """A random float network with the layers ``cfg`` (n, du, dv) (:func:`lava_nt.testing.
    random_spec`); ``spiking`` gives layer k a spiking bias of kind k % 4: per neuron (masked),
    volumetric, explicit groups (one silent bias neuron), c_retention = 1 (a NIR I node)."""
    kinds = [SPIKING_BIAS_KINDS[k % 4] for k in range(len(cfg))] if spiking else False
    return _random_spec(
        seed,
        sizes=(N_IN, *(n for n, _, _ in cfg)),
        du=[du for _, du, _ in cfg],
        dv=[dv for _, _, dv in cfg],
        spiking_bias=kinds,
        resets=["subtract" if k in subtract else "zero" for k in range(len(cfg))],
        zero_bias=bias_zero,
    )


def spikes_in(seed, T=30, B=12):
    return (np.random.default_rng(100 + seed).random((T, B, N_IN)) < 0.3).astype(np.float64)


def assert_same_spec(a: NetworkSpec, b: NetworkSpec):
    """Bitwise equality of every parameter."""
    assert a.sizes == b.sizes and a.fixed == b.fixed
    for la, lb in zip(a.layers, b.layers, strict=True):
        np.testing.assert_array_equal(la.weight, lb.weight)
        pa, pb = la.neuron, lb.neuron
        for f in ("du", "dv", "vth"):
            assert float(getattr(pa, f)) == float(getattr(pb, f)), f
        for f in ("bias", "gain"):
            np.testing.assert_array_equal(
                np.broadcast_to(getattr(pa, f), (la.n,)), np.broadcast_to(getattr(pb, f), (la.n,))
            )
        assert pa.reset_subtract == pb.reset_subtract
        assert (la.spiking_bias is None) == (lb.spiking_bias is None)
        if la.spiking_bias is not None:
            sa, sb = la.spiking_bias, lb.spiking_bias
            np.testing.assert_array_equal(sa.w_in, sb.w_in)
            if sa.mask is None:
                assert sb.mask is None
            else:
                np.testing.assert_array_equal(sa.mask, sb.mask)
            qa, qb = sa.params, sb.params
            for f in ("du", "dv", "vth"):
                assert float(getattr(qa, f)) == float(getattr(qb, f)), f
            for f in ("bias", "w_b", "c_retention"):
                np.testing.assert_array_equal(
                    np.broadcast_to(getattr(qa, f), (sa.m,)),
                    np.broadcast_to(getattr(qb, f), (sb.m,)),
                )
            if qa.group is None:
                assert qb.group is None
            else:
                np.testing.assert_array_equal(qa.group, qb.group)


def assert_same_run(a: NetworkSpec, b: NetworkSpec, x):
    ra, rb = reference_run(a, x, record=True)[1], reference_run(b, x, record=True)[1]
    for k, (la, lb) in enumerate(zip(ra, rb, strict=True)):
        np.testing.assert_array_equal(la["spikes"], lb["spikes"], err_msg=f"layer {k}")
        if la["bias_current"] is not None:
            np.testing.assert_allclose(la["bias_current"], lb["bias_current"], rtol=0, atol=1e-12)
    return sum(int(r["spikes"].sum()) for r in ra)


# ---- round trips ----------------------------------------------------------------------------
@pytest.mark.parametrize("spiking", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_round_trip_through_a_file_is_bit_exact(tmp_path, seed, spiking):
    spec = random_spec(seed, spiking=spiking, subtract=(1, 3))
    path = export_nir(spec, tmp_path / "net.nir", subtract_reset="metadata")
    graph = nir.read(path)  # nir's own reader with its type check: all parameters are vectors
    res = from_nir(graph)
    assert res.exact and res.dt == DEFAULT_DT
    assert_same_spec(spec, res.spec)
    n_spikes = assert_same_run(spec, res.spec, spikes_in(seed))
    assert n_spikes > 500
    assert import_nir(path).exact


@pytest.mark.parametrize("spiking", [False, True])
def test_round_trip_without_metadata_derives_the_same_network(tmp_path, spiking):
    for seed in (3, 4):
        spec = random_spec(seed, spiking=spiking)
        for how in ("ignored", "not written"):
            if how == "ignored":
                res = from_nir(to_nir(spec), use_metadata=False)
            else:
                path = export_nir(spec, tmp_path / f"{seed}{spiking}.nir", metadata=False)
                res = import_nir(path)
            assert not res.exact
            for la, lb in zip(spec.layers, res.spec.layers, strict=True):
                np.testing.assert_array_equal(la.weight, lb.weight)
                for f in ("du", "dv", "vth", "bias", "gain"):
                    np.testing.assert_allclose(
                        getattr(lb.neuron, f), getattr(la.neuron, f), rtol=1e-14, atol=1e-15
                    )
                if la.spiking_bias is not None:
                    qa, qb = la.spiking_bias.params, lb.spiking_bias.params
                    for f in ("du", "dv", "vth", "bias", "w_b"):
                        np.testing.assert_allclose(
                            getattr(qb, f), getattr(qa, f), rtol=1e-14, atol=1e-15
                        )
                    live = np.asarray(qa.w_b) != 0  # a silent bias neuron's decay is inert
                    np.testing.assert_allclose(
                        qb.c_retention[live], qa.c_retention[live], rtol=1e-14
                    )
            assert_same_run(spec, res.spec, spikes_in(seed))


def test_mapping_per_primitive():
    dt = 0.002
    g = np.array([0.5, 2.0])
    b = np.array([0.1, -0.3])
    W = np.array([[1.0, -2.0], [0.5, 0.25]])
    layers = []
    for du, dv in ((1.0, 0.25), (1.0, 0.0), (0.5, 0.25), (0.5, 0.0), (0.0, 0.25)):
        layers.append(LayerSpec(W, ntlif_parameters(2, du=du, dv=dv, vth=1.5, bias=b, gain=g)))
    layers[0].spiking_bias = SpikingBiasSpec(
        np.eye(2), spiking_bias_parameters(2, 2, w_b=[0.5, -1.0], c_retention=[0.75, 0.5])
    )
    graph = to_nir(NetworkSpec(2, layers), dt=dt)
    nd = graph.nodes
    assert graph.metadata["dt"] == dt
    types = {k: type(v).__name__ for k, v in nd.items()}
    assert types["layer0_neuron"] == "LIF" and types["layer1_neuron"] == "IF"
    assert types["layer2_neuron"] == "CubaLIF"
    assert [types[f"layer3_{s}"] for s in ("synapse", "current", "bias", "neuron")] == [
        "Affine", "LI", "Affine", "IF",
    ]  # fmt: skip
    assert types["layer4_current"] == "I" and types["layer4_neuron"] == "LIF"
    # du = 1, dv > 0: Affine(W, b) -> LIF(tau = dt/dv, r = g/dv, v_leak = 0)
    np.testing.assert_array_equal(nd["layer0_synapse"].bias, b)
    lif = nd["layer0_neuron"]
    np.testing.assert_allclose(lif.tau, dt / 0.25)
    np.testing.assert_allclose(lif.r, g / 0.25)
    np.testing.assert_array_equal(lif.v_leak, 0.0)
    np.testing.assert_array_equal(lif.v_threshold, 1.5)
    np.testing.assert_array_equal(lif.v_reset, 0.0)
    # du = 1, dv = 0: IF(r = g/dt)
    np.testing.assert_allclose(nd["layer1_neuron"].r, g / dt)
    # CubaLIF: tau_syn = dt/du, tau_mem = dt/dv, r = g/(du dv), v_leak = g b/dv, Affine bias 0
    cl = nd["layer2_neuron"]
    np.testing.assert_array_equal(nd["layer2_synapse"].bias, 0.0)
    np.testing.assert_allclose(cl.tau_syn, dt / 0.5)
    np.testing.assert_allclose(cl.tau_mem, dt / 0.25)
    np.testing.assert_allclose(cl.r, g / (0.5 * 0.25))
    np.testing.assert_allclose(cl.v_leak, g * b / 0.25)
    np.testing.assert_array_equal(cl.w_in, 1.0)
    # split: LI(tau = dt/du, r = 1/du) -> Affine(eye, b) -> IF; du = 0: I(r = 1/dt)
    np.testing.assert_allclose(nd["layer3_current"].tau, dt / 0.5)
    np.testing.assert_allclose(nd["layer3_current"].r, 2.0)
    np.testing.assert_array_equal(nd["layer3_bias"].weight, np.eye(2))
    np.testing.assert_array_equal(nd["layer3_bias"].bias, b)
    np.testing.assert_allclose(nd["layer4_current"].r, 1 / dt)
    # spiking bias: fan-out F[i, group(i)] = w_b, LI(tau = dt/(1-c), r = 1/((1-c) g)) with
    # c = c_retention
    sub = nd["layer0_spiking_bias"]
    assert types["layer0_spiking_bias"] == "NIRGraph"
    assert ("input", "layer0_spiking_bias") in graph.edges
    assert ("layer0_spiking_bias", "layer0_neuron") in graph.edges
    np.testing.assert_array_equal(sub.nodes["fan_out"].weight, np.diag([0.5, -1.0]))
    np.testing.assert_allclose(sub.nodes["leak"].tau, dt / np.array([0.25, 0.5]))
    np.testing.assert_allclose(sub.nodes["leak"].r, 1 / (np.array([0.25, 0.5]) * g))
    assert type(sub.nodes["neuron"]).__name__ == "IF"  # bias neurons: du = 1, dv = 0, g = 1


# ---- Norse 1.1 ------------------------------------------------------------------------------
def _norse_from_nir(graph, **kw):
    import norse.torch as norse_torch

    logging.disable(logging.WARNING)  # norse logs "r is expected to be 1" per node
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return norse_torch.from_nir(graph, **kw)
    finally:
        logging.disable(logging.NOTSET)


NORSE_CFG = [(16, 1.0, 0.2), (12, 0.5, 0.1), (10, 1.0, 0.0), (8, 1.0, 0.3)]


@pytest.mark.parametrize("seed", [0, 1])
def test_norse_from_nir_runs_norse_compat_exports(tmp_path, seed):
    spec = random_spec(seed, NORSE_CFG, bias_zero=(1,))  # CubaLIF layer without bias
    x = spikes_in(seed)
    ref = reference_run(spec, x)
    path = export_nir(spec, tmp_path / "compat.nir", norse_compat=True)
    graph = nir.read(path)
    # unchanged norse.torch.from_nir with its default dt (0.001 = lava-nt's DEFAULT_DT), float32
    out32 = run_norse(_norse_from_nir(graph), x, dtype=torch.float32)
    np.testing.assert_array_equal(out32, ref)
    assert ref.sum() > 200
    # norse_float64: same spikes after casting Norse's float32 parameters to float64
    np.testing.assert_array_equal(run_norse(norse_float64(_norse_from_nir(graph)), x), ref)
    # the compat graph imports back into lava-nt as an equivalent network (gains folded)
    back = from_nir(graph)
    assert not back.exact
    np.testing.assert_array_equal(reference_run(back.spec, x), ref)


def test_norse_from_nir_workarounds_are_needed():
    """What goes wrong with norse 1.1's importer and the default export, and what fixes it."""
    spec = random_spec(2, NORSE_CFG)
    x = spikes_in(2)
    ref = reference_run(spec, x)
    graph = to_nir(spec)  # r = g/dv, CubaLIF with v_leak = g b/dv
    plain = run_norse(norse_float64(_norse_from_nir(graph)), x)
    assert not np.array_equal(plain, ref)  # r dropped, CubaLIF v_leak fed into the synapse
    np.testing.assert_array_equal(run_norse(to_norse(graph), x), ref)  # custom import map
    # dt: Norse's from_nir must be given the graph's dt
    g1 = to_nir(spec, dt=1.0, norse_compat=False, metadata=True)
    np.testing.assert_array_equal(run_norse(to_norse(g1), x), ref)
    compat = to_nir(random_spec(2, NORSE_CFG, bias_zero=(1,)), dt=1.0, norse_compat=True)
    ref2 = reference_run(random_spec(2, NORSE_CFG, bias_zero=(1,)), x)
    assert not np.array_equal(run_norse(_norse_from_nir(compat), x, dtype=torch.float32), ref2)
    out = run_norse(_norse_from_nir(compat, dt=compat.metadata["dt"]), x, dtype=torch.float32)
    np.testing.assert_array_equal(out, ref2)


@pytest.mark.parametrize("seed", [0, 1])
def test_custom_norse_map_runs_every_network(tmp_path, seed):
    spec = random_spec(seed, spiking=True, subtract=(1, 2))
    x = spikes_in(seed)
    path = export_nir(spec, tmp_path / "sb.nir", subtract_reset="metadata")
    module = to_norse(path)  # inlined spiking-bias blocks, nirtorch.nir_to_torch, Norse cells
    np.testing.assert_array_equal(run_norse(module, x), reference_run(spec, x))
    flat = inline_subgraphs(nir.read(path))
    assert not any(isinstance(v, nir.NIRGraph) for v in flat.nodes.values())
    # lava-nt's importer recognises a spiking bias by its subgraph: the inlined form is refused
    with pytest.raises(NIRImportError) as err:
        from_nir(flat)
    assert err.value.node is not None


def test_import_norse_exported_graph(tmp_path):
    """Norse's own exporter (LIFBoxCell, per-neuron parameters, unbatched sample data, dt=1.0
    against Norse bug #411) imports into lava-nt with identical spikes."""
    import norse.torch as norse_torch
    from norse.torch.functional.lif_box import LIFBoxParameters

    torch.manual_seed(0)
    sizes = (N_IN, 12, 6)
    mods = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        lin = torch.nn.Linear(a, b, bias=k == 0)
        with torch.no_grad():
            lin.weight.mul_(10.0)
        p = LIFBoxParameters(
            tau_mem_inv=torch.full((b,), (100.0, 250.0)[k]), v_leak=torch.zeros(b),
            v_th=torch.full((b,), (0.5, 0.4)[k]), method="heaviside",
        )  # fmt: skip
        mods += [lin, norse_torch.LIFBoxCell(p)]
    model = norse_torch.SequentialState(*mods)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = norse_torch.to_nir(model, torch.zeros(N_IN), dt=1.0)
    nir.write(tmp_path / "norse.nir", graph)
    res = import_nir(tmp_path / "norse.nir")
    assert res.dt == DEFAULT_DT and not res.exact
    assert [ls.neuron.dv for ls in res.spec.layers] == pytest.approx([0.1, 0.25])
    x = spikes_in(0, T=50)
    model = model.double()
    outs, state = [], None
    with torch.no_grad():
        for t in range(x.shape[0]):
            o, state = model(torch.as_tensor(x[t]), state)
            outs.append(o.numpy())
    ours = reference_run(res.spec, x)
    np.testing.assert_array_equal(np.stack(outs), ours)
    assert ours.sum() > 50
    # with Norse 1.1's default dt=0.001 the exporter writes tau = dt/tau_mem_inv (#411):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bad = norse_torch.to_nir(model.float(), torch.zeros(N_IN))
    with pytest.raises(NIRImportError, match="shorter than the time step"):
        from_nir(bad)


def test_import_hand_built_graph_matches_nir_semantics():
    """A graph another tool could write: Linear + LIF with r and v_leak, CubaLIF with w_in,
    IF; lava-nt's import equals an independent forward-Euler run (the Norse-cell map)."""
    rng = np.random.default_rng(7)
    n0, n1, n2, n3 = N_IN, 10, 8, 6
    nodes = {
        "in": nir.Input(input_type={"input": np.array([n0])}),
        "fc1": nir.Linear(weight=rng.normal(0, 1, (n1, n0))),
        "lif": nir.LIF(
            tau=np.full(n1, 0.004),
            r=rng.uniform(2, 5, n1),
            v_leak=rng.normal(0, 0.3, n1),
            v_threshold=np.full(n1, 1.0),
        ),  # fmt: skip
        "fc2": nir.Affine(weight=rng.normal(0, 1, (n2, n1)), bias=np.zeros(n2)),
        "cuba": nir.CubaLIF(
            tau_syn=np.full(n2, 0.002),
            tau_mem=np.full(n2, 0.005),
            r=rng.uniform(6, 12, n2),
            v_leak=rng.normal(0, 0.2, n2),
            v_threshold=np.full(n2, 0.7),
            w_in=rng.uniform(0.5, 1.5, n2),
        ),  # fmt: skip
        "fc3": nir.Affine(weight=rng.normal(0, 1, (n3, n2)), bias=rng.normal(0, 0.1, n3)),
        "if": nir.IF(r=np.full(n3, 400.0), v_threshold=np.full(n3, 1.2)),
        "out": nir.Output(output_type={"output": np.array([n3])}),
    }
    names = list(nodes)
    graph = nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:], strict=True)))
    res = from_nir(graph, dt=0.001)
    assert [ls.neuron.du for ls in res.spec.layers] == pytest.approx([1.0, 0.5, 1.0])
    assert [ls.neuron.dv for ls in res.spec.layers] == pytest.approx([0.25, 0.2, 0.0])
    x = spikes_in(7, T=40)
    ours = reference_run(res.spec, x)
    np.testing.assert_array_equal(run_norse(to_norse(graph, dt=0.001), x), ours)
    assert ours.sum() > 50


# ---- refusals -------------------------------------------------------------------------------
def _chain(*nodes, n_in=4):
    d = {"input": nir.Input(input_type={"input": np.array([n_in])})}
    for name, node in nodes:
        d[name] = node
    d["output"] = nir.Output(output_type={"output": np.array([2])})
    names = list(d)
    return d, list(zip(names[:-1], names[1:], strict=True))


def _lif(n=2, **kw):
    p = dict(tau=np.full(n, 0.01), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n))
    p.update(kw)
    return nir.LIF(**p)


def _aff(n=2, n_in=4, bias=None):
    return nir.Affine(weight=np.ones((n, n_in)), bias=np.zeros(n) if bias is None else bias)


def _bad_graphs():
    cases = {}
    d, e = _chain(("fc", _aff()), ("d", nir.Delay(delay=np.ones(2))), ("lif", _lif()))
    cases["delay"] = (d, e, "d", "delays")
    li_pn = nir.LI(tau=np.array([0.01, 0.02]), r=np.ones(2), v_leak=np.zeros(2))
    d, e = _chain(("fc", _aff()), ("lif", _lif()), ("fc2", _aff(2, 2)), ("li", li_pn))
    cases["readout tau per neuron"] = (d, e, "li", "one decay per population")
    d, e = _chain(("fc", _aff()), ("lif", _lif(v_reset=np.array([0.0, -0.5]))))
    cases["v_reset"] = (d, e, "lif", "v_reset")
    d, e = _chain(("fc", _aff()), ("lif", _lif(tau=np.full(2, 1e-5))))
    cases["tau < dt"] = (d, e, "lif", "shorter than the time step")
    li = nir.LI(tau=np.ones(2), r=np.ones(2), v_leak=np.zeros(2))
    d, e = _chain(("fc", _aff()), ("li", li))
    cases["LI readout without a spiking layer"] = (d, e, "li", "at least one spiking layer")
    cuba = nir.CubaLIF(
        tau_syn=np.full(2, 0.01), tau_mem=np.full(2, 0.01), r=np.ones(2), v_leak=np.zeros(2),
        v_threshold=np.ones(2),
    )  # fmt: skip
    d, e = _chain(("fc", _aff(bias=np.ones(2))), ("cuba", cuba))
    cases["filtered affine bias"] = (d, e, "fc", "filtered")
    d, e = _chain(("fc", _aff()), ("s", nir.Scale(scale=np.ones(2))), ("lif", _lif()))
    cases["scale"] = (d, e, "s", "fold it")
    d, e = _chain(("fc", _aff()), ("thr", nir.Threshold(threshold=np.ones(2))))
    cases["threshold"] = (d, e, "thr", "")
    d, e = _chain(("fc", _aff()), ("lif", _lif()), ("fc2", _aff(2, 2)), ("lif2", _lif()))
    e.append(("lif2", "fc2"))  # recurrence
    cases["recurrent"] = (d, e, "lif2", "")
    d, e = _chain(("fc", _aff()), ("lif", _lif()))
    d["conv"] = nir.Conv2d(
        input_shape=np.array([2, 2]), weight=np.ones((1, 1, 1, 1)), stride=1, padding=0,
        dilation=1, groups=1, bias=np.zeros(1),
    )  # fmt: skip
    cases["conv"] = (d, e, "conv", "convolution")
    return cases


@pytest.mark.parametrize("case", list(_bad_graphs()))
def test_import_errors_name_the_node(case):
    d, e, node, words = _bad_graphs()[case]
    graph = nir.NIRGraph(nodes=d, edges=e, type_check=False)
    with pytest.raises(NIRImportError) as err:
        from_nir(graph, dt=0.001)
    assert err.value.node == node, str(err.value)
    assert f"'{node}'" in str(err.value) and words in str(err.value)


def test_import_refuses_a_bias_current_into_a_cubalif(tmp_path):
    spec = random_spec(0, [(8, 1.0, 0.2)], spiking=True)
    graph = to_nir(spec)
    sub = graph.nodes["layer0_spiking_bias"]
    cuba = nir.CubaLIF(
        tau_syn=np.full(8, 0.002), tau_mem=np.full(8, 0.005), r=np.ones(8), v_leak=np.zeros(8),
        v_threshold=np.ones(8),
    )  # fmt: skip
    graph.nodes["layer0_neuron"] = cuba
    graph.nodes["layer0_synapse"].bias = np.zeros(8)
    with pytest.raises(NIRImportError, match="CubaLIF") as err:
        from_nir(graph)
    assert err.value.node == "layer0_spiking_bias" and sub is graph.nodes["layer0_spiking_bias"]


def test_export_refusals(tmp_path):
    spec = random_spec(0, NORSE_CFG, subtract=(2,))
    with pytest.raises(NIRExportError, match="subtraction.*subtract_reset='metadata'"):
        to_nir(spec)
    g = to_nir(spec, subtract_reset="metadata")
    assert g.nodes["layer2_neuron"].metadata["lava_nt_reset"] == "subtract"
    assert from_nir(g).spec.layers[2].neuron.reset_subtract
    with pytest.raises(NIRExportError, match="from_nir resets"):
        to_nir(random_spec(0, NORSE_CFG, subtract=(2,), bias_zero=(1,)), norse_compat=True)
    with pytest.raises(NIRExportError, match="subtract_reset"):
        to_nir(random_spec(0, NORSE_CFG), subtract_reset="keep")
    with pytest.raises(NIRExportError, match="dt"):
        to_nir(random_spec(0, NORSE_CFG), dt=0.0)
    # Norse 1.1 cannot run: spiking biases, CubaLIF biases, LI/I synapses
    with pytest.raises(NIRExportError, match="spiking bias"):
        to_nir(random_spec(0, NORSE_CFG, spiking=True), norse_compat=True)
    with pytest.raises(NIRExportError, match="nonzero biases"):
        to_nir(random_spec(0, NORSE_CFG), norse_compat=True)
    with pytest.raises(NIRExportError, match="LI/I synapse"):
        to_nir(random_spec(0, [(8, 0.5, 0.0)]), norse_compat=True)
    # a spiking bias needs a nonzero target gain; c_retention cannot mix 1 and < 1
    sb_spec = random_spec(0, [(8, 1.0, 0.2)], spiking=True)
    sb_spec.layers[0].neuron = sb_spec.layers[0].neuron._replace(gain=np.r_[0.0, np.ones(7)])
    with pytest.raises(NIRExportError, match="gain 0"):
        to_nir(sb_spec)
    sb_spec = random_spec(0, [(8, 1.0, 0.2)], spiking=True)
    p = sb_spec.layers[0].spiking_bias.params
    sb_spec.layers[0].spiking_bias.params = p._replace(c_retention=np.r_[1.0, np.full(7, 0.5)])
    with pytest.raises(NIRExportError, match="c_retention mixes"):
        to_nir(sb_spec)
    # NIR is float: a fixed-point spec is refused with a hint
    from lava_nt.converters.quantize import quantize

    q, _ = quantize(random_spec(0, NORSE_CFG))
    with pytest.raises(NIRExportError, match="dequantize"):
        to_nir(q)
    with pytest.raises(NIRExportError, match="expected a NetworkSpec"):
        to_nir(42)


def test_sources_files_and_read_errors(tmp_path):
    spec = random_spec(5, spiking=True)
    net = NTNetwork.from_spec(spec, dtype=torch.float64)
    model = tmp_path / "model.h5"
    save_model(model, net)
    a = export_nir(spec, tmp_path / "a.nir")
    b = export_nir(net, tmp_path / "b.nir")
    c = export_nir(model, tmp_path / "c.nir")
    for p in (b, c):
        assert_same_spec(import_nir(a).spec, import_nir(p).spec)
    with pytest.raises(ModelFileExistsError):
        export_nir(spec, a)
    export_nir(spec, a, overwrite=True)
    with pytest.raises(NIRExportError, match="spiking bias"):  # failed export leaves no file
        export_nir(spec, tmp_path / "d.nir", norse_compat=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nir", "b.nir", "c.nir", "model.h5"]
    with pytest.raises(NIRImportError, match="does not exist"):
        read_nir(tmp_path / "missing.nir")
    (tmp_path / "junk.nir").write_bytes(b"not hdf5 at all" * 10)
    with pytest.raises(NIRImportError, match="not an HDF5 file"):
        read_nir(tmp_path / "junk.nir")
    with h5py.File(tmp_path / "empty.nir", "w") as f:
        f.create_dataset("version", data="1.0")
    with pytest.raises(NIRImportError, match="no '/node' group"):
        import_nir(tmp_path / "empty.nir")
    raw = a.read_bytes()
    (tmp_path / "trunc.nir").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(NIRImportError):
        import_nir(tmp_path / "trunc.nir")
