"""Production patterns: service contract, resilience, budgets, PII, injection defence, prompts, telemetry."""
