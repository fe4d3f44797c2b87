"""snnfer's benchmark scripts; ``python -m benchmarks`` runs them all (see ``run_all``)."""
