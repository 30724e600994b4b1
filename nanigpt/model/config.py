"""The GPT's config. Torch-free: `show`, `diff` and `--help` import it."""

from typing import Annotated, Literal

from msgspec import Meta

from nanigpt.conf import CheckError, Config


class GPTConfig(Config):
    """A decoder-only transformer (GPT)."""

    n_layer: Annotated[int, Meta(ge=1, le=1024, description="number of transformer blocks")] = 6
    n_head: Annotated[int, Meta(ge=1, le=1024, description="attention heads per block")] = 6
    n_embd: Annotated[int, Meta(ge=1, le=65536, description="width of the residual stream")] = 384
    block_size: Annotated[int, Meta(ge=1, le=1048576, description="context length in tokens")] = 256
    # 256 covers every byte: the byte-level tokenizer needs no vocabulary file.
    vocab_size: Annotated[int, Meta(ge=1, le=1048576, description="vocabulary size (256 for byte-level text)")] = 256
    dropout: Annotated[float, Meta(ge=0.0, lt=1.0, description="dropout probability")] = 0.0
    # No biases: slightly faster and no worse at this scale (nanoGPT's finding).
    bias: Annotated[bool, Meta(description="biases in Linear layers and norms")] = False
    norm: Annotated[Literal["layernorm", "rmsnorm"], Meta(description="normalization layer")] = "layernorm"
    position: Annotated[Literal["learned", "rope"], Meta(description="positional encoding")] = "learned"
    rope_base: Annotated[float, Meta(gt=0.0, le=1e9, description="RoPE base frequency (rope only)")] = 10000.0
    activation: Annotated[Literal["gelu", "relu2"], Meta(description="MLP activation")] = "gelu"
    mlp_ratio: Annotated[int, Meta(ge=1, le=64, description="MLP hidden width / n_embd")] = 4
    tie_embeddings: Annotated[bool, Meta(description="share token embedding and output head weights")] = True
    qk_norm: Annotated[bool, Meta(description="normalize queries and keys before attention")] = False
    # GPT-2's init; residual projections are further scaled by 1/sqrt(2 n_layer) in the builder.
    init_std: Annotated[float, Meta(gt=0.0, le=1.0, description="std of the normal weight init")] = 0.02

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    def check(self) -> None:
        if self.n_embd % self.n_head:
            raise CheckError(
                f"`model.n_embd`={self.n_embd} is not divisible by `model.n_head`={self.n_head}",
                paths=("model.n_embd", "model.n_head"),
                suggestion="pick n_embd as a multiple of n_head",
            )
        if self.position == "rope" and self.head_dim % 2:
            raise CheckError(
                f"rotary positions need an even head size, got {self.head_dim} "
                f"(`model.n_embd`={self.n_embd} / `model.n_head`={self.n_head})",
                paths=("model.n_embd", "model.n_head", "model.position"),
                suggestion="make n_embd / n_head even",
            )
