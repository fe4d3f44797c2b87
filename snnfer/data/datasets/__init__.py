"""Dataset loaders for the public FER datasets (real on-disk layouts) and synthetic data."""
