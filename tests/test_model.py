"""The GPT: shapes, causality, init, counts, meta device, sampling, dropout."""

from __future__ import annotations

import functools
import math

import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

from nanigpt.model.config import GPTConfig
from nanigpt.model.gpt import GPT, apply_rope, rope_tables, tied_head_gain

pytestmark = pytest.mark.usefixtures("one_thread")  # comparisons of numbers hold at a fixed thread count

TINY = dict(n_layer=2, n_head=4, n_embd=32, block_size=16, vocab_size=64)
# One config per architectural switch, plus everything at once.
VARIANTS = {
    "default": {},
    "rope": dict(position="rope"),
    "rmsnorm": dict(norm="rmsnorm"),
    "relu2": dict(activation="relu2"),
    "untied": dict(tie_embeddings=False),
    "qk_norm": dict(qk_norm=True),
    "bias": dict(bias=True),
    "all": dict(position="rope", norm="rmsnorm", activation="relu2", tie_embeddings=False, qk_norm=True, bias=True),
}


def make(seed: int = 0, **overrides) -> GPT:
    cfg = GPTConfig(**{**TINY, **overrides})
    return GPT(cfg, generator=torch.Generator().manual_seed(seed))


@functools.cache
def cached(name: str) -> GPT:
    """A shared eval-mode model; an untied head gets random weights, not its all-zero init,
    so that its logits carry what the body computed."""
    model = make(**VARIANTS[name]).eval()
    if model.lm_head is not None:
        with torch.no_grad():
            model.lm_head.weight.normal_(0.0, 0.02, generator=torch.Generator().manual_seed(9))
    return model


def tokens(shape: tuple[int, ...], vocab: int, seed: int) -> torch.Tensor:
    return torch.randint(0, vocab, shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", VARIANTS)
def test_forward_shapes_and_loss(name):
    model = cached(name)
    idx, tgt = tokens((3, 16), 64, 1), tokens((3, 16), 64, 2)
    logits, loss = model(idx, tgt)
    assert logits.shape == (3, 16, 64)
    assert loss.shape == () and torch.isfinite(loss)
    assert torch.allclose(loss, nn.functional.cross_entropy(logits.reshape(-1, 64), tgt.reshape(-1)))
    logits2, none = model(idx[:, :5])
    assert none is None and logits2.shape == (3, 5, 64)


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(sorted(VARIANTS)), pos=st.integers(0, 15), new=st.integers(0, 63), seed=st.integers(0, 2**16))
def test_causal_a_token_only_changes_logits_at_and_after_it(name, pos, new, seed):
    model = cached(name)
    idx = tokens((2, 16), 64, seed)
    new = new if new != idx[0, pos] else (new + 1) % 64
    changed = idx.clone()
    changed[0, pos] = new
    with torch.no_grad():
        a, _ = model(idx)
        b, _ = model(changed)
    torch.testing.assert_close(a[0, :pos], b[0, :pos], rtol=0, atol=1e-6)
    torch.testing.assert_close(a[1], b[1], rtol=0, atol=1e-6)  # other sequences untouched
    assert not torch.allclose(a[0, pos], b[0, pos])  # the change is seen where it happens


@pytest.mark.parametrize(
    "name, overrides",
    [*((n, v) for n, v in VARIANTS.items()), ("deep", dict(n_layer=6)), ("wide", dict(n_embd=256, n_head=8, n_layer=1)),
     ("vocab256", dict(vocab_size=256)), ("vocab1024_untied", dict(vocab_size=1024, tie_embeddings=False))],
)  # fmt: skip
def test_first_loss_is_close_to_uniform(name, overrides):
    # A principled init predicts nearly uniformly: loss ln(V). A tied head's logits start with
    # std min(init_std * sqrt(n_embd), 0.25), which costs about half their variance.
    cfg = GPTConfig(**{**TINY, **overrides})
    model = GPT(cfg, generator=torch.Generator().manual_seed(3))
    V = cfg.vocab_size
    with torch.no_grad():
        _, loss = model(tokens((8, 16), V, 4), tokens((8, 16), V, 5))
    assert abs(loss.item() - math.log(V)) < 0.1, (loss.item(), math.log(V))


def _shipped_shapes() -> dict[str, GPTConfig]:
    from nanigpt.config import load_registry, resolve

    shapes = {name: p().model for name, p in load_registry().presets.items()}
    shapes["small +large"] = resolve(["preset:small", "+large"]).config.model
    return shapes


@pytest.mark.parametrize("name, cfg", list(_shipped_shapes().items()), ids=list(_shipped_shapes()))
def test_first_loss_of_every_shipped_model_shape_is_close_to_uniform(name, cfg):
    # gpt2 too (124M parameters, 768 wide, vocab 50304): built for real on the CPU, one forward
    # of a few tokens. Untied, GPT-2's init was 0.15 over ln(V) there.
    model = GPT(cfg, generator=torch.Generator().manual_seed(0))
    V, T = cfg.vocab_size, min(16, cfg.block_size)
    with torch.no_grad():
        logits, loss = model(tokens((2, T), V, 1), tokens((2, T), V, 2))
    assert abs(loss.item() - math.log(V)) < 0.1, (name, loss.item(), math.log(V))
    if cfg.tie_embeddings:  # the first logits' spread, measured: about its bound (0.25) or less
        assert logits.std().item() < 0.3, (name, logits.std().item())


def test_untied_head_starts_at_zero_so_first_loss_is_exactly_uniform():
    model = make(tie_embeddings=False)
    assert torch.count_nonzero(model.lm_head.weight) == 0
    _, loss = model(tokens((2, 16), 64, 0), tokens((2, 16), 64, 1))
    assert loss.item() == pytest.approx(math.log(64), abs=1e-6)


def test_init_scales():
    torch.manual_seed(0)
    cfg = GPTConfig(n_layer=3, n_head=4, n_embd=128, block_size=16, vocab_size=512, bias=True, init_std=0.05)
    model = GPT(cfg, generator=torch.Generator().manual_seed(0))
    resid = 0.05 / math.sqrt(2 * 3)
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            want = resid if name.endswith(("attn.proj", "mlp.proj")) else 0.05
            assert m.weight.std().item() == pytest.approx(want, rel=0.1), name
            assert m.weight.mean().abs().item() < want / 10, name
            assert torch.count_nonzero(m.bias) == 0, name
        elif isinstance(m, nn.LayerNorm):
            # the final norm feeds only the tied head: its gain keeps the first logits small
            gain = tied_head_gain(cfg) if m is model.norm_f else 1.0
            assert torch.all(m.weight == gain) and torch.all(m.bias == 0), name
    assert tied_head_gain(cfg) == pytest.approx(0.25 / (0.05 * math.sqrt(128)))
    assert model.wte.weight.std().item() == pytest.approx(0.05, rel=0.1)
    assert model.wpe.weight.std().item() == pytest.approx(0.05, rel=0.1)


def test_init_is_reproducible_from_a_generator():
    a, b, c = make(seed=7), make(seed=7), make(seed=8)
    for (name, pa), pb, pc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.wte.weight, c.wte.weight)


def expected_params(cfg: GPTConfig) -> tuple[int, int]:
    """(total, non-embedding), counted from the architecture by hand."""
    C, L, V, T, r = cfg.n_embd, cfg.n_layer, cfg.vocab_size, cfg.block_size, cfg.mlp_ratio
    b = 1 if cfg.bias else 0
    norm = C + (C * b if cfg.norm == "layernorm" else 0)  # RMSNorm: a gain, never a bias
    attn = 3 * C * C + 3 * C * b + C * C + C * b + (2 * cfg.head_dim if cfg.qk_norm else 0)
    mlp = r * C * C + r * C * b + r * C * C + C * b
    block = 2 * norm + attn + mlp
    wte = V * C
    wpe = T * C if cfg.position == "learned" else 0
    head = 0 if cfg.tie_embeddings else V * C
    total = wte + wpe + L * block + norm + head
    non_embedding = total - wpe - (0 if cfg.tie_embeddings else wte)
    return total, non_embedding


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("mlp_ratio", [1, 4])
def test_param_count_matches_formula(name, mlp_ratio):
    cfg = GPTConfig(**{**TINY, **VARIANTS[name], "mlp_ratio": mlp_ratio})
    with torch.device("meta"):
        model = GPT(cfg)
    total, non_embedding = expected_params(cfg)
    assert model.num_params(non_embedding=False) == total
    assert model.num_params() == non_embedding


@pytest.mark.parametrize("name", ["default", "untied"])
def test_flops_per_token_formula(name):
    cfg = GPTConfig(**{**TINY, **VARIANTS[name]})
    with torch.device("meta"):
        model = GPT(cfg)
    _, n = expected_params(cfg)
    attention = 12 * cfg.n_layer * cfg.n_head * cfg.head_dim * cfg.block_size
    assert model.flops_per_token() == 6 * n + attention


def test_meta_device_build_allocates_nothing_and_counts_like_a_real_one():
    # GPT-2 small's shape: counting it on the meta device must not allocate 124M floats.
    cfg = GPTConfig(n_layer=12, n_head=12, n_embd=768, block_size=1024, vocab_size=50304, position="rope")
    with torch.device("meta"):
        model = GPT(cfg)
    assert all(p.is_meta for p in model.parameters())
    assert all(b.is_meta for b in model.buffers())
    total, non_embedding = expected_params(cfg)
    assert model.num_params(non_embedding=False) == total
    # 12 blocks of 12·768² + norms, plus the tied wte, which counts as the head.
    assert model.num_params() == non_embedding == 123_587_328


def test_meta_then_to_empty_then_init_weights_equals_a_direct_build():
    cfg = GPTConfig(**{**TINY, **VARIANTS["all"]})
    with torch.device("meta"):
        model = GPT(cfg)
    model.to_empty(device="cpu")
    model.init_weights(torch.Generator().manual_seed(5))
    direct = GPT(cfg, generator=torch.Generator().manual_seed(5))
    for (name, a), b in zip(model.state_dict().items(), direct.state_dict().values()):
        assert torch.equal(a, b), name
    # The rope tables are not in the state dict: to_empty left garbage, init_weights fixed it.
    assert torch.equal(model.rope_cos, direct.rope_cos) and torch.equal(model.rope_sin, direct.rope_sin)
    assert "rope_cos" not in model.state_dict()


def test_block_linears_are_plain_linears_with_the_documented_names():
    model = make(tie_embeddings=False)
    names = {name: type(m) for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    per_block = ["attn.qkv", "attn.proj", "mlp.fc", "mlp.proj"]
    assert set(names) == {f"blocks.{i}.{n}" for i in range(2) for n in per_block} | {"lm_head"}
    assert set(names.values()) == {nn.Linear}
    assert make().lm_head is None  # tied: the head is wte itself


def test_rope_rotation_preserves_norms_and_encodes_relative_position():
    cos, sin = rope_tables(head_dim=8, length=32, base=10000.0)
    q = torch.randn(1, 1, 1, 8).expand(1, 32, 1, 8)
    k = torch.randn(1, 1, 1, 8).expand(1, 32, 1, 8)
    rq, rk = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    torch.testing.assert_close(rq.norm(dim=-1), q.norm(dim=-1))
    dots = (rq[0, :, 0, None, :] * rk[0, None, :, 0, :]).sum(-1)  # (T, T): q at i, k at j
    # The score depends on i - j only: equal along each diagonal.
    torch.testing.assert_close(dots.diagonal(3)[:-1], dots.diagonal(3)[1:], atol=1e-5, rtol=0)
    torch.testing.assert_close(rq[0, 0], q[0, 0])  # position 0 is not rotated


def test_rope_keeps_a_bfloat16_activation_bfloat16():
    cos, sin = rope_tables(8, 4, 10000.0)
    assert apply_rope(torch.randn(1, 4, 2, 8, dtype=torch.bfloat16), cos, sin).dtype == torch.bfloat16


def test_autocast_bfloat16_forward_and_backward():
    model = make(**VARIANTS["all"])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, loss = model(tokens((2, 16), 64, 0), tokens((2, 16), 64, 1))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


class _AttentionDtypes(torch.overrides.TorchFunctionMode):
    """Records the dtype of the queries of every scaled_dot_product_attention call."""

    def __init__(self) -> None:
        super().__init__()
        self.dtypes: list[torch.dtype] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is torch.nn.functional.scaled_dot_product_attention:
            self.dtypes.append(args[0].dtype)
        return func(*args, **(kwargs or {}))


def test_cpu_attention_runs_in_float32_under_bfloat16_autocast():
    """torch's CPU flash kernel is many times slower backward in bfloat16: the model keeps
    attention in float32 there, and everything around it in autocast's bfloat16."""
    model = make()
    x, y = tokens((2, 16), 64, 0), tokens((2, 16), 64, 1)
    with _AttentionDtypes() as seen, torch.autocast("cpu", dtype=torch.bfloat16):
        h = model.blocks[0].attn(model.wte(x), None)
        _, loss = model(x, y)
    assert seen.dtypes == [torch.float32] * (1 + model.cfg.n_layer)
    assert h.dtype == torch.bfloat16  # the projection after attention still runs in bfloat16
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    with _AttentionDtypes() as seen:  # without autocast: float32 in, float32 through, as before
        model(x, y)
    assert seen.dtypes == [torch.float32] * model.cfg.n_layer


def test_float32_attention_under_autocast_matches_the_bfloat16_kernel_closely():
    """The float32 path computes the same attention as torch's bfloat16 one, only more precisely."""
    from nanigpt.model.gpt import _attend

    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, 16, 8, generator=g).bfloat16() for _ in range(3))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours = _attend(q, k, v, 0.0)
    exact = torch.nn.functional.scaled_dot_product_attention(q.double(), k.double(), v.double(), is_causal=True)
    kernel = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert ours.dtype == torch.bfloat16
    assert (ours.double() - exact).abs().max() <= (kernel.double() - exact).abs().max() + 1e-2
    torch.testing.assert_close(ours, kernel, atol=2e-2, rtol=2e-2)

@pytest.mark.parametrize("name", VARIANTS)
def test_every_parameter_gets_a_gradient(name):
    model = make(**VARIANTS[name])
    _, loss = model(tokens((2, 16), 64, 0), tokens((2, 16), 64, 1))
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing


def test_too_long_a_sequence_is_a_clear_error():
    with pytest.raises(ValueError, match=r"17 tokens is longer than `model.block_size`=16"):
        cached("default")(tokens((1, 17), 64, 0))


def test_dropout_zero_means_train_equals_eval():
    model = make(dropout=0.0)
    idx = tokens((2, 16), 64, 0)
    with torch.no_grad():
        train_out = model.train()(idx)[0]
        eval_out = model.eval()(idx)[0]
    assert torch.equal(train_out, eval_out)


def test_dropout_is_active_in_training_only():
    model = make(dropout=0.5)
    idx = tokens((2, 16), 64, 0)
    with torch.no_grad():
        a, b = model.train()(idx)[0], model(idx)[0]
        c, d = model.eval()(idx)[0], model(idx)[0]
    assert not torch.equal(a, b)
    assert torch.equal(c, d)


def test_generate_is_deterministic_for_a_seeded_generator():
    model = cached("rope")
    prompt = tokens((2, 3), 64, 0)

    def sample(seed, **kw):
        return model.generate(prompt, 10, generator=torch.Generator().manual_seed(seed), **kw)

    out = sample(1)
    assert out.shape == (2, 13) and torch.equal(out[:, :3], prompt)
    assert torch.equal(out, sample(1))
    assert not torch.equal(out, sample(2))
    assert torch.equal(sample(1, top_k=5), sample(1, top_k=5))


def test_generate_greedy_and_top1_agree_with_argmax():
    model = cached("default")
    prompt = tokens((2, 4), 64, 0)
    greedy = model.generate(prompt, 6, temperature=0)
    assert torch.equal(greedy, model.generate(prompt, 6, top_k=1, generator=torch.Generator().manual_seed(0)))
    logits, _ = model(greedy[:, :-1])
    assert torch.equal(greedy[:, 4:], logits[:, 3:].argmax(-1))


def test_generate_runs_past_the_context_by_cropping():
    model = cached("default")
    out = model.generate(tokens((1, 16), 64, 0), 4, temperature=0)
    assert out.shape == (1, 20)


@pytest.mark.parametrize(
    "kw, message",
    [(dict(max_new_tokens=-1), "max_new_tokens=-1"), (dict(temperature=-0.5), "temperature=-0.5"), (dict(top_k=0), "top_k=0")],
)
def test_generate_rejects_bad_arguments(kw, message):
    args = {"max_new_tokens": 1, **kw}
    with pytest.raises(ValueError, match=message):
        cached("default").generate(tokens((1, 2), 64, 0), **args)


@pytest.mark.slow
def test_torch_compile_matches_eager():
    model = make(**VARIANTS["all"])
    idx, tgt = tokens((2, 16), 64, 0), tokens((2, 16), 64, 1)
    eager_logits, eager_loss = model(idx, tgt)
    compiled = torch.compile(model, fullgraph=True)  # no graph breaks: the whole forward is one graph
    logits, loss = compiled(idx, tgt)
    torch.testing.assert_close(logits, eager_logits, atol=1e-4, rtol=1e-4)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.slow
def test_torch_compile_under_bfloat16_autocast_is_one_graph_and_matches_eager():
    """The CPU's float32 attention under autocast (`_attend`) compiles without a graph break."""
    model = make(**VARIANTS["all"])
    idx, tgt = tokens((2, 16), 64, 0), tokens((2, 16), 64, 1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        eager_logits, _ = model(idx, tgt)
        logits, loss = torch.compile(model, fullgraph=True)(idx, tgt)
    assert logits.dtype == eager_logits.dtype == torch.bfloat16
    torch.testing.assert_close(logits.float(), eager_logits.float(), atol=5e-2, rtol=5e-2)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
