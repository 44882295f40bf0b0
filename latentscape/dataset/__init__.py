"""HDF5 shards, the manifest, readers and verification (torch only in dataset/torch.py)."""
