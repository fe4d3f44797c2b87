"""snnfer.train."""
