"""The GPT: a decoder-only transformer, in one file.

Read top to bottom: norms and rotary positions, attention, MLP, block, then the model.
Every block Linear is a plain `nn.Linear` named `blocks.{i}.attn.qkv`, `attn.proj`, `mlp.fc`,
`mlp.proj` (float8 conversion targets exactly those); an untied output head is `lm_head`.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from nanigpt.model.config import GPTConfig

# Llama's RMSNorm epsilon; LayerNorm keeps torch's 1e-5 (GPT-2's).
_RMS_EPS = 1e-6
# The largest std of a tied head's logits at init (see GPT.init_weights): the first prediction
# is then nearly uniform, ln(vocab_size) + 0.03 nats at most.
TIED_LOGIT_STD = 0.25


def tied_head_gain(cfg: GPTConfig) -> float:
    """The initial gain of the final norm under a tied head: logits start with std <= 0.25."""
    return min(1.0, TIED_LOGIT_STD / (cfg.init_std * math.sqrt(cfg.n_embd)))


def _norm(cfg: GPTConfig, dim: int) -> nn.Module:
    # RMSNorm has no bias by definition (it does not centre), so `bias` only affects LayerNorm.
    if cfg.norm == "rmsnorm":
        return nn.RMSNorm(dim, eps=_RMS_EPS)
    return nn.LayerNorm(dim, bias=cfg.bias)


def rope_tables(head_dim: int, length: int, base: float, device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of the rotary angles, each (length, 1, head_dim // 2), float32.

    Computed in float64 on the CPU, so that positions far into the context keep their
    precision and the tables are the same on every device.
    """
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float64, device="cpu") / head_dim))
    angles = torch.outer(torch.arange(length, dtype=torch.float64, device="cpu"), inv_freq)  # (T, hs/2)
    angles = angles[:, None, :]  # (T, 1, hs/2): broadcasts over heads in (B, T, nh, hs/2)
    return angles.cos().to(device, torch.float32), angles.sin().to(device, torch.float32)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate (B, T, nh, hs) queries or keys by their position (GPT-NeoX half-split layout).

    The half split (not interleaved pairs) keeps every operand contiguous in its last dim.
    """
    half = x.size(-1) // 2
    x1, x2 = x[..., :half], x[..., half:]  # (B, T, nh, hs/2) each
    out = torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)
    return out.type_as(x)  # the float32 tables must not promote a bfloat16 activation


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout_p: float) -> torch.Tensor:
    """Causal attention of (B, nh, T, hs) queries, keys and values; `is_causal` rather than a
    mask tensor, so the fused kernels skip the masked half entirely.

    On the CPU under bfloat16 autocast it runs in float32: torch's CPU flash kernel is ~8x
    slower backward in bfloat16 than in float32 (4 layers x 128 wide, context 64: 15.6 ms of
    a 29 ms step, against 1.7 ms), and the matmuls around it keep their bfloat16 speed.
    """
    if q.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
        with torch.autocast("cpu", enabled=False):
            y = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), dropout_p=dropout_p, is_causal=True)
        return y.to(torch.get_autocast_dtype("cpu"))
    return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.head_dim = cfg.head_dim
        self.dropout = cfg.dropout
        # One fused Linear for q, k, v: one matmul instead of three.
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        # QK-norm bounds the attention logits, which keeps training stable at high lr.
        self.q_norm = nn.RMSNorm(cfg.head_dim, eps=_RMS_EPS) if cfg.qk_norm else None
        self.k_norm = nn.RMSNorm(cfg.head_dim, eps=_RMS_EPS) if cfg.qk_norm else None

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_head, self.head_dim).unbind(2)  # (B, T, nh, hs) each
        if self.q_norm is not None:
            # In float32: under autocast q and k arrive in bfloat16, and a norm is where low
            # precision hurts (also, torch's fused rms_norm wants input and gain of one dtype).
            q, k = self.q_norm(q.float()).type_as(q), self.k_norm(k.float()).type_as(k)
        if rope is not None:
            cos, sin = rope
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, nh, T, hs)
        y = _attend(q, k, v, self.dropout if self.training else 0.0)  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, C): heads side by side again
        y = self.proj(y)
        if self.dropout:
            y = F.dropout(y, self.dropout, self.training)
        return y


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.relu2 = cfg.activation == "relu2"
        self.dropout = cfg.dropout
        hidden = cfg.mlp_ratio * cfg.n_embd
        self.fc = nn.Linear(cfg.n_embd, hidden, bias=cfg.bias)
        self.proj = nn.Linear(hidden, cfg.n_embd, bias=cfg.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x)  # (B, T, r*C)
        # ReLU² (Primer, So et al. 2021) is sparse and cheap. GELU is the exact (erf) one: on the
        # CPU its forward + backward is ~1.6x faster than GPT-2's tanh approximation.
        h = F.relu(h).square() if self.relu2 else F.gelu(h)
        y = self.proj(h)  # (B, T, C)
        if self.dropout:
            y = F.dropout(y, self.dropout, self.training)
        return y


class Block(nn.Module):
    """Pre-norm residual block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.attn_norm = _norm(cfg, cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.mlp_norm = _norm(cfg, cfg.n_embd)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), rope)
        x = x + self.mlp(self.mlp_norm(x))
        return x


def _embedding(n: int, dim: int) -> nn.Embedding:
    return nn.Embedding.from_pretrained(torch.empty(n, dim), freeze=False)


class GPT(nn.Module):
    """A GPT built from a `GPTConfig`: `logits, loss = model(idx, targets)`.

    Built inside `with torch.device("meta")` it allocates nothing and skips the init: enough
    for parameter and FLOP counts; `to_empty(device=...)` then `init_weights()` makes it real.
    """

    def __init__(self, cfg: GPTConfig, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        # Embeddings start uninitialized (torch's own init would draw from the global RNG, only to
        # be overwritten): init_weights draws every weight from `generator`, and a meta build
        # draws nothing, so counting parameters does not load torch's compiler (meta normal_ does).
        self.wte = _embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = _embedding(cfg.block_size, cfg.n_embd) if cfg.position == "learned" else None
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.norm_f = _norm(cfg, cfg.n_embd)
        # Tied: the head reuses wte's matrix (F.linear in `_logits`), so there is no lm_head.
        self.lm_head = None if cfg.tie_embeddings else nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        if cfg.position == "rope":
            # Not persistent: recomputed from the config, so checkpoints do not carry them.
            cos, sin = rope_tables(cfg.head_dim, cfg.block_size, cfg.rope_base, self.wte.weight.device)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        else:
            self.rope_cos = self.rope_sin = None
        if self.wte.weight.device.type != "meta":
            self.init_weights(generator)

    @torch.no_grad()
    def init_weights(self, generator: torch.Generator | None = None) -> None:
        """(Re)initialize every weight; a seeded `generator` gives the same weights every time.

        normal(0, init_std) for matrices and embeddings (GPT-2); the two residual projections
        of each block get init_std / sqrt(2 * n_layer), so the residual stream's variance does
        not grow with depth; biases 0, norm gains 1. An untied head starts at zero, so the
        first prediction is uniform and the first loss is ln(vocab_size) exactly.

        A tied head cannot start at zero: it is the token embedding. Its logits are the final
        norm's output (unit variance per feature, times the norm's gain g) against wte's rows of
        std init_std, so they start with std g * init_std * sqrt(n_embd), and a spread of logits
        costs about half its variance in loss over ln(vocab_size): 0.15 for GPT-2 small
        (0.02 * sqrt(768) = 0.55). So that final gain starts at
        g = min(1, TIED_LOGIT_STD / (init_std * sqrt(n_embd))): the logits start with std at
        most 0.25 (+0.03 nats). The gain feeds only the head, it is learned (and never decayed),
        and the embeddings keep GPT-2's init for their other role, the input; shrinking them
        instead trains measurably slower (preset:small +large, 200 steps: val 2.51 vs 2.46; the
        gain: 2.48). Narrow models (init_std * sqrt(n_embd) <= 0.25) keep g = 1.
        """
        std = self.cfg.init_std
        resid_std = std / math.sqrt(2 * self.cfg.n_layer)
        for name, m in self.named_modules():
            if m is self.lm_head:
                nn.init.zeros_(m.weight)
            elif isinstance(m, nn.Linear):
                is_resid = name.endswith(("attn.proj", "mlp.proj"))
                nn.init.normal_(m.weight, 0.0, resid_std if is_resid else std, generator=generator)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Embedding):
                nn.init.normal_(m.weight, 0.0, std, generator=generator)
            elif isinstance(m, (nn.LayerNorm, nn.RMSNorm)):
                m.reset_parameters()
        if self.lm_head is None:
            self.norm_f.weight.fill_(tied_head_gain(self.cfg))
        if self.rope_cos is not None:
            # After meta -> to_empty these hold garbage; recompute them on the real device.
            cos, sin = rope_tables(self.cfg.head_dim, self.cfg.block_size, self.cfg.rope_base, self.rope_cos.device)
            self.rope_cos.copy_(cos)
            self.rope_sin.copy_(sin)

    def _hidden(self, idx: torch.Tensor) -> torch.Tensor:
        """The final normed residual stream (B, T, C) of token ids (B, T)."""
        B, T = idx.shape
        if T > self.cfg.block_size:
            raise ValueError(
                f"sequence of {T} tokens is longer than `model.block_size`={self.cfg.block_size}; "
                f"crop the input to its last {self.cfg.block_size} tokens"
            )
        x = self.wte(idx)  # (B, T, C)
        if self.wpe is not None:
            # Slicing the table, not an embedding lookup of arange(T): same values, cheaper backward.
            x = x + self.wpe.weight[:T]  # (T, C) broadcast over B
        rope = (self.rope_cos[:T], self.rope_sin[:T]) if self.rope_cos is not None else None
        if self.cfg.dropout:
            x = F.dropout(x, self.cfg.dropout, self.training)
        for block in self.blocks:
            x = block(x, rope)
        return self.norm_f(x)

    def _logits(self, h: torch.Tensor) -> torch.Tensor:
        if self.lm_head is not None:
            return self.lm_head(h)
        return F.linear(h, self.wte.weight)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (B, T, vocab) for token ids (B, T); with targets (B, T), also the mean cross-entropy."""
        logits = self._logits(self._hidden(idx))  # (B, T, V)
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameters, each shared tensor counted once.

        non_embedding leaves out the lookup tables (positions; token embeddings when untied),
        but keeps the output head, which is a real matmul: a tied wte counts, as the head.
        """
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            if self.wpe is not None:
                n -= self.wpe.weight.numel()
            if self.lm_head is not None:
                n -= self.wte.weight.numel()
        return n

    def flops_per_token(self) -> int:
        """Training FLOPs per token (forward + backward): 6N + 12·L·H·Q·T.

        N non-embedding params (`num_params()`): each does a multiply-add forward (2) and two
        backward (4). The attention scores and the weighted sum of values add 2·2·L·H·Q·T forward
        with L layers, H heads, Q head dim, T context (block_size), times 3 for backward. This is
        PaLM's estimate (Chowdhery et al. 2022, appendix B), as nanoGPT's MFU uses; it counts the
        whole T×T score matrix although causal attention computes about half.
        """
        c = self.cfg
        return 6 * self.num_params() + 12 * c.n_layer * c.n_head * c.head_dim * c.block_size

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Extend token ids (B, T) by max_new_tokens sampled tokens -> (B, T + max_new_tokens).

        temperature 0 is greedy; top_k keeps the k likeliest tokens. All randomness comes from
        `generator` (on the model's device), so a seeded generator gives the same text. Call
        `model.eval()` first when the model has dropout.
        """
        if max_new_tokens < 0:
            raise ValueError(f"max_new_tokens={max_new_tokens} must be >= 0")
        if temperature < 0:
            raise ValueError(f"temperature={temperature} must be >= 0 (0 = greedy)")
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k={top_k} must be >= 1, or None for no cut-off")
        for _ in range(max_new_tokens):
            context = idx[:, -self.cfg.block_size :]
            logits = self._logits(self._hidden(context)[:, -1, :]).float()  # (B, V): only the last position
            if temperature == 0:
                nxt = logits.argmax(dim=-1, keepdim=True)
            else:
                logits = logits / temperature
                if top_k is not None and top_k < logits.size(-1):
                    kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]  # (B, 1)
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                probs = F.softmax(logits, dim=-1)
                nxt = torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)
            idx = torch.cat((idx, nxt), dim=1)
        return idx
