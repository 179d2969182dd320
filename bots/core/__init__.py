"""Core: settings, domain models, errors and logging. Imports neither Prefect nor a browser."""
