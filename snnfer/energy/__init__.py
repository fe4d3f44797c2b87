"""snnfer.energy."""
