"""Data: sources (text files, token shards, the built-in corpus), the byte tokenizer, batches, and
`nanigpt prepare` (text to token shards).

Importing this package stays torch-free (configs import it); the torch parts live in
`tokenizer`, `tokens` and `sources` (their builders are in nanigpt/builders.py). `files`,
`shards`, `manifest`, `tokenizers` and `prepare` are torch-free too: pre-flight reads shard
headers and manifests, and `prepare` never loads torch.
"""
