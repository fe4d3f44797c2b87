"""snnfer.layers."""
