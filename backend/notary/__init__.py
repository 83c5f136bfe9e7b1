"""Notary: canonical JSON and IPFS-compatible content addressing that anyone can recompute."""
