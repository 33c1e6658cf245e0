"""NIR graphs written by snnTorch 1.0 (``export_to_nir``) and Norse 1.1 (``to_nir``) import into
lava-nt and run, in lava-nt's torch engine and on Lava, exactly as in the framework that wrote
them: the same spikes at every layer and the same readout values on the same input; lava-nt
networks with readouts export to NIR and come back bit for bit.

Proofs (every comparison on the same random input, frameworks run in float64):
* snnTorch ``Leaky`` / ``Synaptic`` layers (per-neuron thresholds, biases, graded input) equal
  lava-nt torch float64 and Lava float spike for spike at every layer; a membrane readout
  (``Leaky(reset_mechanism="none")``) equals the readout trace;
* Norse ``LIFCell`` / ``LIFBoxCell`` layers and an ``LIBoxCell`` readout, exported with Norse's
  defaults (``to_nir(model, sample)``, the #411 time constants), likewise; the quantised network
  runs in the fixed-point emulator exactly as on Lava fixed point;
* per-neuron time constants (snnTorch ``beta`` / ``alpha``, Norse ``tau_syn_inv`` /
  ``tau_mem_inv`` vectors) import as per-neuron decays and run as in the framework;
* what cannot be imported exactly is refused naming the node (per-neuron time constants in a
  readout, a nonzero ``v_leak`` under Norse, an integrator inside the network);
* lava-nt readouts (every ``du``/``dv`` kind, graded input) export to NIR and import back bit for
  bit; ``to_norse`` runs them value for value; the real lava-dl ``mnist.net`` round-trips.
"""

import warnings

import nir
import numpy as np
import pytest
import torch

from lava_nt.converters.nir_io import (
    NIRExportError,
    NIRImportError,
    export_nir,
    from_nir,
    import_nir,
    run_norse,
    to_nir,
    to_norse,
)
from lava_nt.network import LayerSpec, NetworkSpec, readout_values, reference_run
from lava_nt.nn.network import NTNetwork
from lava_nt.spec import ntlif_parameters
from lava_nt.spec.readout import ReadoutSpec, readout_parameters

snn = pytest.importorskip("snntorch", reason="snnTorch is a test dependency (pyproject: test)")
norse_torch = pytest.importorskip("norse.torch")

T, B = 40, 12


def _x(seed, n, graded=False):
    rng = np.random.default_rng(seed)
    if graded:
        return rng.uniform(0.0, 1.0, (T, B, n))
    return (rng.random((T, B, n)) < 0.3).astype(np.float64)


def _torch_run(spec, x):
    """lava-nt's torch engine (float64): the output and every layer's spikes."""
    net = NTNetwork.from_spec(spec)
    with torch.no_grad():
        out, recs = net(torch.as_tensor(x), record=True)
    return out.numpy(), [r["spikes"].numpy() for r in recs]


def _lava_run(spec, x):
    from lava_nt.converters.lava_graph import run_network

    res = run_network(spec, x, "float", record=True)
    return res.output, [np.asarray(r["spikes"]) for r in res.layers]


def _assert_same(theirs_layers, theirs_out, spec, x, *, lava: bool):
    """The framework's spikes (per layer) and output equal lava-nt torch (and Lava float)."""
    engines = [("torch float64", _torch_run(spec, x))]
    if lava:
        engines.append(("Lava float", _lava_run(spec, x)))
    for name, (out, layers) in engines:
        assert len(layers) == len(theirs_layers)
        for k, (a, b) in enumerate(zip(theirs_layers, layers, strict=True)):
            np.testing.assert_array_equal(b, a, err_msg=f"{name}: layer {k} spikes")
        if spec.readout is None:
            np.testing.assert_array_equal(out, theirs_out, err_msg=f"{name}: output")
        else:
            np.testing.assert_allclose(out, theirs_out, rtol=0, atol=1e-12, err_msg=name)
    for k, s in enumerate(theirs_layers):
        assert 0.02 < s.mean() < 0.8, f"layer {k} spike rate {s.mean()} (test not informative)"


# ---- snnTorch 1.0 ------------------------------------------------------------------------------
def _vec(n, v):
    return torch.full((n,), float(v))


def _snntorch_net(seed=0, membrane=False, reset="zero"):
    """Linear(bias) -> Leaky -> Linear -> Synaptic -> Linear(bias) -> Leaky: per-neuron
    thresholds, the layouts snnTorch's exporter accepts (parameter vectors), reset to zero."""
    torch.manual_seed(seed)
    n0, n1, n2, n3 = 20, 14, 10, 6
    mods = [
        torch.nn.Linear(n0, n1),
        snn.Leaky(beta=_vec(n1, 0.9), threshold=torch.rand(n1) + 0.5, init_hidden=True,
                  reset_mechanism=reset),
        torch.nn.Linear(n1, n2, bias=False),
        snn.Synaptic(alpha=_vec(n2, 0.8), beta=_vec(n2, 0.7), threshold=torch.rand(n2) + 0.5,
                     init_hidden=True, reset_mechanism=reset, reset_delay=False),
        torch.nn.Linear(n2, n3),
        snn.Leaky(beta=_vec(n3, 0.95), threshold=torch.ones(n3), init_hidden=True,
                  reset_mechanism="none" if membrane else reset, output=True),
    ]  # fmt: skip
    with torch.no_grad():
        for m in mods:
            if isinstance(m, torch.nn.Linear):
                m.weight.mul_(3.0)
    return torch.nn.Sequential(*mods)


def run_snntorch(net, x):
    """snnTorch's own simulation in float64: every neuron layer's spikes and the last layer's
    membrane, ``[T, B, n]`` each."""
    from snntorch import utils

    net = net.double()
    utils.reset(net)
    spikes = [[] for m in net if not isinstance(m, torch.nn.Linear)]
    mem = []
    with torch.no_grad():
        for t in range(x.shape[0]):
            s = torch.as_tensor(x[t])
            k = 0
            for m in net:
                o = m(s)
                if isinstance(m, torch.nn.Linear):
                    s = o
                    continue
                if isinstance(o, tuple):
                    o, v = o[0], o[-1]
                    mem.append(v.numpy().copy())
                s = o.double()  # snnTorch's spikes are float32
                spikes[k].append(s.numpy())
                k += 1
    return [np.stack(s) for s in spikes], np.stack(mem)


def export_snntorch(net, n_in, path):
    from snntorch.export_nir import export_to_nir

    nir.write(path, export_to_nir(net.float(), torch.zeros(n_in)))
    return path


def test_snntorch_graph_runs_as_in_snntorch(tmp_path):
    net = _snntorch_net()
    path = export_snntorch(net, 20, tmp_path / "snn.nir")
    res = import_nir(path, source="snntorch")
    assert res.dt == 1e-4 and res.source == "snntorch"
    p = [ls.neuron for ls in res.spec.layers]
    # snnTorch's beta / alpha exactly (float32 values), unit input gains up to the thresholds
    assert [1 - x.dv for x in p] == [np.float32(b) for b in (0.9, 0.7, 0.95)]
    assert 1 - p[1].du == np.float32(0.8)
    assert np.all(p[2].gain == 1.0) and not np.all(p[0].gain == 1.0)  # per-neuron thresholds
    assert any("per-neuron thresholds" in note for note in res.notes)
    x = _x(0, 20)
    spikes, _ = run_snntorch(net, x)
    _assert_same(spikes, spikes[-1], res.spec, x, lava=True)
    # graded input (real values into the first Linear) alike
    res_g = import_nir(path, source="snntorch", input="graded")
    xg = _x(1, 20, graded=True)
    spikes_g, _ = run_snntorch(net, xg)
    _assert_same(spikes_g, spikes_g[-1], res_g.spec, xg, lava=False)


def test_snntorch_membrane_readout_equals_the_membrane(tmp_path):
    net = _snntorch_net(seed=1, membrane=True)
    path = export_snntorch(net, 20, tmp_path / "snn.nir")
    res = import_nir(path, source="snntorch", membrane_readout=True, reduce="max")
    ro = res.spec.readout
    assert ro is not None and ro.n == 6 and len(res.spec.layers) == 2 and ro.reduce == "max"
    x = _x(2, 20)
    spikes, mem = run_snntorch(net, x)
    _assert_same(spikes[:2], mem, res.spec, x, lava=True)
    np.testing.assert_allclose(readout_values(res.spec, reference_run(res.spec, x)), mem.max(0))
    assert np.ptp(mem.max(0)) > 0.5  # the readout distinguishes samples


def test_snntorch_subtract_reset_is_not_in_the_graph(tmp_path):
    """snnTorch's exporter writes v_reset = 0 for its default reset by subtraction: the graph
    (and its import) is the reset-to-zero network, whose spikes differ."""
    net = _snntorch_net(seed=2, reset="subtract")
    res = import_nir(export_snntorch(net, 20, tmp_path / "snn.nir"), source="snntorch")
    assert all(not ls.neuron.reset_subtract for ls in res.spec.layers)
    x = _x(3, 20)
    spikes, _ = run_snntorch(net, x)
    _, ours = _torch_run(res.spec, x)
    assert not np.array_equal(spikes[0], ours[0])


def test_snntorch_per_neuron_time_constants_import_exactly(tmp_path):
    net = _snntorch_net()
    with torch.no_grad():
        net[1].beta.copy_(torch.linspace(0.8, 0.95, 14))
        net[3].alpha.copy_(torch.linspace(0.6, 0.9, 10))
        net[3].beta.copy_(torch.linspace(0.5, 0.8, 10))
    res = from_nir(nir.read(export_snntorch(net, 20, tmp_path / "snn.nir")), source="snntorch")
    p = [ls.neuron for ls in res.spec.layers]
    # one decay per neuron: snnTorch's float32 beta / alpha exactly
    np.testing.assert_array_equal(1 - p[0].dv, net[1].beta.detach().float().numpy())
    np.testing.assert_array_equal(1 - p[1].du, net[3].alpha.detach().float().numpy())
    np.testing.assert_array_equal(1 - p[1].dv, net[3].beta.detach().float().numpy())
    assert np.ndim(p[2].dv) == 0  # a uniform layer stays one value
    assert any("du=per-neuron" in note for note in res.notes)
    x = _x(3, 20)
    spikes, _ = run_snntorch(net, x)
    _assert_same(spikes, spikes[-1], res.spec, x, lava=True)
    # read with NIR's default step, snnTorch's time constants are shorter than the step
    with pytest.raises(NIRImportError, match="source='snntorch'"):
        from_nir(nir.read(export_snntorch(_snntorch_net(), 20, tmp_path / "b.nir")))


# ---- Norse 1.1 ---------------------------------------------------------------------------------
def _norse_modules(seed=0):
    """Linear -> LIFCell (CubaLIF) -> Linear(bias) -> LIFBoxCell (LIF) -> Linear -> LIBoxCell (LI
    readout), per-neuron thresholds, float32 parameters (Norse's default)."""
    from norse.torch.functional.leaky_integrator_box import LIBoxParameters
    from norse.torch.functional.lif import LIFParameters
    from norse.torch.functional.lif_box import LIFBoxParameters

    torch.manual_seed(seed)
    n0, n1, n2, n3 = 20, 14, 10, 5
    mods = [
        torch.nn.Linear(n0, n1, bias=False),
        norse_torch.LIFCell(LIFParameters(
            tau_syn_inv=_vec(n1, 200.0), tau_mem_inv=_vec(n1, 100.0),
            v_th=torch.rand(n1) * 0.5 + 0.3, v_leak=torch.zeros(n1), v_reset=torch.zeros(n1),
            method="heaviside")),
        torch.nn.Linear(n1, n2),
        norse_torch.LIFBoxCell(LIFBoxParameters(
            tau_mem_inv=_vec(n2, 250.0), v_th=torch.rand(n2) * 0.5 + 0.3, v_leak=torch.zeros(n2),
            method="heaviside")),
        torch.nn.Linear(n2, n3),
        norse_torch.LIBoxCell(LIBoxParameters(tau_mem_inv=_vec(n3, 50.0), v_leak=torch.zeros(n3))),
    ]  # fmt: skip
    with torch.no_grad():
        for m in mods:
            if isinstance(m, torch.nn.Linear):
                m.weight.mul_(8.0)
    return mods


def export_norse(mods, n_in, path, **kw):
    mods = [m.float() if isinstance(m, torch.nn.Linear) else m for m in mods]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = norse_torch.to_nir(norse_torch.SequentialState(*mods), torch.zeros(n_in), **kw)
    nir.write(path, graph)
    return path


def run_norse_cells(mods, x):
    """Norse's own simulation (float64 inputs, Norse's float32 parameters): the spikes of each
    spiking cell and the readout cell's output."""
    mods = [m.double() if isinstance(m, torch.nn.Linear) else m for m in mods]
    states = [None] * len(mods)
    outs = [[] for _ in mods]
    with torch.no_grad():
        for t in range(x.shape[0]):
            s = torch.as_tensor(x[t])
            for j, m in enumerate(mods):
                if isinstance(m, torch.nn.Linear):
                    s = m(s)
                else:
                    s, states[j] = m(s, states[j])
                    outs[j].append(s.double().numpy())
    cells = [np.stack(o) for o in outs if o]
    return cells[:-1], cells[-1]


def test_norse_graph_runs_as_in_norse(tmp_path):
    mods = _norse_modules()
    path = export_norse(mods, 20, tmp_path / "norse.nir")  # Norse's defaults: dt = 0.001
    with pytest.raises(NIRImportError, match="source='norse'"):
        import_nir(path)  # tau = dt / tau_inv (#411) is shorter than NIR's step
    res = import_nir(path, source="norse")
    p = [ls.neuron for ls in res.spec.layers]
    assert (p[0].du, p[0].dv, p[1].du, p[1].dv) == tuple(
        float(np.float32(0.001) * np.float32(v)) if v else 1.0 for v in (200, 100, 0, 250)
    )
    ro = res.spec.readout
    assert ro.params.du == 1.0 and ro.params.dv == float(np.float32(0.001) * np.float32(50))
    x = _x(4, 20)
    spikes, readout = run_norse_cells(mods, x)
    _assert_same(spikes, readout, res.spec, x, lava=True)
    # a graph exported with to_nir(dt=1.0) (the #411 workaround) reads with export_dt=1
    res1 = import_nir(export_norse(mods, 20, tmp_path / "n1.nir", dt=1.0), source="norse",
                      export_dt=1.0)  # fmt: skip
    np.testing.assert_allclose(reference_run(res1.spec, x), readout, rtol=0, atol=1e-12)


def test_norse_per_neuron_time_constants_run_as_in_norse(tmp_path):
    mods = _norse_modules(1)
    with torch.no_grad():  # per-neuron tau_syn_inv / tau_mem_inv as a user types them (the
        # import recovers those float32 values); the readout keeps one
        mods[1].p.tau_syn_inv.copy_(150.0 + 10.0 * torch.arange(14))
        mods[1].p.tau_mem_inv.copy_(60.0 + 5.0 * torch.arange(14))
        mods[3].p.tau_mem_inv.copy_(150.0 + 25.0 * torch.arange(10))
    res = import_nir(export_norse(mods, 20, tmp_path / "pn.nir"), source="norse")
    p = [ls.neuron for ls in res.spec.layers]
    # Norse's float32 dt * tau_inv per neuron, up to one float32 ulp (the float32 tau it wrote
    # does not always single out its tau_inv)
    f32 = np.float32
    np.testing.assert_allclose(p[0].du, f32(0.001) * mods[1].p.tau_syn_inv.numpy(), rtol=2e-7)
    np.testing.assert_allclose(p[1].dv, f32(0.001) * mods[3].p.tau_mem_inv.numpy(), rtol=2e-7)
    assert np.ptp(p[0].du) > 0.1 and np.ptp(p[1].dv) > 0.1
    x = _x(5, 20)
    spikes, readout = run_norse_cells(mods, x)
    _assert_same(spikes, readout, res.spec, x, lava=True)


def test_norse_import_quantises_and_runs_alike_on_lava_fixed_point(tmp_path):
    from lava_nt.converters.lava_graph import run_network
    from lava_nt.converters.quantize import quantize
    from lava_nt.nn.fixed_emulator import emulate_fixed

    res = import_nir(export_norse(_norse_modules(1), 20, tmp_path / "n.nir"), source="norse")
    fixed, rep = quantize(res.spec)
    x = _x(5, 20)
    emu, emu_layers = emulate_fixed(fixed, torch.as_tensor(x), record=True)
    lava = run_network(fixed, x, "fixed", record=True)
    np.testing.assert_array_equal(lava.output, emu.numpy())  # readout voltages, bit for bit
    for a, b in zip(lava.layers, emu_layers, strict=True):
        np.testing.assert_array_equal(a["spikes"], b["spikes"].numpy())
    # the fixed-point network decides like the float one on most samples
    dec_f = readout_values(res.spec, reference_run(res.spec, x)).argmax(1)
    dec_q = readout_values(fixed, lava.output).argmax(1)
    assert np.mean(dec_f == dec_q) >= 0.75


def test_norse_refusals_name_the_node(tmp_path):
    from norse.torch.functional.lif_box import LIFBoxParameters

    mods = _norse_modules()
    mods[3] = norse_torch.LIFBoxCell(LIFBoxParameters(
        tau_mem_inv=_vec(10, 250.0), v_th=_vec(10, 0.5), v_leak=_vec(10, 0.1),
        method="heaviside"))  # fmt: skip
    with pytest.raises(NIRImportError, match="v_leak != 0: Norse starts") as err:
        import_nir(export_norse(mods, 20, tmp_path / "leak.nir"), source="norse")
    assert err.value.node == "3"
    with pytest.raises(NIRImportError, match="export_dt"):
        import_nir(export_norse(_norse_modules(), 20, tmp_path / "b.nir"), export_dt=1.0)


# ---- NIR semantics: readouts and per-neuron thresholds -----------------------------------------
def _chain(nodes):
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:], strict=True)))


def test_hand_built_readouts_and_thresholds_match_nir_euler():
    """LIF with per-neuron thresholds, then each readout form (LI, I, CubaLI, LI -> Affine ->
    LI): lava-nt's import equals an independent forward-Euler run (the Norse-cell map)."""
    rng = np.random.default_rng(3)
    n0, n1, n2 = 16, 12, 4
    lif = nir.LIF(
        tau=np.full(n1, 0.004), r=rng.uniform(0.5, 2.0, n1), v_leak=rng.uniform(-0.1, 0.2, n1),
        v_threshold=rng.choice([0.5, 1.0, 0.8], n1), v_reset=np.zeros(n1),
    )  # fmt: skip
    readouts = {
        "LI": [nir.LI(tau=np.full(n2, 0.01), r=np.full(n2, 2.0), v_leak=np.full(n2, 0.1))],
        "I": [nir.I(r=np.full(n2, 30.0))],
        "CubaLI": [nir.CubaLI(tau_syn=np.full(n2, 0.003), tau_mem=np.full(n2, 0.02),
                              r=np.full(n2, 1.5), v_leak=np.full(n2, 0.05),
                              w_in=np.full(n2, 2.0))],
        "split": [nir.LI(tau=np.full(n2, 0.005), r=np.full(n2, 1.0), v_leak=np.zeros(n2)),
                  nir.Affine(weight=np.diag(rng.uniform(0.5, 1.5, n2)), bias=np.full(n2, 0.3)),
                  nir.LI(tau=np.full(n2, 0.05), r=np.full(n2, 1.0), v_leak=np.zeros(n2))],
    }  # fmt: skip
    x = _x(6, n0)
    for kind, tail in readouts.items():
        bias = np.zeros(n2) if kind in ("CubaLI", "split") else rng.normal(0, 0.5, n2)
        nodes = {
            "in": nir.Input(input_type={"input": np.array([n0])}),
            "fc1": nir.Affine(weight=rng.normal(0, 1.0, (n1, n0)), bias=rng.normal(0, 0.2, n1)),
            "lif": lif,
            "fc2": nir.Affine(weight=rng.normal(0, 1.0, (n2, n1)), bias=bias),
        }
        nodes.update({f"ro{i}": node for i, node in enumerate(tail)})
        nodes["out"] = nir.Output(output_type={"output": np.array([n2])})
        graph = _chain(nodes)
        res = from_nir(graph, dt=0.001)
        assert res.spec.readout is not None and res.spec.layers[0].neuron.vth in (0.5, 1.0, 0.8)
        ours, recs = reference_run(res.spec, x, record=True)
        theirs = run_norse(to_norse(graph, dt=0.001), x)
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12, err_msg=kind)
        assert 0.05 < recs[0]["spikes"].mean() < 0.7


def test_integrators_inside_the_network_and_per_neuron_readout_decays_are_refused():
    n = 3

    def graph(*mid):
        nodes = {"in": nir.Input(input_type={"input": np.array([4])}),
                 "fc": nir.Affine(weight=np.ones((n, 4)), bias=np.zeros(n))}  # fmt: skip
        nodes.update(dict(mid))
        nodes["out"] = nir.Output(output_type={"output": np.array([n])})
        return _chain(nodes)

    lif = nir.LIF(tau=np.full(n, 0.01), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n))
    li = nir.LI(tau=np.full(n, 0.01), r=np.ones(n), v_leak=np.zeros(n))
    fc2 = nir.Affine(weight=np.ones((n, n)), bias=np.zeros(n))
    diag = nir.Affine(weight=np.eye(n), bias=np.zeros(n))
    with pytest.raises(NIRImportError, match="inside the network") as err:
        from_nir(graph(("lif", lif), ("fc2", fc2), ("cur", li), ("d", diag), ("li", li),
                       ("fc3", fc2), ("lif2", lif)))  # fmt: skip
    assert err.value.node == "li"
    li2 = nir.LI(tau=np.array([0.01, 0.02, 0.03]), r=np.ones(n), v_leak=np.zeros(n))
    with pytest.raises(NIRImportError, match="per-neuron time constants") as err:
        from_nir(graph(("lif", lif), ("fc2", fc2), ("li", li2)))
    assert err.value.node == "li"
    with pytest.raises(NIRImportError, match="membrane_readout: the graph already"):
        from_nir(graph(("lif", lif), ("fc2", fc2), ("li", li)), membrane_readout=True)


# ---- export of lava-nt readouts -----------------------------------------------------------------
def _readout_spec(seed, du, dv, graded):
    rng = np.random.default_rng(seed)
    layers, n_prev = [], 12
    for n, ldu, ldv in ((10, 1.0, 0.2), (8, 0.5, 0.1)):
        neuron = ntlif_parameters(
            n, du=ldu, dv=ldv, vth=1.0, bias=rng.normal(0, 0.2, n), gain=rng.uniform(0.5, 1.5, n)
        )
        layers.append(LayerSpec(weight=rng.normal(0, 1.5, (n, n_prev)), neuron=neuron))
        n_prev = n
    ro = ReadoutSpec(
        weight=rng.normal(0, 1.0, (4, n_prev)),
        params=readout_parameters(4, du=du, dv=dv, bias=rng.normal(0, 0.3, 4), reduce="mean"),
    )
    return NetworkSpec(12, layers, readout=ro, input="graded" if graded else "spikes")


@pytest.mark.parametrize("du,dv", [(1.0, 0.3), (1.0, 0.0), (0.4, 0.2), (0.0, 1.0), (0.3, 0.0)])
def test_readouts_export_and_import_back_bit_for_bit(tmp_path, du, dv):
    spec = _readout_spec(int(10 * du + 100 * dv), du, dv, graded=du == 0.0)
    path = export_nir(spec, tmp_path / "ro.nir")
    res = import_nir(path)
    assert res.exact and res.spec.input == spec.input
    ro, back = spec.readout, res.spec.readout
    np.testing.assert_array_equal(back.weight, ro.weight)
    assert (back.params.du, back.params.dv, back.reduce) == (du, dv, "mean")
    np.testing.assert_array_equal(back.params.bias, ro.params.bias)
    x = _x(7, 12, graded=spec.graded)
    want = reference_run(spec, x)
    np.testing.assert_array_equal(reference_run(res.spec, x), want)
    # derived from the NIR fields alone: equal up to rounding
    res2 = import_nir(path, use_metadata=False)
    assert not res2.exact and res2.spec.readout.reduce == "last"
    np.testing.assert_allclose(reference_run(res2.spec, x), want, rtol=1e-9, atol=1e-9)
    # Norse cells run the exported graph value for value
    np.testing.assert_allclose(run_norse(to_norse(path), x), want, rtol=1e-12, atol=1e-12)
    with pytest.raises(NIRExportError, match="readout"):
        to_nir(spec, norse_compat=True)


def test_real_mnist_net_exports_to_nir_and_back(tmp_path, netx_mnist_net):
    """lava-dl's trained mnist.net (graded input, integrator readout) -> lava-nt -> NIR ->
    lava-nt: the same network, and Norse cells run the NIR file like lava-nt."""
    from lava_nt.converters.netx import import_netx

    imp = import_netx(netx_mnist_net, units="dyadic")
    out = export_nir(imp.float_spec, tmp_path / "mnist.nir")
    res = import_nir(out)
    assert res.exact and res.spec.graded and res.spec.sizes == imp.float_spec.sizes
    rng = np.random.default_rng(0)
    x = np.broadcast_to(imp.encode_input(rng.uniform(0, 1, (3, 784)))[None], (8, 3, 784))
    want = reference_run(imp.float_spec, x)
    np.testing.assert_array_equal(reference_run(res.spec, x), want)
    np.testing.assert_allclose(run_norse(to_norse(out), x), want, rtol=0, atol=1e-9)


# ---- lava-nt import-nir on the frameworks' files -----------------------------------------------
def _cli(capsys, *argv):
    from lava_nt.cli import main

    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_imports_snntorch_and_norse_files(tmp_path, capsys):
    from lava_nt.converters.model_file import load_model

    net = _snntorch_net(seed=4, membrane=True)
    snn_file = export_snntorch(net, 20, tmp_path / "snntorch.nir")
    code, out, err = _cli(capsys, "import-nir", snn_file, tmp_path / "a.h5")
    assert code == 1 and "source='snntorch'" in err and "Traceback" not in err
    code, out, err = _cli(
        capsys, "import-nir", snn_file, tmp_path / "a.h5", "--source", "snntorch",
        "--membrane-readout", "--reduce", "mean", "--input", "graded",
    )  # fmt: skip
    assert code == 0, err
    assert "source snntorch" in out and "readout of 6 units" in out and "graded input" in out
    spec, info = load_model(tmp_path / "a.h5")
    assert info.n_classes == 6 and spec.readout.reduce == "mean" and spec.graded
    x = _x(8, 20, graded=True)
    spikes, mem = run_snntorch(net, x)
    _assert_same(spikes[:2], mem, spec, x, lava=False)

    mods = _norse_modules(seed=5)
    norse_file = export_norse(mods, 20, tmp_path / "norse.nir")
    code, out, err = _cli(capsys, "import-nir", norse_file, tmp_path / "b.h5", "--source", "norse")
    assert code == 0, err
    assert "source norse" in out and "readout of 5 units" in out and "export_dt" in out
    spec, info = load_model(tmp_path / "b.h5")
    assert info.n_classes == 5 and info.meta["nir_source"] == "norse"
    x = _x(9, 20)
    spikes, readout = run_norse_cells(mods, x)
    _assert_same(spikes, readout, spec, x, lava=False)
    # a wrong --export-dt changes every decay: the command says what it read
    code, out, _ = _cli(capsys, "import-nir", norse_file, tmp_path / "c.h5", "--source", "norse",
                        "--export-dt", "0.002")  # fmt: skip
    assert code == 0 and "to_nir(dt=0.002)" in out
    code, _, err = _cli(capsys, "import-nir", norse_file, tmp_path / "d.h5", "--export-dt", "1")
    assert code == 1 and "applies to source='norse'" in err
