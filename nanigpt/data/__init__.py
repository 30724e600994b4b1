"""Data: sources (text files, token shards, the built-in corpus), the byte tokenizer, batches.

Importing this package stays torch-free (configs import it); the torch parts live in
`tokenizer`, `tokens`, `sources` and `build`.
"""
