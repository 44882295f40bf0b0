"""What trained networks represent: activations, latent decoding, CKA, RSA, disentanglement
metrics, neural predictivity, and a one-page report (docs/analysis.md).

Modules (one concern each; statistics take numpy arrays, only activations.py needs torch):

    activations.py   forward hooks on named layers -> pooled / randomly projected features in
                     an HDF5 file with the image indices (ActivationFile reads it)
    factors.py       the latents of the analysed images as named factors (continuous, angle,
                     categorical), refusing latents the dataset holds fixed
    decode.py        per layer x latent: RidgeCV (continuous; angles via sin/cos) and linear
                     classifiers (categorical), k-fold with repeats, object hold-out
    cka.py           linear / RBF / debiased CKA from features or Gram matrices; permutation null
    rsa.py           RDMs (correlation distance) and their Spearman comparison
    disentangle.py   DCI, MIG, SAP
    neural.py        recordings (NetCDF / HDF5), PLS neural predictivity, split-half ceiling
    figures.py       heatmaps and per-layer curves
    report.py        everything for two runs on one page (HTML + PNGs + JSON)
"""
