"""Python components for what manifest.yaml cannot say; one class per module, each named for its job."""
